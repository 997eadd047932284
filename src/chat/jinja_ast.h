// The syntax tree of a parsed template: expressions and statements.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace minillm::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,  // value
    Name,     // name
    List,     // args: items (also tuples)
    Dict,     // args: key, value, key, value, ...
    Attr,     // a.name
    Item,     // a[b]
    Slice,    // a[args[0]:args[1]:args[2]], each may be null
    Call,     // a(args, kwargs)
    Filter,   // a | name(args, kwargs); a is null in a filter block's chain
    Test,     // a is [not] name(args, kwargs)
    Neg,      // -a
    Pos,      // +a
    Binary,   // a name b, name one of + - * / // % **
    Compare,  // args[0] ops[0] args[1] ops[1] ... (chained like Python)
    And,      // a and b
    Or,       // a or b
    Not,      // not a
    Cond,     // a if b else c (c may be null)
    Concat,   // args joined with ~
  };
  Kind kind;
  int line = 0;
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  ExprPtr a, b, c;
  bool negated = false;
  int depth = 1;  // height of this subtree, bounded so that evaluation cannot overflow the stack
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Kind {
    Text,         // text
    Output,       // {{ expr }}
    If,           // branches (condition, body), else_body
    For,          // for targets in expr [if cond]: body, else_body
    Set,          // set targets = expr, or set targets[0].attr = expr
    SetBlock,     // set targets[0] [| filter] %}body{% endset
    Macro,        // macro text(params): body
    FilterBlock,  // filter filter %}body{% endfilter
    With,         // with params: body
    Break,
    Continue,
    Generation,  // Hugging Face's {% generation %}: renders its body
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr, cond, filter;
  std::vector<std::string> targets;
  std::string attr;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default or value; may be null
  bool uses_loop = false;                               // For: the body mentions `loop`
};

struct Template {
  Body body;
};

// Throws Error naming the line for syntax errors and unsupported constructs.
std::unique_ptr<Template> parse_template(std::string_view source);

// The filters and tests the evaluator implements (jinja_builtins.cpp); the parser rejects others.
bool is_known_filter(std::string_view name);
bool is_known_test(std::string_view name);

}  // namespace minillm::jinja
