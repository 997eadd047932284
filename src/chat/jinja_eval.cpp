// The template evaluator: statements, expressions, operators, attribute/item access, slicing.
#include "chat/jinja_eval.h"

#include <cmath>
#include <optional>

namespace minillm::jinja {

const Value* Scope::lookup(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent)
    if (auto it = s->vars.find(name); it != s->vars.end()) return &it->second;
  return nullptr;
}

Renderer::DepthGuard::DepthGuard(Renderer& r, int line) : r_(r) {
  if (++r_.depth_ > r_.limits_.max_depth) {
    --r_.depth_;
    fail(line, "template nested too deeply (more than " + std::to_string(r_.limits_.max_depth) +
                   " levels; runaway macro recursion?)");
  }
}

void Renderer::step(int line) {
  if (++steps_ > limits_.max_steps)
    fail(line, "template needs more than " + std::to_string(limits_.max_steps) +
                   " evaluation steps (runaway loop?)");
}

void Renderer::check_string(size_t bytes, int line) const {
  if (bytes > limits_.max_string)
    fail(line, "text longer than " + std::to_string(limits_.max_string) + " bytes");
}

void Renderer::check_list(size_t items, int line) const {
  if (items > limits_.max_list)
    fail(line, "list longer than " + std::to_string(limits_.max_list) + " items");
}

std::string Renderer::render(const Template& tpl, const Dict& globals) {
  Scope root;
  Dict builtins;
  add_builtin_globals(*this, builtins);
  for (const auto& [k, v] : builtins.items) root.vars[k] = v;
  for (const auto& [k, v] : globals.items) root.vars[k] = v;
  std::string out;
  out_ = &out;
  root_ = &root;
  steps_ = 0;
  depth_ = 0;
  exec(tpl.body, root);
  out_ = nullptr;
  root_ = nullptr;
  return out;
}

void Renderer::emit(const std::string& s, int line) {
  check_string(out_->size() + s.size(), line);
  *out_ += s;
}

std::string Renderer::capture(const Body& body, Scope& scope) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  try {
    exec(body, scope);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf;
}

Renderer::Flow Renderer::exec(const Body& body, Scope& scope) {
  for (const auto& n : body)
    if (const Flow f = exec(*n, scope); f != Flow::Normal) return f;
  return Flow::Normal;
}

namespace {

// The `loop` variable of iteration i.
Value loop_object(const List& items, int64_t i) {
  const int64_t len = int64_t(items.size());
  auto loop = std::make_shared<Dict>();
  loop->is_namespace = true;  // an object with attributes, not a mapping
  loop->set("index", Value::integer(i + 1));
  loop->set("index0", Value::integer(i));
  loop->set("revindex", Value::integer(len - i));
  loop->set("revindex0", Value::integer(len - i - 1));
  loop->set("first", Value::boolean(i == 0));
  loop->set("last", Value::boolean(i == len - 1));
  loop->set("length", Value::integer(len));
  loop->set("depth", Value::integer(1));
  loop->set("depth0", Value::integer(0));
  loop->set("previtem", i > 0 ? items[size_t(i - 1)] : Value::undefined("previtem"));
  loop->set("nextitem", i + 1 < len ? items[size_t(i + 1)] : Value::undefined("nextitem"));
  loop->set("cycle", Value::function("cycle", [i](CallArgs& args) {
              if (args.pos.empty()) fail(args.line, "loop.cycle() needs at least one value");
              return args.pos[size_t(i) % args.pos.size()];
            }));
  return Value::dict(std::move(loop));
}

}  // namespace

