// Renders a parsed template. Scoping follows Jinja2: a for-loop iteration, a macro call and a
// with-block get their own scope, so `set` inside them does not leak out (namespace objects
// carry values out of loops); `if` shares its enclosing scope. Work is bounded: total steps,
// evaluation depth and the size of any string or list built are limited, so a hostile template
// fails with an Error instead of looping forever, exhausting memory or the stack.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "chat/jinja_ast.h"

namespace minillm::jinja {

struct Limits {
  uint64_t max_steps = 10'000'000;  // statements, expressions and loop iterations
  int max_depth = 400;              // nested evaluations (macro recursion included)
  size_t max_string = 16u << 20;    // bytes of output or of any one string
  size_t max_list = 1u << 20;       // elements of any one list
};

struct Scope {
  Scope* parent = nullptr;
  std::unordered_map<std::string, Value> vars;
  const Value* lookup(const std::string& name) const;
};

class Renderer {
 public:
  explicit Renderer(Limits limits = {}) : limits_(limits) {}

  // Renders `tpl` with `globals` as the template's variables.
  std::string render(const Template& tpl, const Dict& globals);

  // Used by filters, tests and methods (jinja_builtins.cpp).
  Value call(const Value& callee, CallArgs& args, int line);
  Value get_attr(const Value& obj, const std::string& name, int line);
  Value get_item(const Value& obj, const Value& key, int line);
  List iterate(const Value& v, int line);  // list items, dict keys, string characters
  void check_string(size_t bytes, int line) const;
  void check_list(size_t items, int line) const;
  void step(int line);
  const Limits& limits() const { return limits_; }

 private:
  enum class Flow { Normal, Break, Continue };
  struct DepthGuard {
    DepthGuard(Renderer& r, int line);
    ~DepthGuard() { --r_.depth_; }
    Renderer& r_;
  };

  Flow exec(const Body& body, Scope& scope);
  Flow exec(const Node& n, Scope& scope);
  void exec_for(const Node& n, Scope& scope);
  void exec_set(const Node& n, Scope& scope, Value v);
  std::string capture(const Body& body, Scope& scope);
  Value eval(const Expr& e, Scope& scope);
  Value eval_binary(const Expr& e, Scope& scope);
  Value eval_filter_chain(const Expr& f, Value subject, Scope& scope);
  void eval_args(const Expr& e, Scope& scope, CallArgs& args);
  Value make_macro(const Node& n);
  void emit(const std::string& s, int line);
  void bind_targets(Scope& scope, const std::vector<std::string>& targets, const Value& v,
                    int line);

  Limits limits_;
  std::string* out_ = nullptr;
  Scope* root_ = nullptr;
  uint64_t steps_ = 0;
  int depth_ = 0;
};

// Filters, tests, methods of strings and dicts, and global functions (jinja_builtins.cpp).
Value apply_filter(Renderer& r, const std::string& name, const Value& v, CallArgs& args);
bool apply_test(Renderer& r, const std::string& name, const Value& v, CallArgs& args);
// A string's or dict's method bound to it; Undefined when `obj` has no such method.
Value bound_method(Renderer& r, const Value& obj, const std::string& name, int line);
// range, namespace, dict: the functions every template may call.
void add_builtin_globals(Renderer& r, Dict& globals);
// a < b etc. for numbers and strings (Python's ordering); fails for other types.
int compare_values(const Value& a, const Value& b, int line);
bool contains(const Value& container, const Value& item, int line);

}  // namespace minillm::jinja
