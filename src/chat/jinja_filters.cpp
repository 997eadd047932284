// Jinja2's filters as chat templates use them, with Jinja2's signatures (positional or keyword
// arguments) and Hugging Face's tojson.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "chat/jinja_eval.h"
#include "chat/jinja_text.h"

namespace minillm::jinja {
namespace {

using FilterFn = Value (*)(Renderer&, const Value&, CallArgs&);

// Sort keys: numbers and strings (optionally case-folded) in Python's order.
Value sort_key(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value::string(lower(v.str())) : v;
}

// Remaining positional arguments after `skip`, as the arguments of a test or filter.
CallArgs rest_args(const CallArgs& args, size_t skip) {
  CallArgs rest;
  rest.line = args.line;
  for (size_t i = skip; i < args.pos.size(); ++i) rest.pos.push_back(args.pos[i]);
  rest.kw = args.kw;
  return rest;
}

// select/reject/selectattr/rejectattr.
Value select(Renderer& r, const Value& seq, const CallArgs& args, bool by_attr, bool keep) {
  size_t next = 0;
  const Value* attr = nullptr;
  if (by_attr) {
    if (args.pos.empty()) fail(args.line, "selectattr/rejectattr need an attribute name");
    attr = &args.pos[next++];
  }
  std::string test;
  if (next < args.pos.size()) test = to_str(args.pos[next++]);
  if (!test.empty() && !is_known_test(test)) fail(args.line, "unsupported test '" + test + "'");
  CallArgs test_args = rest_args(args, next);
  List out;
  for (const Value& item : r.iterate(seq, args.line)) {
    r.step(args.line);
    const Value v = by_attr ? attribute_of(r, item, attr, args.line) : item;
    CallArgs a = test_args;
    const bool pass = test.empty() ? truthy(v) : apply_test(r, test, v, a);
    if (pass == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

List sorted(Renderer& r, List items, bool reverse, bool case_sensitive, const Value* attribute,
            int line) {
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    const Value ka = sort_key(attribute_of(r, a, attribute, line), case_sensitive);
    const Value kb = sort_key(attribute_of(r, b, attribute, line), case_sensitive);
    return reverse ? compare_values(kb, ka, line) < 0 : compare_values(ka, kb, line) < 0;
  });
  return items;
}

// ---- filters ----

#define FILTER(name) Value name(Renderer& r, const Value& v, CallArgs& a)
#define UNUSED_R (void)r

FILTER(f_trim) {
  UNUSED_R;
  a.check("trim", 1, {"chars"});
  return Value::string(strip(to_str(v), a.get(0, "chars"), true, true));
}
FILTER(f_length) {
  UNUSED_R;
  a.check("length", 0, {});
  return Value::integer(length(v, a.line));
}
FILTER(f_tojson) {
  UNUSED_R;
  a.check("tojson", 4, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonStyle st;
  st.ensure_ascii = bool_arg(a.get(0, "ensure_ascii"), false);
  // None: one line; any number (negative ones as 0, as in Python): newlines and indentation.
  if (const Value* indent = a.get(1, "indent"); indent && !indent->is_none()) {
    const int64_t n = int_arg(indent, 0, a.line, "indent");
    if (n > 256) fail(a.line, "tojson(): indent larger than 256");
    st.indent = int(std::max<int64_t>(n, 0));
  }
  if (const Value* seps = a.get(2, "separators"); seps && !seps->is_none()) {
    if (!seps->is_list() || seps->list().size() != 2)
      fail(a.line, "tojson(): separators must be a pair of strings");
    st.item_sep = to_str(seps->list()[0]);
    st.key_sep = to_str(seps->list()[1]);
  }
  st.sort_keys = bool_arg(a.get(3, "sort_keys"), false);
  return Value::string(to_json(v, st, a.line));
}
FILTER(f_upper) {
  UNUSED_R;
  a.check("upper", 0, {});
  return Value::string(upper(to_str(v)));
}
FILTER(f_lower) {
  UNUSED_R;
  a.check("lower", 0, {});
  return Value::string(lower(to_str(v)));
}
FILTER(f_capitalize) {
  UNUSED_R;
  a.check("capitalize", 0, {});
  return Value::string(capitalize(to_str(v)));
}
FILTER(f_title) {
  UNUSED_R;
  a.check("title", 0, {});
  // Jinja's title: words start after '-', whitespace, or an opening bracket.
  std::string s = to_str(v);
  bool start = true;
  for (char& c : s) {
    const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' ||
                     (c >= '\t' && c <= '\r');
    if (!sep) c = start ? ascii_upper(c) : ascii_lower(c);
    start = sep;
  }
  return Value::string(s);
}
FILTER(f_default) {
  UNUSED_R;
  a.check("default", 2, {"default_value", "boolean"});
  const Value* dflt = a.get(0, "default_value");
  const bool use = bool_arg(a.get(1, "boolean"), false) ? !truthy(v) : v.is_undefined();
  return use ? (dflt ? *dflt : Value::string("")) : v;
}
FILTER(f_join) {
  a.check("join", 2, {"d", "attribute"});
  const std::string sep = str_arg(a.get(0, "d"), "");
  const Value* attr = a.get(1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : r.iterate(v, a.line)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attribute_of(r, item, attr, a.line));
    r.check_string(out.size(), a.line);
  }
  return Value::string(out);
}
FILTER(f_first) {
  a.check("first", 0, {});
  const List items = r.iterate(v, a.line);
  return items.empty() ? Value::undefined("first") : items.front();
}
FILTER(f_last) {
  a.check("last", 0, {});
  const List items = r.iterate(v, a.line);
  return items.empty() ? Value::undefined("last") : items.back();
}
FILTER(f_list) {
  a.check("list", 0, {});
  return Value::list(r.iterate(v, a.line));
}
FILTER(f_items) {
  UNUSED_R;
  a.check("items", 0, {});
  return items_of(v, a.line);
}
FILTER(f_string) {
  UNUSED_R;
  a.check("string", 0, {});
  return Value::string(to_str(v));
}
FILTER(f_int) {
  UNUSED_R;
  a.check("int", 2, {"default", "base"});
  const Value* dflt = a.get(0, "default");
  const int64_t base = int_arg(a.get(1, "base"), 10, a.line, "base");
  if (v.is_int() || v.is_bool()) return Value::integer(v.int_value());
  if (v.is_float() && std::isfinite(v.as_float()) && std::fabs(v.as_float()) < 9.2e18)
    return Value::integer(int64_t(v.as_float()));
  if (v.is_string()) {
    std::string s = strip(v.str(), nullptr, true, true);
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(s.c_str(), &end, int(base));
    if (!s.empty() && end && *end == '\0' && errno == 0) return Value::integer(n);
    const double d = std::strtod(s.c_str(), &end);  // Jinja then tries int(float(value))
    if (!s.empty() && end && *end == '\0' && std::isfinite(d) && std::fabs(d) < 9.2e18)
      return Value::integer(int64_t(d));
  }
  return dflt ? *dflt : Value::integer(0);
}
FILTER(f_float) {
  UNUSED_R;
  a.check("float", 1, {"default"});
  const Value* dflt = a.get(0, "default");
  if (v.is_number()) return Value::number(v.float_value());
  if (v.is_string()) {
    const std::string s = strip(v.str(), nullptr, true, true);
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0') return Value::number(d);
  }
  return dflt ? *dflt : Value::number(0.0);
}
FILTER(f_replace) {
  a.check("replace", 3, {"old", "new", "count"});
  const Value *from = a.get(0, "old"), *to = a.get(1, "new");
  if (!from || !to) fail(a.line, "replace() needs the old and new strings");
  return Value::string(replace(r, to_str(v), to_str(*from), to_str(*to),
                               int_arg(a.get(2, "count"), -1, a.line, "count"), a.line));
}
FILTER(f_select) {
  return select(r, v, a, false, true);
}
FILTER(f_reject) {
  return select(r, v, a, false, false);
}
FILTER(f_selectattr) {
  return select(r, v, a, true, true);
}
FILTER(f_rejectattr) {
  return select(r, v, a, true, false);
}
FILTER(f_map) {
  List out;
  const Value* attr = nullptr;
  for (const auto& [k, x] : a.kw)
    if (k == "attribute") attr = &x;
  if (attr) {
    a.check("map", 0, {"attribute", "default"});
    const Value* dflt = nullptr;
    for (const auto& [k, x] : a.kw)
      if (k == "default") dflt = &x;
    for (const Value& item : r.iterate(v, a.line)) {
      Value x = attribute_of(r, item, attr, a.line);
      out.push_back(x.is_undefined() && dflt ? *dflt : x);
    }
    return Value::list(std::move(out));
  }
  if (a.pos.empty()) fail(a.line, "map() needs a filter name or attribute=");
  const std::string filter = to_str(a.pos[0]);
  if (!is_known_filter(filter)) fail(a.line, "unsupported filter '" + filter + "'");
  const CallArgs fargs = rest_args(a, 1);
  for (const Value& item : r.iterate(v, a.line)) {
    r.step(a.line);
    CallArgs fa = fargs;
    out.push_back(apply_filter(r, filter, item, fa));
  }
  return Value::list(std::move(out));
}
FILTER(f_safe) {
  UNUSED_R;
  a.check("safe", 0, {});
  return v;
}
FILTER(f_escape) {
  UNUSED_R;
  a.check("escape", 0, {});
  return Value::string(html_escape(to_str(v)));
}
FILTER(f_abs) {
  UNUSED_R;
  a.check("abs", 0, {});
  if (v.is_float()) return Value::number(std::fabs(v.as_float()));
  if (!v.is_int() && !v.is_bool())
    fail(a.line, "bad operand type for abs(): '" + type_name(v) + "'");
  if (v.int_value() == INT64_MIN) fail(a.line, "integer overflow");
  return Value::integer(std::llabs(v.int_value()));
}
FILTER(f_round) {
  UNUSED_R;
  a.check("round", 2, {"precision", "method"});
  const int64_t prec =
      std::clamp<int64_t>(int_arg(a.get(0, "precision"), 0, a.line, "precision"), -20, 20);
  const std::string method = str_arg(a.get(1, "method"), "common");
  if (!v.is_number()) fail(a.line, "round(): a number is needed, not " + type_name(v));
  if (!v.is_float()) return Value::integer(v.int_value());
  const double x = v.as_float(), scale = std::pow(10.0, double(prec));
  if (method == "ceil") return Value::number(std::ceil(x * scale) / scale);
  if (method == "floor") return Value::number(std::floor(x * scale) / scale);
  if (method != "common") fail(a.line, "round(): method must be common, ceil or floor");
  if (prec < 0 || !std::isfinite(x)) return Value::number(std::nearbyint(x * scale) / scale);
  // Python rounds the exact binary value, half to even: as printf does.
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.*f", int(prec), x);
  return Value::number(std::strtod(buf, nullptr));
}
FILTER(f_dictsort) {
  a.check("dictsort", 3, {"case_sensitive", "by", "reverse"});
  const bool cs = bool_arg(a.get(0, "case_sensitive"), false);
  const std::string by = str_arg(a.get(1, "by"), "key");
  if (by != "key" && by != "value") fail(a.line, "dictsort(): by must be 'key' or 'value'");
  const Value index = Value::integer(by == "key" ? 0 : 1);
  return Value::list(sorted(r, items_of(v, a.line).list(), bool_arg(a.get(2, "reverse"), false), cs,
                            &index, a.line));
}
FILTER(f_sort) {
  a.check("sort", 3, {"reverse", "case_sensitive", "attribute"});
  return Value::list(sorted(r, r.iterate(v, a.line), bool_arg(a.get(0, "reverse"), false),
                            bool_arg(a.get(1, "case_sensitive"), false), a.get(2, "attribute"),
                            a.line));
}
FILTER(f_unique) {
  a.check("unique", 2, {"case_sensitive", "attribute"});
  const bool cs = bool_arg(a.get(0, "case_sensitive"), false);
  List out, seen;
  for (const Value& item : r.iterate(v, a.line)) {
    r.step(a.line);
    const Value key = sort_key(attribute_of(r, item, a.get(1, "attribute"), a.line), cs);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}
FILTER(f_reverse) {
  a.check("reverse", 0, {});
  if (v.is_string()) {
    std::u32string u = utf8_decode(v.str());
    std::reverse(u.begin(), u.end());
    return Value::string(utf8_encode(u));
  }
  List items = r.iterate(v, a.line);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}
FILTER(f_sum) {
  a.check("sum", 2, {"attribute", "start"});
  Value total = a.get(1, "start") ? *a.get(1, "start") : Value::integer(0);
  for (const Value& item : r.iterate(v, a.line)) {
    const Value x = attribute_of(r, item, a.get(0, "attribute"), a.line);
    if (!x.is_number() || !total.is_number()) fail(a.line, "sum(): numbers are needed");
    if (x.is_float() || total.is_float()) {
      total = Value::number(total.float_value() + x.float_value());
    } else {
      int64_t s = 0;
      if (__builtin_add_overflow(total.int_value(), x.int_value(), &s))
        fail(a.line, "integer overflow");
      total = Value::integer(s);
    }
  }
  return total;
}
Value min_max(Renderer& r, const Value& v, CallArgs& a, bool want_max) {
  a.check(want_max ? "max" : "min", 2, {"case_sensitive", "attribute"});
  const List items =
      sorted(r, r.iterate(v, a.line), false, bool_arg(a.get(0, "case_sensitive"), false),
             a.get(1, "attribute"), a.line);
  if (items.empty()) return Value::undefined(want_max ? "max" : "min");
  return want_max ? items.back() : items.front();
}
FILTER(f_min) {
  return min_max(r, v, a, false);
}
FILTER(f_max) {
  return min_max(r, v, a, true);
}
FILTER(f_indent) {
  a.check("indent", 3, {"width", "first", "blank"});
  const Value* w = a.get(0, "width");
  const std::string pad =
      w && w->is_string()
          ? w->str()
          : std::string(size_t(std::clamp<int64_t>(int_arg(w, 4, a.line, "width"), 0, 1000)), ' ');
  const bool first = bool_arg(a.get(1, "first"), false), blank = bool_arg(a.get(2, "blank"), false);
  // Jinja appends a newline and splits lines, which is splitting at each '\n'.
  const std::string text = to_str(v);
  std::vector<std::string> parts;
  for (size_t pos = 0;;) {
    const size_t nl = text.find('\n', pos);
    parts.push_back(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& line = parts[i];
    if (i > 0) out += "\n" + ((blank || !line.empty()) ? pad : "");
    out += line;
    r.check_string(out.size(), a.line);
  }
  return Value::string(first ? pad + out : out);
}
FILTER(f_attr) {
  a.check("attr", 1, {"name"});
  const Value* name = a.get(0, "name");
  if (!name) fail(a.line, "attr() needs a name");
  return r.get_attr(v, to_str(*name), a.line);
}

const std::map<std::string, FilterFn, std::less<>>& filters() {
  static const std::map<std::string, FilterFn, std::less<>> table = {
      {"trim", f_trim},
      {"length", f_length},
      {"count", f_length},
      {"tojson", f_tojson},
      {"upper", f_upper},
      {"lower", f_lower},
      {"capitalize", f_capitalize},
      {"title", f_title},
      {"default", f_default},
      {"d", f_default},
      {"join", f_join},
      {"first", f_first},
      {"last", f_last},
      {"list", f_list},
      {"items", f_items},
      {"string", f_string},
      {"int", f_int},
      {"float", f_float},
      {"replace", f_replace},
      {"select", f_select},
      {"reject", f_reject},
      {"selectattr", f_selectattr},
      {"rejectattr", f_rejectattr},
      {"map", f_map},
      {"safe", f_safe},
      {"escape", f_escape},
      {"e", f_escape},
      {"forceescape", f_escape},
      {"abs", f_abs},
      {"round", f_round},
      {"dictsort", f_dictsort},
      {"sort", f_sort},
      {"unique", f_unique},
      {"reverse", f_reverse},
      {"sum", f_sum},
      {"min", f_min},
      {"max", f_max},
      {"indent", f_indent},
      {"attr", f_attr},
  };
  return table;
}

}  // namespace

bool is_known_filter(std::string_view name) {
  return filters().count(name) > 0;
}
Value apply_filter(Renderer& r, const std::string& name, const Value& v, CallArgs& args) {
  const auto it = filters().find(name);
  if (it == filters().end()) fail(args.line, "unsupported filter '" + name + "'");
  return it->second(r, v, args);
}

}  // namespace minillm::jinja