Renderer::Flow Renderer::exec(const Node& n, Scope& scope) {
  step(n.line);
  DepthGuard guard(*this, n.line);
  switch (n.kind) {
    case Node::Kind::Text:
      emit(n.text, n.line);
      break;
    case Node::Kind::Output:
      emit(to_str(eval(*n.expr, scope)), n.line);
      break;
    case Node::Kind::If:
      for (const auto& [cond, body] : n.branches)
        if (truthy(eval(*cond, scope))) return exec(body, scope);
      return exec(n.else_body, scope);
    case Node::Kind::For: {
      // The loop's own break/continue stop here; the else-body's belong to an outer loop.
      Value seq = eval(*n.expr, scope);
      List items = iterate(seq, n.line);
      if (n.cond) {
        List kept;
        for (Value& item : items) {
          step(n.line);
          Scope s{&scope, {}};
          bind_targets(s, n.targets, item, n.line);
          if (truthy(eval(*n.cond, s))) kept.push_back(std::move(item));
        }
        items = std::move(kept);
      }
      if (items.empty()) return exec(n.else_body, scope);
      const int64_t len = int64_t(items.size());
      for (int64_t i = 0; i < len; ++i) {
        step(n.line);
        Scope s{&scope, {}};
        bind_targets(s, n.targets, items[size_t(i)], n.line);
        if (n.uses_loop) s.vars["loop"] = loop_object(items, i);
        if (exec(n.body, s) == Flow::Break) break;
      }
      break;
    }
    case Node::Kind::Set:
      exec_set(n, scope, eval(*n.expr, scope));
      break;
    case Node::Kind::SetBlock: {
      Value v = Value::string(capture(n.body, scope));
      if (n.filter) v = eval_filter_chain(*n.filter, std::move(v), scope);
      exec_set(n, scope, std::move(v));
      break;
    }
    case Node::Kind::Macro:
      scope.vars[n.text] = make_macro(n);
      break;
    case Node::Kind::FilterBlock: {
      Value v = eval_filter_chain(*n.filter, Value::string(capture(n.body, scope)), scope);
      emit(to_str(v), n.line);
      break;
    }
    case Node::Kind::With: {
      Scope inner{&scope, {}};
      for (const auto& [name, expr] : n.params) inner.vars[name] = eval(*expr, scope);
      return exec(n.body, inner);
    }
    case Node::Kind::Break:
      return Flow::Break;
    case Node::Kind::Continue:
      return Flow::Continue;
    case Node::Kind::Generation:
      return exec(n.body, scope);
  }
  return Flow::Normal;
}

void Renderer::bind_targets(Scope& scope, const std::vector<std::string>& targets, const Value& v,
                            int line) {
  if (targets.size() == 1) {
    scope.vars[targets[0]] = v;
    return;
  }
  const List parts = iterate(v, line);
  if (parts.size() != targets.size())
    fail(line, "cannot unpack " + std::to_string(parts.size()) + " values into " +
                   std::to_string(targets.size()) + " names");
  for (size_t i = 0; i < parts.size(); ++i) scope.vars[targets[i]] = parts[i];
}

void Renderer::exec_set(const Node& n, Scope& scope, Value v) {
  if (n.attr.empty()) {
    bind_targets(scope, n.targets, v, n.line);
    return;
  }
  const Value* obj = scope.lookup(n.targets[0]);
  if (!obj || !obj->is_dict() || !obj->dict().is_namespace)
    fail(n.line, "cannot assign attribute '" + n.attr + "' on '" + n.targets[0] +
                     "', which is not a namespace() object");
  obj->dict().set(n.attr, std::move(v));
}

Value Renderer::make_macro(const Node& n) {
  const Node* node = &n;
  return Value::function(n.text, [this, node](CallArgs& args) -> Value {
    const auto& params = node->params;
    if (args.pos.size() > params.size())
      fail(args.line, "macro '" + node->text + "' takes not more than " +
                          std::to_string(params.size()) + " argument(s)");
    for (const auto& [k, v] : args.kw) {
      bool known = false;
      for (const auto& p : params) known = known || p.first == k;
      if (!known) fail(args.line, "macro '" + node->text + "' has no argument named '" + k + "'");
    }
    step(args.line);
    DepthGuard guard(*this, args.line);
    // Macros see the template's top-level variables and their own arguments.
    Scope s{root_, {}};
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& [name, def] = params[i];
      if (const Value* given = args.get(i, name))
        s.vars[name] = *given;
      else
        s.vars[name] = def ? eval(*def, s) : Value::undefined(name);
    }
    return Value::string(capture(node->body, s));
  });
}

void Renderer::eval_args(const Expr& e, Scope& scope, CallArgs& args) {
  args.line = e.line;
  for (const auto& a : e.args) args.pos.push_back(eval(*a, scope));
  for (const auto& [k, a] : e.kwargs) args.kw.emplace_back(k, eval(*a, scope));
}

