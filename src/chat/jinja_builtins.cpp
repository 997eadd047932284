// Jinja2's tests, Python's string and dict methods, comparison and membership, and the global
// functions, as chat templates use them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "chat/jinja_eval.h"
#include "chat/jinja_text.h"

namespace minillm::jinja {
namespace {

using TestFn = bool (*)(Renderer&, const Value&, CallArgs&);

// Python's str.format with automatic ({}), numbered ({0}) and named ({name}) fields.
std::string py_format(Renderer& r, const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if ((c == '{' || c == '}') && i + 1 < fmt.size() && fmt[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') fail(args.line, "format(): single '}' in format string");
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) fail(args.line, "format(): unclosed '{' in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    bool use_repr = false;
    if (const size_t bang = field.find('!'); bang != std::string::npos) {
      use_repr = field.substr(bang) == "!r";
      if (!use_repr && field.substr(bang) != "!s")
        fail(args.line, "format(): unsupported conversion in '{" + field + "}'");
      field.resize(bang);
    }
    if (field.find_first_of(":.[") != std::string::npos)
      fail(args.line, "format(): unsupported format field '{" + field + "}'");
    const Value* v = nullptr;
    if (field.empty()) {
      v = auto_index < args.pos.size() ? &args.pos[auto_index] : nullptr;
      ++auto_index;
    } else if (std::all_of(field.begin(), field.end(),
                           [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t k = size_t(std::strtoull(field.c_str(), nullptr, 10));
      v = k < args.pos.size() ? &args.pos[k] : nullptr;
    } else {
      for (const auto& [name, x] : args.kw)
        if (name == field) v = &x;
    }
    if (!v) fail(args.line, "format(): no argument for '{" + field + "}'");
    out += use_repr ? repr(*v) : to_str(*v);
    r.check_string(out.size(), args.line);
    i = close;
  }
  return out;
}

// ---- tests ----

#define TEST_FN(name) bool name(Renderer& r, const Value& v, CallArgs& a)

const Value& test_arg(const CallArgs& a, const char* test) {
  if (a.pos.size() != 1 || !a.kw.empty())
    fail(a.line, std::string("test '") + test + "' takes one argument");
  return a.pos[0];
}
bool no_args(const CallArgs& a, const char* test) {
  if (!a.pos.empty() || !a.kw.empty())
    fail(a.line, std::string("test '") + test + "' takes no arguments");
  return true;
}

TEST_FN(t_defined) {
  return (void)r, no_args(a, "defined") && !v.is_undefined();
}
TEST_FN(t_undefined) {
  return (void)r, no_args(a, "undefined") && v.is_undefined();
}
TEST_FN(t_none) {
  return (void)r, no_args(a, "none") && v.is_none();
}
TEST_FN(t_boolean) {
  return (void)r, no_args(a, "boolean") && v.is_bool();
}
TEST_FN(t_true) {
  return (void)r, no_args(a, "true") && v.is_bool() && v.as_bool();
}
TEST_FN(t_false) {
  return (void)r, no_args(a, "false") && v.is_bool() && !v.as_bool();
}
TEST_FN(t_integer) {
  return (void)r, no_args(a, "integer") && v.is_int();
}
TEST_FN(t_float) {
  return (void)r, no_args(a, "float") && v.is_float();
}
TEST_FN(t_number) {
  return (void)r, no_args(a, "number") && v.is_number();
}
TEST_FN(t_string) {
  return (void)r, no_args(a, "string") && v.is_string();
}
TEST_FN(t_mapping) {
  return (void)r, no_args(a, "mapping") && v.is_mapping();
}
TEST_FN(t_iterable) {
  (void)r;
  no_args(a, "iterable");
  return v.is_string() || v.is_list() || v.is_mapping() || v.is_undefined();
}
TEST_FN(t_sequence) {
  (void)r;
  no_args(a, "sequence");
  return v.is_string() || v.is_list() || v.is_mapping();
}
TEST_FN(t_callable) {
  return (void)r, no_args(a, "callable") && v.is_function();
}
TEST_FN(t_sameas) {
  return (void)r, v.same_object(test_arg(a, "sameas"));
}
TEST_FN(t_escaped) {
  return (void)r, (void)v, no_args(a, "escaped") && false;
}
TEST_FN(t_lower) {
  (void)r;
  no_args(a, "lower");
  const std::string s = to_str(v);
  return std::any_of(s.begin(), s.end(), ascii_alpha) && lower(s) == s;
}
TEST_FN(t_upper) {
  (void)r;
  no_args(a, "upper");
  const std::string s = to_str(v);
  return std::any_of(s.begin(), s.end(), ascii_alpha) && upper(s) == s;
}
int64_t int_subject(const Value& v, int line, const char* test) {
  if (!v.is_int() && !v.is_bool()) fail(line, std::string("test '") + test + "' needs an integer");
  return v.int_value();
}
TEST_FN(t_odd) {
  return (void)r, no_args(a, "odd") && int_subject(v, a.line, "odd") % 2 != 0;
}
TEST_FN(t_even) {
  return (void)r, no_args(a, "even") && int_subject(v, a.line, "even") % 2 == 0;
}
TEST_FN(t_divisibleby) {
  (void)r;
  const int64_t d = int_subject(test_arg(a, "divisibleby"), a.line, "divisibleby");
  if (d == 0) fail(a.line, "divisibleby 0");
  return int_subject(v, a.line, "divisibleby") % d == 0;
}
TEST_FN(t_eq) {
  return (void)r, equals(v, test_arg(a, "eq"));
}
TEST_FN(t_ne) {
  return (void)r, !equals(v, test_arg(a, "ne"));
}
TEST_FN(t_lt) {
  return (void)r, compare_values(v, test_arg(a, "lt"), a.line) < 0;
}
TEST_FN(t_le) {
  return (void)r, compare_values(v, test_arg(a, "le"), a.line) <= 0;
}
TEST_FN(t_gt) {
  return (void)r, compare_values(v, test_arg(a, "gt"), a.line) > 0;
}
TEST_FN(t_ge) {
  return (void)r, compare_values(v, test_arg(a, "ge"), a.line) >= 0;
}
TEST_FN(t_in) {
  return (void)r, contains(test_arg(a, "in"), v, a.line);
}

const std::map<std::string, TestFn, std::less<>>& tests() {
  static const std::map<std::string, TestFn, std::less<>> table = {
      {"defined", t_defined},
      {"undefined", t_undefined},
      {"none", t_none},
      {"boolean", t_boolean},
      {"true", t_true},
      {"false", t_false},
      {"integer", t_integer},
      {"float", t_float},
      {"number", t_number},
      {"string", t_string},
      {"mapping", t_mapping},
      {"iterable", t_iterable},
      {"sequence", t_sequence},
      {"callable", t_callable},
      {"sameas", t_sameas},
      {"escaped", t_escaped},
      {"lower", t_lower},
      {"upper", t_upper},
      {"odd", t_odd},
      {"even", t_even},
      {"divisibleby", t_divisibleby},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"==", t_eq},
      {"ne", t_ne},
      {"!=", t_ne},
      {"lt", t_lt},
      {"lessthan", t_lt},
      {"<", t_lt},
      {"le", t_le},
      {"<=", t_le},
      {"gt", t_gt},
      {"greaterthan", t_gt},
      {">", t_gt},
      {"ge", t_ge},
      {">=", t_ge},
      {"in", t_in},
  };
  return table;
}

// ---- methods ----

Value string_method(Renderer& r, const std::string& s, const std::string& name, CallArgs& a) {
  const int line = a.line;
  auto one = [&](const char* what) -> const Value& {
    if (a.pos.empty()) fail(line, std::string(what) + "() needs an argument");
    return a.pos[0];
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    a.check(name, 1, {});
    return Value::string(strip(s, a.get(0, "chars"), name != "rstrip", name != "lstrip"));
  }
  if (name == "split") {
    a.check(name, 2, {"sep", "maxsplit"});
    return split(s, a.get(0, "sep"), int_arg(a.get(1, "maxsplit"), -1, line, "maxsplit"), line);
  }
  if (name == "splitlines") {
    a.check(name, 0, {});
    List lines;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t nl = s.find_first_of("\r\n", pos);
      if (nl == std::string::npos) nl = s.size();
      lines.push_back(Value::string(s.substr(pos, nl - pos)));
      pos = nl + (s.compare(nl, 2, "\r\n") == 0 ? 2 : 1);
    }
    return Value::list(std::move(lines));
  }
  if (name == "startswith" || name == "endswith") {
    a.check(name, 1, {});
    const Value& arg = one(name.c_str());
    const List options = arg.is_list() ? arg.list() : List{arg};
    for (const Value& o : options) {
      if (!o.is_string()) fail(line, name + "() needs a string or a tuple of strings");
      const std::string& p = o.str();
      if (p.size() <= s.size() &&
          s.compare(name == "startswith" ? 0 : s.size() - p.size(), p.size(), p) == 0)
        return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "upper" || name == "lower" || name == "capitalize") {
    a.check(name, 0, {});
    return Value::string(name == "upper" ? upper(s) : name == "lower" ? lower(s) : capitalize(s));
  }
  if (name == "title") {  // Python's str.title: a letter after a non-letter starts a word
    a.check(name, 0, {});
    std::string out = s;
    bool prev_letter = false;
    for (char& c : out) {
      const bool letter = ascii_alpha(c);
      if (letter) c = prev_letter ? ascii_lower(c) : ascii_upper(c);
      prev_letter = letter;
    }
    return Value::string(out);
  }
  if (name == "replace") {
    a.check(name, 3, {});
    if (a.pos.size() < 2) fail(line, "replace() needs the old and new strings");
    return Value::string(replace(r, s, to_str(a.pos[0]), to_str(a.pos[1]),
                                 int_arg(a.get(2, "count"), -1, line, "count"), line));
  }
  if (name == "format") return Value::string(py_format(r, s, a));
  if (name == "join") {
    a.check(name, 1, {});
    std::string out;
    bool first = true;
    for (const Value& item : r.iterate(one("join"), line)) {
      if (!item.is_string()) fail(line, "join(): expected str, found " + type_name(item));
      out += (first ? "" : s) + item.str();
      first = false;
      r.check_string(out.size(), line);
    }
    return Value::string(out);
  }
  if (name == "find" || name == "count") {
    a.check(name, 1, {});
    const std::string sub = to_str(one(name.c_str()));
    if (name == "find") {
      const size_t at = s.find(sub);
      return Value::integer(at == std::string::npos ? -1
                                                    : int64_t(utf8_decode(s.substr(0, at)).size()));
    }
    if (sub.empty()) return Value::integer(int64_t(utf8_decode(s).size()) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::integer(n);
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper") {
    a.check(name, 0, {});
    if (name == "islower" || name == "isupper") {
      const bool any = std::any_of(s.begin(), s.end(), ascii_alpha);
      return Value::boolean(any && (name == "islower" ? lower(s) : upper(s)) == s);
    }
    if (s.empty()) return Value::boolean(false);
    for (char32_t c : utf8_decode(s)) {
      const bool digit = c >= '0' && c <= '9', alpha = c < 0x80 && ascii_alpha(char(c));
      const bool ok = name == "isdigit"   ? digit
                      : name == "isalpha" ? alpha
                      : name == "isalnum" ? digit || alpha
                                          : py_isspace(c);
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  fail(line, "unsupported string method '" + name + "'");
}

const char* const kStringMethods[] = {
    "strip",   "lstrip",     "rstrip",  "split",   "splitlines", "startswith", "endswith", "upper",
    "lower",   "capitalize", "title",   "replace", "format",     "join",       "find",     "count",
    "isdigit", "isalpha",    "isalnum", "isspace", "islower",    "isupper"};
// Methods that would change a value: Hugging Face renders in an immutable sandbox.
const char* const kMutators[] = {"append", "extend",  "insert", "pop",        "remove", "clear",
                                 "sort",   "reverse", "update", "setdefault", "popitem"};

}  // namespace

bool is_known_test(std::string_view name) {
  return tests().count(name) > 0;
}

bool apply_test(Renderer& r, const std::string& name, const Value& v, CallArgs& args) {
  const auto it = tests().find(name);
  if (it == tests().end()) fail(args.line, "unsupported test '" + name + "'");
  return it->second(r, v, args);
}

Value bound_method(Renderer& r, const Value& obj, const std::string& name, int line) {
  for (const char* m : kMutators)
    if (name == m && (obj.is_list() || obj.is_dict()))
      return Value::function(name, [name](CallArgs& a) -> Value {
        fail(a.line, "unsupported method '" + name +
                         "': templates may not modify values (immutable sandbox)");
      });
  if (obj.is_string()) {
    for (const char* m : kStringMethods)
      if (name == m)
        return Value::function(
            name, [&r, obj, name](CallArgs& a) { return string_method(r, obj.str(), name, a); });
    return Value::undefined(name);
  }
  if (!obj.is_mapping()) return Value::undefined(name);
  (void)line;
  if (name == "items" || name == "keys" || name == "values")
    return Value::function(name, [obj, name](CallArgs& a) {
      a.check(name, 0, {});
      if (name == "items") return items_of(obj, a.line);
      List out;
      for (const auto& [k, x] : obj.dict().items)
        out.push_back(name == "keys" ? Value::string(k) : x);
      return Value::list(std::move(out));
    });
  if (name == "get")
    return Value::function(name, [obj](CallArgs& a) {
      a.check("get", 2, {});
      if (a.pos.empty()) fail(a.line, "get() needs a key");
      const Value* v = a.pos[0].is_string() ? obj.dict().find(a.pos[0].str()) : nullptr;
      return v ? *v : a.pos.size() > 1 ? a.pos[1] : Value::none();
    });
  return Value::undefined(name);
}

int compare_values(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float())
      return a.int_value() < b.int_value() ? -1 : a.int_value() > b.int_value() ? 1 : 0;
    const double x = a.float_value(), y = b.float_value();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string())
    return a.str().compare(b.str()) < 0 ? -1 : a.str() == b.str() ? 0 : 1;
  if (a.is_list() && b.is_list()) {
    const List &x = a.list(), &y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (const int c = compare_values(x[i], y[i], line)) return c;
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  if (a.is_undefined()) fail(line, "'" + a.undefined_name() + "' is undefined");
  if (b.is_undefined()) fail(line, "'" + b.undefined_name() + "' is undefined");
  fail(line, "comparison not supported between '" + type_name(a) + "' and '" + type_name(b) + "'");
}

bool contains(const Value& container, const Value& item, int line) {
  switch (container.type()) {
    case Value::Type::Undefined:
      return false;
    case Value::Type::String:
      if (!item.is_string())
        fail(line, "'in <string>' requires a string on the left, not " + type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Value::Type::List:
      return std::any_of(container.list().begin(), container.list().end(),
                         [&](const Value& x) { return equals(x, item); });
    case Value::Type::Dict:
      if (container.dict().is_namespace) break;
      return item.is_string() && container.dict().find(item.str()) != nullptr;
    default:
      break;
  }
  fail(line, "argument of type '" + type_name(container) + "' is not iterable");
}

void add_builtin_globals(Renderer& r, Dict& globals) {
  globals.set("range", Value::function("range", [&r](CallArgs& a) {
                a.check("range", 3, {});
                if (a.pos.empty()) fail(a.line, "range() needs at least one argument");
                int64_t start = 0, stop, step = 1;
                if (a.pos.size() == 1) {
                  stop = int_arg(&a.pos[0], 0, a.line, "range() argument");
                } else {
                  start = int_arg(&a.pos[0], 0, a.line, "range() argument");
                  stop = int_arg(&a.pos[1], 0, a.line, "range() argument");
                  if (a.pos.size() == 3) step = int_arg(&a.pos[2], 1, a.line, "range() argument");
                }
                if (step == 0) fail(a.line, "range() step must not be zero");
                const double count = std::ceil((double(stop) - double(start)) / double(step));
                if (count > double(r.limits().max_list)) fail(a.line, "range() too large");
                List out;
                for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
                  out.push_back(Value::integer(i));
                return Value::list(std::move(out));
              }));
  auto make_dict = [](CallArgs& a, bool ns) {
    auto d = std::make_shared<Dict>();
    d->is_namespace = ns;
    if (a.pos.size() > 1) fail(a.line, "expected at most one positional argument");
    if (!a.pos.empty()) {
      if (!a.pos[0].is_mapping()) fail(a.line, "expected a mapping argument");
      d->items = a.pos[0].dict().items;
    }
    for (const auto& [k, v] : a.kw) d->set(k, v);
    return Value::dict(std::move(d));
  };
  globals.set("namespace", Value::function("namespace", [make_dict](CallArgs& a) {
                return make_dict(a, true);
              }));
  globals.set("dict",
              Value::function("dict", [make_dict](CallArgs& a) { return make_dict(a, false); }));
}

}  // namespace minillm::jinja
