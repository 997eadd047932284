// Recursive-descent parser for the Jinja subset, with Jinja2's operator precedence (lowest
// first): `a if c else b`, or, and, not, comparisons and `in`, + -, ~, * / // %, **, unary - +,
// then primaries with attribute/item/slice/call postfixes, filters `|` and tests `is`.
#include <algorithm>
#include <initializer_list>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace minillm::jinja {
namespace {

constexpr int kMaxNesting = 100;    // brackets, `not`s and statement blocks inside each other
constexpr int kMaxExprDepth = 400;  // height of one expression's tree (e.g. a + b + c + ...)

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  std::unique_ptr<Template> run() {
    auto tpl = std::make_unique<Template>();
    std::string end;
    tpl->body = parse_body({}, end, 0, "");
    return tpl;
  }

 private:
  struct Nest {
    explicit Nest(Parser& p) : p_(p) {
      if (++p_.nesting_ > kMaxNesting) fail(p_.cur().line, "template nested too deeply");
    }
    ~Nest() { --p_.nesting_; }
    Parser& p_;
  };

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  void advance() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().type == TokType::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == TokType::Name && cur().text == n; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokType::Eof:
        return "end of template";
      case TokType::BlockEnd:
        return "end of statement '%}'";
      case TokType::VarEnd:
        return "end of print statement '}}'";
      case TokType::Text:
        return "template text";
      case TokType::String:
        return "string literal";
      default:
        return "'" + t.text + "'";
    }
  }
  [[noreturn]] void unexpected(const std::string& wanted) const {
    fail(cur().line, "expected " + wanted + ", got " + describe(cur()));
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) unexpected(std::string("'") + op + "'");
  }
  std::string expect_name() {
    if (cur().type != TokType::Name) unexpected("a name");
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().type != TokType::BlockEnd) unexpected("'%}'");
    advance();
  }

  ExprPtr make(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }
  // Records the subtree height once all children are attached.
  ExprPtr seal(ExprPtr e) {
    int d = 0;
    for (const Expr* c : {e->a.get(), e->b.get(), e->c.get()})
      if (c) d = std::max(d, c->depth);
    for (const auto& c : e->args)
      if (c) d = std::max(d, c->depth);
    for (const auto& [k, c] : e->kwargs)
      if (c) d = std::max(d, c->depth);
    e->depth = d + 1;
    if (e->depth > kMaxExprDepth) fail(e->line, "expression too deeply nested");
    return e;
  }
  ExprPtr binary(Expr::Kind kind, std::string op, ExprPtr l, ExprPtr r, int line) {
    auto e = make(kind, line);
    e->name = std::move(op);
    e->a = std::move(l);
    e->b = std::move(r);
    return seal(std::move(e));
  }

  // ---- statements ----

  // Parses until `{% <one of ends>`; consumes that tag's keyword and returns it in `end`.
  Body parse_body(std::initializer_list<const char*> ends, std::string& end, int open_line,
                  const char* opener) {
    Nest nest(*this);
    Body body;
    while (true) {
      const Token& tok = cur();
      if (tok.type == TokType::Eof) {
        if (ends.size() == 0) return body;
        fail(open_line, std::string("'{% ") + opener + " %}' is never closed (expected '{% " +
                            *(ends.end() - 1) + " %}')");
      }
      if (tok.type == TokType::Text) {
        auto n = node(Node::Kind::Text, tok.line);
        n->text = tok.text;
        body.push_back(std::move(n));
        advance();
      } else if (tok.type == TokType::VarBegin) {
        advance();
        auto n = node(Node::Kind::Output, tok.line);
        n->expr = parse_tuple();
        if (cur().type != TokType::VarEnd) unexpected("'}}'");
        advance();
        body.push_back(std::move(n));
      } else if (tok.type == TokType::BlockBegin) {
        advance();
        if (cur().type != TokType::Name) unexpected("a statement name");
        const std::string kw = cur().text;
        for (const char* e : ends)
          if (kw == e) {
            advance();
            end = kw;
            return body;
          }
        body.push_back(statement());
      } else {
        unexpected("template text or a tag");
      }
    }
  }

  std::unique_ptr<Node> node(Node::Kind kind, int line) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = line;
    return n;
  }

  std::unique_ptr<Node> statement() {
    const int line = cur().line;
    const std::string kw = expect_name();
    std::string end;
    if (kw == "if") {
      auto n = node(Node::Kind::If, line);
      ExprPtr cond = parse_expression();
      while (true) {
        expect_block_end();
        Body b = parse_body({"elif", "else", "endif"}, end, line, "if");
        n->branches.emplace_back(std::move(cond), std::move(b));
        if (end == "elif") {
          cond = parse_expression();
          continue;
        }
        if (end == "else") {
          expect_block_end();
          n->else_body = parse_body({"endif"}, end, line, "if");
        }
        expect_block_end();
        return n;
      }
    }
    if (kw == "for") {
      auto n = node(Node::Kind::For, line);
      n->targets = parse_targets();
      if (!accept_name("in")) unexpected("'in'");
      n->expr = parse_tuple(/*condexpr=*/false);
      if (accept_name("if")) n->cond = parse_expression();
      if (is_name("recursive")) fail(cur().line, "unsupported construct 'recursive' loops");
      expect_block_end();
      ++loop_depth_;
      const int loop_refs = loop_refs_;
      n->body = parse_body({"else", "endfor"}, end, line, "for");
      n->uses_loop = loop_refs_ != loop_refs;
      --loop_depth_;
      if (end == "else") {
        expect_block_end();
        n->else_body = parse_body({"endfor"}, end, line, "for");
      }
      expect_block_end();
      return n;
    }
    if (kw == "set") {
      auto n = node(Node::Kind::Set, line);
      if (cur().type == TokType::Name && peek().type == TokType::Op && peek().text == ".") {
        n->targets.push_back(expect_name());
        advance();
        n->attr = expect_name();
      } else {
        n->targets = parse_targets();
      }
      if (accept_op("=")) {
        n->expr = parse_tuple();
        expect_block_end();
        return n;
      }
      if (n->targets.size() != 1 || !n->attr.empty()) unexpected("'='");
      n->kind = Node::Kind::SetBlock;
      if (is_op("|")) n->filter = parse_filters(nullptr);
      expect_block_end();
      n->body = parse_body({"endset"}, end, line, "set");
      expect_block_end();
      return n;
    }
    if (kw == "macro") {
      auto n = node(Node::Kind::Macro, line);
      n->text = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        std::string param = expect_name();
        ExprPtr def;
        if (accept_op("=")) def = parse_expression();
        n->params.emplace_back(std::move(param), std::move(def));
        if (!accept_op(",")) break;
      }
      expect_op(")");
      expect_block_end();
      const int saved_loops = loop_depth_;
      loop_depth_ = 0;  // break/continue cannot leave a macro
      n->body = parse_body({"endmacro"}, end, line, "macro");
      loop_depth_ = saved_loops;
      expect_block_end();
      return n;
    }
    if (kw == "filter") {
      auto n = node(Node::Kind::FilterBlock, line);
      n->filter = parse_filter_chain_after_keyword();
      expect_block_end();
      n->body = parse_body({"endfilter"}, end, line, "filter");
      expect_block_end();
      return n;
    }
    if (kw == "with") {
      auto n = node(Node::Kind::With, line);
      while (cur().type != TokType::BlockEnd) {
        std::string name = expect_name();
        expect_op("=");
        n->params.emplace_back(std::move(name), parse_expression());
        if (!accept_op(",")) break;
      }
      expect_block_end();
      n->body = parse_body({"endwith"}, end, line, "with");
      expect_block_end();
      return n;
    }
    if (kw == "generation") {
      auto n = node(Node::Kind::Generation, line);
      expect_block_end();
      n->body = parse_body({"endgeneration"}, end, line, "generation");
      expect_block_end();
      return n;
    }
    if (kw == "break" || kw == "continue") {
      if (loop_depth_ == 0) fail(line, "'" + kw + "' outside of a loop");
      expect_block_end();
      return node(kw == "break" ? Node::Kind::Break : Node::Kind::Continue, line);
    }
    static const char* kUnsupported[] = {"include", "import",     "from",  "extends", "block",
                                         "call",    "autoescape", "trans", "do",      "print"};
    for (const char* u : kUnsupported)
      if (kw == u) fail(line, "unsupported construct '{% " + kw + " %}'");
    if (kw.rfind("end", 0) == 0 || kw == "elif" || kw == "else")
      fail(line, "unexpected '{% " + kw + " %}' (nothing open to close)");
    fail(line, "unknown statement '{% " + kw + " %}'");
  }

  // `name`, `a, b` or `(a, b)`: loop and set targets.
  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = accept_op("(");
    do {
      if (paren && is_op(")")) break;
      names.push_back(expect_name());
    } while (accept_op(","));
    if (paren) expect_op(")");
    return names;
  }

  // ---- expressions ----

  // `a, b` without brackets is a tuple (as in `{{ a, b }}` and `set x = 1, 2`).
  ExprPtr parse_tuple(bool condexpr = true) {
    const int line = cur().line;
    ExprPtr first = condexpr ? parse_expression() : parse_or();
    if (!is_op(",")) return first;
    auto list = make(Expr::Kind::List, line);
    list->args.push_back(std::move(first));
    while (accept_op(",")) {
      if (cur().type == TokType::BlockEnd || cur().type == TokType::VarEnd || is_name("if")) break;
      list->args.push_back(condexpr ? parse_expression() : parse_or());
    }
    return seal(std::move(list));
  }

  ExprPtr parse_expression() {
    Nest nest(*this);
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const int line = cur().line;
      advance();
      auto c = make(Expr::Kind::Cond, line);
      c->b = parse_or();
      if (accept_name("else")) c->c = parse_expression();
      c->a = std::move(e);
      e = seal(std::move(c));
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Or, "or", std::move(e), parse_and(), line);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::And, "and", std::move(e), parse_not(), line);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Nest nest(*this);
      auto e = make(Expr::Kind::Not, cur().line);
      advance();
      e->a = parse_not();
      return seal(std::move(e));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = cur().line;
    ExprPtr first = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      std::string op;
      if (cur().type == TokType::Op &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
           cur().text == "<=" || cur().text == ">=")) {
        op = cur().text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().type == TokType::Name && peek().text == "in") {
        op = "not in";
        advance();
        advance();
      } else {
        break;
      }
      ops.push_back(op);
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = make(Expr::Kind::Compare, line);
    e->args.push_back(std::move(first));
    for (auto& o : operands) e->args.push_back(std::move(o));
    e->ops = std::move(ops);
    return seal(std::move(e));
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().text;
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Binary, op, std::move(e), parse_concat(), line);
    }
    return e;
  }

  ExprPtr parse_concat() {
    const int line = cur().line;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make(Expr::Kind::Concat, line);
    e->args.push_back(std::move(first));
    while (accept_op("~")) e->args.push_back(parse_math2());
    return seal(std::move(e));
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().text;
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Binary, op, std::move(e), parse_pow(), line);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const int line = cur().line;
      advance();
      e = binary(Expr::Kind::Binary, "**", std::move(e), parse_unary(true), line);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      Nest nest(*this);
      e = make(is_op("-") ? Expr::Kind::Neg : Expr::Kind::Pos, cur().line);
      advance();
      e->a = parse_unary(false);
      e = seal(std::move(e));
    } else {
      e = parse_postfix(parse_primary());
    }
    return with_filter ? parse_filter_expr(std::move(e)) : std::move(e);
  }

  ExprPtr parse_primary() {
    const Token& tok = cur();
    const int line = tok.line;
    auto lit = [&](Value v) {
      auto e = make(Expr::Kind::Literal, line);
      e->value = std::move(v);
      advance();
      return e;
    };
    switch (tok.type) {
      case TokType::Name:
        if (tok.text == "true" || tok.text == "True") return lit(Value::boolean(true));
        if (tok.text == "false" || tok.text == "False") return lit(Value::boolean(false));
        if (tok.text == "none" || tok.text == "None") return lit(Value::none());
        {
          auto e = make(Expr::Kind::Name, line);
          e->name = tok.text;
          loop_refs_ += e->name == "loop";
          advance();
          return e;
        }
      case TokType::String: {
        std::string s;
        while (cur().type == TokType::String) {  // adjacent literals join, as in Python
          s += cur().text;
          advance();
        }
        auto e = make(Expr::Kind::Literal, line);
        e->value = Value::string(std::move(s));
        return e;
      }
      case TokType::Int:
        return lit(Value::integer(tok.int_value));
      case TokType::Float:
        return lit(Value::number(tok.float_value));
      default:
        break;
    }
    if (accept_op("(")) {
      if (accept_op(")")) return make(Expr::Kind::List, line);  // the empty tuple
      ExprPtr e = parse_expression();
      if (is_op(",")) {
        auto list = make(Expr::Kind::List, line);
        list->args.push_back(std::move(e));
        while (accept_op(",") && !is_op(")")) list->args.push_back(parse_expression());
        e = seal(std::move(list));
      }
      expect_op(")");
      return e;
    }
    if (accept_op("[")) {
      auto list = make(Expr::Kind::List, line);
      while (!is_op("]")) {
        list->args.push_back(parse_expression());
        if (!accept_op(",")) break;
      }
      expect_op("]");
      return seal(std::move(list));
    }
    if (accept_op("{")) {
      auto dict = make(Expr::Kind::Dict, line);
      while (!is_op("}")) {
        dict->args.push_back(parse_expression());
        expect_op(":");
        dict->args.push_back(parse_expression());
        if (!accept_op(",")) break;
      }
      expect_op("}");
      return seal(std::move(dict));
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const int line = cur().line;
      if (accept_op(".")) {
        if (cur().type == TokType::Int) {  // foo.0 is foo[0]
          auto item = make(Expr::Kind::Item, line);
          item->a = std::move(e);
          item->b = make(Expr::Kind::Literal, line);
          item->b->value = Value::integer(cur().int_value);
          advance();
          e = seal(std::move(item));
          continue;
        }
        auto attr = make(Expr::Kind::Attr, line);
        attr->name = expect_name();
        attr->a = std::move(e);
        e = seal(std::move(attr));
      } else if (accept_op("[")) {
        ExprPtr start, stop, step;
        bool slice = false;
        if (!is_op(":")) start = parse_expression();
        if (accept_op(":")) {
          slice = true;
          if (!is_op(":") && !is_op("]")) stop = parse_expression();
          if (accept_op(":") && !is_op("]")) step = parse_expression();
        }
        expect_op("]");
        auto sub = make(slice ? Expr::Kind::Slice : Expr::Kind::Item, line);
        sub->a = std::move(e);
        if (slice) {
          sub->args.push_back(std::move(start));
          sub->args.push_back(std::move(stop));
          sub->args.push_back(std::move(step));
        } else {
          sub->b = std::move(start);
        }
        e = seal(std::move(sub));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = make(Expr::Kind::Call, cur().line);
    call->a = std::move(callee);
    parse_args(*call);
    return seal(std::move(call));
  }

  // `(a, b, key=value)` into e.args / e.kwargs.
  void parse_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (is_op("*") || is_op("**")) fail(cur().line, "unsupported construct '*args'/'**kwargs'");
      if (cur().type == TokType::Name && peek().type == TokType::Op && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        e.kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        if (!e.kwargs.empty()) fail(cur().line, "positional argument follows keyword argument");
        e.args.push_back(parse_expression());
      }
      if (!accept_op(",")) break;
    }
    expect_op(")");
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filters(std::move(e));
      } else if (is_name("is")) {
        auto test = make(Expr::Kind::Test, cur().line);
        advance();
        test->negated = accept_name("not");
        test->name = expect_name();
        if (!is_known_test(test->name)) fail(test->line, "unsupported test '" + test->name + "'");
        if (is_op("(")) {
          parse_args(*test);
        } else if ((cur().type == TokType::Name || cur().type == TokType::String ||
                    cur().type == TokType::Int || cur().type == TokType::Float || is_op("[") ||
                    is_op("{")) &&
                   !(is_name("else") || is_name("or") || is_name("and") || is_name("if") ||
                     is_name("is") || is_name("in") || is_name("not"))) {
          test->args.push_back(parse_postfix(parse_primary()));  // `is divisibleby 3`
        }
        test->a = std::move(e);
        e = seal(std::move(test));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  // `| name(args) | name ...` applied to e (null for a filter block's chain).
  ExprPtr parse_filters(ExprPtr e) {
    while (accept_op("|")) {
      auto f = make(Expr::Kind::Filter, cur().line);
      f->name = expect_name();
      if (!is_known_filter(f->name)) fail(f->line, "unsupported filter '" + f->name + "'");
      if (is_op("(")) parse_args(*f);
      f->a = std::move(e);
      e = seal(std::move(f));
    }
    return e;
  }

  // `{% filter name(args) | name2 %}`: the first filter has no leading `|`.
  ExprPtr parse_filter_chain_after_keyword() {
    auto f = make(Expr::Kind::Filter, cur().line);
    f->name = expect_name();
    if (!is_known_filter(f->name)) fail(f->line, "unsupported filter '" + f->name + "'");
    if (is_op("(")) parse_args(*f);
    return parse_filters(seal(std::move(f)));
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;
  int loop_refs_ = 0;  // `loop` names seen so far: loops whose body has none skip building it
};

}  // namespace

std::unique_ptr<Template> parse_template(std::string_view source) {
  return Parser(tokenize(source)).run();
}

}  // namespace minillm::jinja