Value Renderer::eval_filter_chain(const Expr& f, Value subject, Scope& scope) {
  if (f.a) subject = eval_filter_chain(*f.a, std::move(subject), scope);
  CallArgs args;
  eval_args(f, scope, args);
  return apply_filter(*this, f.name, subject, args);
}

Value Renderer::call(const Value& callee, CallArgs& args, int line) {
  args.line = line;
  if (callee.is_function()) return callee.function().call(args);
  if (callee.is_undefined()) fail(line, "'" + callee.undefined_name() + "' is undefined");
  fail(line, std::string("'").append(type_name(callee)).append("' object is not callable"));
}

Value Renderer::get_attr(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined())
    return Value::undefined(obj.undefined_name().empty() ? name
                                                         : obj.undefined_name() + "." + name);
  if (obj.is_dict()) {
    // Python attributes (dict methods) come first, then items, as in Jinja's getattr.
    if (!obj.dict().is_namespace)
      if (Value m = bound_method(*this, obj, name, line); !m.is_undefined()) return m;
    if (const Value* v = obj.dict().find(name)) return *v;
    return Value::undefined(name);
  }
  if (obj.is_string() || obj.is_list()) return bound_method(*this, obj, name, line);
  return Value::undefined(name);
}

Value Renderer::get_item(const Value& obj, const Value& key, int line) {
  if (obj.is_dict() && key.is_string()) {
    if (const Value* v = obj.dict().find(key.str())) return *v;
    return get_attr(obj, key.str(), line);  // Jinja's getitem falls back to attributes
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    const int64_t n = obj.is_list() ? int64_t(obj.list().size()) : -1;
    if (obj.is_list()) {
      int64_t i = key.int_value();
      if (i < 0) i += n;
      return i >= 0 && i < n ? obj.list()[size_t(i)] : Value::undefined("[" + to_str(key) + "]");
    }
    const std::u32string s = utf8_decode(obj.str());
    int64_t i = key.int_value();
    if (i < 0) i += int64_t(s.size());
    if (i < 0 || i >= int64_t(s.size())) return Value::undefined("[" + to_str(key) + "]");
    return Value::string(utf8_encode(s.substr(size_t(i), 1)));
  }
  if (key.is_string()) return get_attr(obj, key.str(), line);
  if (obj.is_undefined()) return obj;
  return Value::undefined("[" + to_str(key) + "]");
}

List Renderer::iterate(const Value& v, int line) {
  switch (v.type()) {
    case Value::Type::Undefined:
      return {};
    case Value::Type::List:
      return v.list();
    case Value::Type::Dict: {
      if (v.dict().is_namespace) break;
      List keys;
      for (const auto& [k, x] : v.dict().items) keys.push_back(Value::string(k));
      return keys;
    }
    case Value::Type::String: {
      List chars;
      for (char32_t c : utf8_decode(v.str())) chars.push_back(Value::string(utf8_encode({&c, 1})));
      return chars;
    }
    default:
      break;
  }
  fail(line, "'" + type_name(v) + "' object is not iterable");
}

namespace {

// Python's slice index rules for a sequence of length n.
std::vector<size_t> slice_indices(int64_t n, std::optional<int64_t> start,
                                  std::optional<int64_t> stop, std::optional<int64_t> step,
                                  int line) {
  const int64_t st = step.value_or(1);
  if (st == 0) fail(line, "slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) x += n;
    if (x < 0) return st < 0 ? int64_t(-1) : int64_t(0);
    if (x >= n) return st < 0 ? n - 1 : n;
    return x;
  };
  const int64_t b = clamp(start, st < 0 ? n - 1 : 0);
  const int64_t e = clamp(stop, st < 0 ? -1 : n);
  std::vector<size_t> idx;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(size_t(i));
  return idx;
}

[[noreturn]] void undefined_operand(const Value& v, int line) {
  fail(line, "'" + v.undefined_name() + "' is undefined");
}

[[noreturn]] void bad_operands(const std::string& op, const Value& l, const Value& r, int line) {
  if (l.is_undefined()) undefined_operand(l, line);
  if (r.is_undefined()) undefined_operand(r, line);
  fail(line, "unsupported operand type(s) for " + op + ": '" + type_name(l) + "' and '" +
                 type_name(r) + "'");
}

Value checked_int(char op, int64_t a, int64_t b, int line) {
  int64_t v = 0;
  const bool overflow = op == '+'   ? __builtin_add_overflow(a, b, &v)
                        : op == '-' ? __builtin_sub_overflow(a, b, &v)
                                    : __builtin_mul_overflow(a, b, &v);
  if (overflow) fail(line, "integer overflow");
  return Value::integer(v);
}

Value arithmetic(const std::string& op, const Value& l, const Value& r, int line) {
  if (!l.is_number() || !r.is_number()) bad_operands(op, l, r, line);
  if (!l.is_float() && !r.is_float()) {
    const int64_t a = l.int_value(), b = r.int_value();
    if (op == "+" || op == "-" || op == "*") return checked_int(op[0], a, b, line);
    if (op == "//" || op == "%") {
      if (b == 0) fail(line, "integer division or modulo by zero");
      if (a == INT64_MIN && b == -1) fail(line, "integer overflow");
      int64_t q = a / b, m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) --q, m += b;  // Python floors
      return Value::integer(op == "//" ? q : m);
    }
    if (op == "**" && b >= 0) {
      int64_t result = 1, base = a;
      for (int64_t e = b; e > 0; e >>= 1) {
        if ((e & 1) && __builtin_mul_overflow(result, base, &result))
          fail(line, "integer overflow");
        if (e > 1 && __builtin_mul_overflow(base, base, &base)) fail(line, "integer overflow");
      }
      return Value::integer(result);
    }
  }
  const double a = l.float_value(), b = r.float_value();
  if (op == "+") return Value::number(a + b);
  if (op == "-") return Value::number(a - b);
  if (op == "*") return Value::number(a * b);
  if (op == "**") return Value::number(std::pow(a, b));
  if (b == 0) fail(line, "division by zero");
  if (op == "/") return Value::number(a / b);
  if (op == "//") return Value::number(std::floor(a / b));
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return Value::number(m);
}

}  // namespace

Value Renderer::eval_binary(const Expr& e, Scope& scope) {
  const Value l = eval(*e.a, scope), r = eval(*e.b, scope);
  const std::string& op = e.name;
  if (op == "+" && l.is_string() && r.is_string()) {
    check_string(l.str().size() + r.str().size(), e.line);
    return Value::string(l.str() + r.str());
  }
  if (op == "+" && l.is_list() && r.is_list()) {
    check_list(l.list().size() + r.list().size(), e.line);
    List out = l.list();
    out.insert(out.end(), r.list().begin(), r.list().end());
    return Value::list(std::move(out));
  }
  if (op == "*" && (l.is_string() || l.is_list() || r.is_string() || r.is_list())) {
    const Value& seq = l.is_string() || l.is_list() ? l : r;
    const Value& count = &seq == &l ? r : l;
    if (!count.is_int() && !count.is_bool()) bad_operands(op, l, r, e.line);
    const int64_t n = std::max<int64_t>(0, count.int_value());
    const size_t unit = seq.is_string() ? seq.str().size() : seq.list().size();
    if (unit && uint64_t(n) > (seq.is_string() ? limits_.max_string : limits_.max_list) / unit)
      fail(e.line, "repetition result too large");
    if (seq.is_string()) {
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += seq.str();
      return Value::string(std::move(out));
    }
    List out;
    for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
    return Value::list(std::move(out));
  }
  if (op == "%" && l.is_string()) fail(e.line, "unsupported construct: '%' string formatting");
  return arithmetic(op, l, r, e.line);
}

Value Renderer::eval(const Expr& e, Scope& scope) {
  step(e.line);
  DepthGuard guard(*this, e.line);
  switch (e.kind) {
    case Expr::Kind::Literal:
      return e.value;
    case Expr::Kind::Name:
      if (const Value* v = scope.lookup(e.name)) return *v;
      return Value::undefined(e.name);
    case Expr::Kind::List: {
      List items;
      for (const auto& a : e.args) items.push_back(eval(*a, scope));
      return Value::list(std::move(items));
    }
    case Expr::Kind::Dict: {
      auto d = std::make_shared<Dict>();
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        const Value k = eval(*e.args[i], scope);
        if (!k.is_string()) fail(e.line, "dict keys must be strings here, not " + type_name(k));
        d->set(k.str(), eval(*e.args[i + 1], scope));
      }
      return Value::dict(std::move(d));
    }
    case Expr::Kind::Attr:
      return get_attr(eval(*e.a, scope), e.name, e.line);
    case Expr::Kind::Item:
      return get_item(eval(*e.a, scope), eval(*e.b, scope), e.line);
    case Expr::Kind::Slice: {
      const Value v = eval(*e.a, scope);
      std::optional<int64_t> bounds[3];
      for (int k = 0; k < 3; ++k) {
        if (!e.args[size_t(k)]) continue;
        const Value b = eval(*e.args[size_t(k)], scope);
        if (b.is_none()) continue;
        if (!b.is_int() && !b.is_bool()) fail(e.line, "slice indices must be integers or none");
        bounds[k] = b.int_value();
      }
      if (v.is_list()) {
        List out;
        for (size_t i :
             slice_indices(int64_t(v.list().size()), bounds[0], bounds[1], bounds[2], e.line))
          out.push_back(v.list()[i]);
        return Value::list(std::move(out));
      }
      if (v.is_string()) {
        const std::u32string s = utf8_decode(v.str());
        std::u32string out;
        for (size_t i : slice_indices(int64_t(s.size()), bounds[0], bounds[1], bounds[2], e.line))
          out += s[i];
        return Value::string(utf8_encode(out));
      }
      return v.is_undefined() ? v : Value::undefined("slice");
    }
    case Expr::Kind::Call: {
      const Value callee = eval(*e.a, scope);
      CallArgs args;
      eval_args(e, scope, args);
      return call(callee, args, e.line);
    }
    case Expr::Kind::Filter: {
      const Value subject = eval(*e.a, scope);
      CallArgs args;
      eval_args(e, scope, args);
      return apply_filter(*this, e.name, subject, args);
    }
    case Expr::Kind::Test: {
      const Value subject = eval(*e.a, scope);
      CallArgs args;
      eval_args(e, scope, args);
      return Value::boolean(apply_test(*this, e.name, subject, args) != e.negated);
    }
    case Expr::Kind::Neg:
    case Expr::Kind::Pos: {
      const Value v = eval(*e.a, scope);
      if (v.is_undefined()) undefined_operand(v, e.line);
      if (!v.is_number()) fail(e.line, "bad operand type for unary -: '" + type_name(v) + "'");
      if (e.kind == Expr::Kind::Pos) return v.is_bool() ? Value::integer(v.int_value()) : v;
      if (v.is_float()) return Value::number(-v.as_float());
      if (v.int_value() == INT64_MIN) fail(e.line, "integer overflow");
      return Value::integer(-v.int_value());
    }
    case Expr::Kind::Binary:
      return eval_binary(e, scope);
    case Expr::Kind::Compare: {
      Value left = eval(*e.args[0], scope);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.args[i + 1], scope);
        const std::string& op = e.ops[i];
        bool ok;
        if (op == "==")
          ok = equals(left, right);
        else if (op == "!=")
          ok = !equals(left, right);
        else if (op == "in")
          ok = contains(right, left, e.line);
        else if (op == "not in")
          ok = !contains(right, left, e.line);
        else {
          const int c = compare_values(left, right, e.line);
          ok = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
        }
        if (!ok) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case Expr::Kind::And: {
      Value l = eval(*e.a, scope);
      return truthy(l) ? eval(*e.b, scope) : l;
    }
    case Expr::Kind::Or: {
      Value l = eval(*e.a, scope);
      return truthy(l) ? l : eval(*e.b, scope);
    }
    case Expr::Kind::Not:
      return Value::boolean(!truthy(eval(*e.a, scope)));
    case Expr::Kind::Cond:
      if (truthy(eval(*e.b, scope))) return eval(*e.a, scope);
      return e.c ? eval(*e.c, scope) : Value::undefined("");
    case Expr::Kind::Concat: {
      std::string s;
      for (const auto& a : e.args) {
        s += to_str(eval(*a, scope));
        check_string(s.size(), e.line);
      }
      return Value::string(std::move(s));
    }
  }
  fail(e.line, "unknown expression");
}

}  // namespace minillm::jinja
