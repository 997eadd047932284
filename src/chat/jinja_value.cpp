// Python semantics of template values: str(), repr(), truthiness, equality and json.dumps.
#include "chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "minillm/error.h"

namespace minillm::jinja {

namespace {
// Values nest as deeply as the JSON they come from; recursion over them is bounded.
constexpr int kMaxNesting = 512;

void check_nesting(int depth, int line) {
  if (depth > kMaxNesting) fail(line, "value nested too deeply");
}
}  // namespace

void fail(int line, const std::string& message) {
  throw Error(ErrorKind::InvalidArgument,
              "chat template line " + std::to_string(line) + ": " + message);
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

void Dict::set(const std::string& key, Value v) {
  for (auto& [k, old] : items)
    if (k == key) {
      old = std::move(v);
      return;
    }
  items.emplace_back(key, std::move(v));
}

const Value* CallArgs::get(size_t index, std::string_view name) const {
  const Value* named = nullptr;
  for (const auto& [k, v] : kw)
    if (k == name) named = &v;
  if (index < pos.size()) {
    if (named) fail(line, "got multiple values for argument '" + std::string(name) + "'");
    return &pos[index];
  }
  return named;
}

void CallArgs::check(std::string_view callee, size_t n_pos,
                     std::initializer_list<std::string_view> names) const {
  if (pos.size() > n_pos)
    fail(line, std::string(callee) + "() takes at most " + std::to_string(n_pos) +
                   " positional argument(s), " + std::to_string(pos.size()) + " given");
  for (const auto& [k, v] : kw)
    if (std::find(names.begin(), names.end(), k) == names.end())
      fail(line, std::string(callee) + "() got an unexpected keyword argument '" + k + "'");
}

bool Value::same_object(const Value& o) const {
  if (type() != o.type()) return false;
  switch (type()) {
    case Type::Undefined:
    case Type::None:
      return true;
    case Type::Bool:
      return as_bool() == o.as_bool();
    case Type::Int:
      return as_int() == o.as_int();
    case Type::Float:
      return as_float() == o.as_float();
    case Type::String:
      return str() == o.str();
    case Type::List:
      return &list() == &o.list();
    case Type::Dict:
      return &dict() == &o.dict();
    case Type::Function:
      return &function() == &o.function();
  }
  return false;
}

bool truthy(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined:
    case Value::Type::None:
      return false;
    case Value::Type::Bool:
      return v.as_bool();
    case Value::Type::Int:
      return v.as_int() != 0;
    case Value::Type::Float:
      return v.as_float() != 0.0;
    case Value::Type::String:
      return !v.str().empty();
    case Value::Type::List:
      return !v.list().empty();
    case Value::Type::Dict:
      return v.dict().is_namespace || !v.dict().items.empty();
    case Value::Type::Function:
      return true;
  }
  return false;
}

std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // The shortest digits that round-trip, placed the way Python's repr places them: positional
  // for decimal exponents -4 < e <= 16, scientific with a two-digit exponent otherwise.
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string s(buf, r.ptr);
  std::string out;
  if (s[0] == '-') {
    out = "-";
    s.erase(0, 1);
  }
  const size_t e = s.find('e');
  std::string digits;
  for (char c : s.substr(0, e))
    if (c != '.') digits += c;
  int decpt = std::stoi(s.substr(e + 1)) + 1;
  if (d == 0) digits = "0", decpt = 1;
  if (decpt <= -4 || decpt > 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int x = decpt - 1;
    char exp[16];
    std::snprintf(exp, sizeof(exp), "e%c%02d", x < 0 ? '-' : '+', std::abs(x));
    out += exp;
  } else if (decpt <= 0) {
    out += "0." + std::string(size_t(-decpt), '0') + digits;
  } else if (size_t(decpt) >= digits.size()) {
    out += digits + std::string(size_t(decpt) - digits.size(), '0') + ".0";
  } else {
    out += digits.substr(0, size_t(decpt)) + "." + digits.substr(size_t(decpt));
  }
  return out;
}

namespace {

std::string repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : utf8_decode(s)) {
    char hex[16];
    if (c == U'\\' || c == char32_t(quote)) {
      out += '\\';
      out += char(c);
    } else if (c == U'\n') {
      out += "\\n";
    } else if (c == U'\r') {
      out += "\\r";
    } else if (c == U'\t') {
      out += "\\t";
    } else if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) {
      std::snprintf(hex, sizeof(hex), "\\x%02x", unsigned(c));
      out += hex;
    } else {
      out += utf8_encode(std::u32string(1, c));
    }
  }
  return out + quote;
}

std::string repr_at(const Value& v, int depth);

std::string str_at(const Value& v, int depth) {
  check_nesting(depth, 0);
  switch (v.type()) {
    case Value::Type::Undefined:
      return "";
    case Value::Type::None:
      return "None";
    case Value::Type::Bool:
      return v.as_bool() ? "True" : "False";
    case Value::Type::Int:
      return std::to_string(v.as_int());
    case Value::Type::Float:
      return py_float_repr(v.as_float());
    case Value::Type::String:
      return v.str();
    case Value::Type::List: {
      std::string out = "[";
      for (size_t i = 0; i < v.list().size(); ++i)
        out += (i ? ", " : "") + repr_at(v.list()[i], depth + 1);
      return out + "]";
    }
    case Value::Type::Dict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.dict().items) {
        out += (first ? "" : ", ") + repr_string(k) + ": " + repr_at(x, depth + 1);
        first = false;
      }
      out += "}";
      return v.dict().is_namespace ? "<Namespace " + out + ">" : out;
    }
    case Value::Type::Function:
      return "<function " + v.function().name + ">";
  }
  return "";
}

std::string repr_at(const Value& v, int depth) {
  if (v.is_string()) return repr_string(v.str());
  if (v.is_undefined()) return "Undefined";
  return str_at(v, depth);
}

bool equals_at(const Value& a, const Value& b, int depth) {
  check_nesting(depth, 0);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.float_value() == b.float_value();
    return a.int_value() == b.int_value();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::String:
      return a.str() == b.str();
    case Value::Type::List: {
      const List &x = a.list(), &y = b.list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals_at(x[i], y[i], depth + 1)) return false;
      return true;
    }
    case Value::Type::Dict: {
      if (a.dict().is_namespace || b.dict().is_namespace) return &a.dict() == &b.dict();
      if (a.dict().items.size() != b.dict().items.size()) return false;
      for (const auto& [k, v] : a.dict().items) {
        const Value* w = b.dict().find(k);
        if (!w || !equals_at(v, *w, depth + 1)) return false;
      }
      return true;
    }
    default:
      return a.same_object(b);
  }
}

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  char hex[16];
  for (char32_t c : utf8_decode(s)) {
    switch (c) {
      case U'"':
        out += "\\\"";
        break;
      case U'\\':
        out += "\\\\";
        break;
      case U'\n':
        out += "\\n";
        break;
      case U'\r':
        out += "\\r";
        break;
      case U'\t':
        out += "\\t";
        break;
      case U'\b':
        out += "\\b";
        break;
      case U'\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || (ensure_ascii && c > 0x7f && c <= 0xffff)) {
          std::snprintf(hex, sizeof(hex), "\\u%04x", unsigned(c));
          out += hex;
        } else if (ensure_ascii && c > 0xffff) {  // a UTF-16 surrogate pair
          const unsigned u = unsigned(c) - 0x10000;
          std::snprintf(hex, sizeof(hex), "\\u%04x\\u%04x", 0xd800 + (u >> 10),
                        0xdc00 + (u & 0x3ff));
          out += hex;
        } else {
          out += utf8_encode(std::u32string(1, c));
        }
    }
  }
  out += '"';
}

void json_at(std::string& out, const Value& v, const JsonStyle& st, int level, int line) {
  check_nesting(level, line);
  const std::string item_sep = !st.item_sep.empty() ? st.item_sep : st.indent < 0 ? ", " : ",";
  const std::string key_sep = !st.key_sep.empty() ? st.key_sep : ": ";
  auto newline = [&](int lvl) {
    if (st.indent >= 0) out += "\n" + std::string(size_t(st.indent) * size_t(lvl), ' ');
  };
  switch (v.type()) {
    case Value::Type::None:
      out += "null";
      return;
    case Value::Type::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Type::Int:
      out += std::to_string(v.as_int());
      return;
    case Value::Type::Float: {
      const double d = v.as_float();
      out += std::isnan(d)   ? "NaN"
             : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                             : py_float_repr(d);
      return;
    }
    case Value::Type::String:
      json_string(out, v.str(), st.ensure_ascii);
      return;
    case Value::Type::List: {
      if (v.list().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i) out += item_sep;
        newline(level + 1);
        json_at(out, v.list()[i], st, level + 1, line);
      }
      newline(level);
      out += ']';
      return;
    }
    case Value::Type::Dict: {
      if (v.dict().is_namespace) break;
      if (v.dict().items.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.dict().items) items.push_back(&kv);
      if (st.sort_keys)
        std::stable_sort(items.begin(), items.end(),
                         [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_sep;
        newline(level + 1);
        json_string(out, items[i]->first, st.ensure_ascii);
        out += key_sep;
        json_at(out, items[i]->second, st, level + 1, line);
      }
      newline(level);
      out += '}';
      return;
    }
    default:
      break;
  }
  fail(line, "Object of type " + type_name(v) + " is not JSON serializable");
}

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  check_nesting(depth, 0);
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      return u <= uint64_t(INT64_MAX) ? Value::integer(int64_t(u)) : Value::number(double(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::number(j.get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      List items;
      for (const auto& x : j) items.push_back(from_json_at(x, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto d = std::make_shared<Dict>();
      for (const auto& [k, x] : j.items()) d->set(k, from_json_at(x, depth + 1));
      return Value::dict(std::move(d));
    }
    default:
      throw Error(ErrorKind::Unsupported, "chat template: unsupported JSON value (binary data)");
  }
}

}  // namespace

std::string to_str(const Value& v) {
  return str_at(v, 0);
}
std::string repr(const Value& v) {
  return repr_at(v, 0);
}
bool equals(const Value& a, const Value& b) {
  return equals_at(a, b, 0);
}

std::string type_name(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined:
      return "Undefined";
    case Value::Type::None:
      return "NoneType";
    case Value::Type::Bool:
      return "bool";
    case Value::Type::Int:
      return "int";
    case Value::Type::Float:
      return "float";
    case Value::Type::String:
      return "str";
    case Value::Type::List:
      return "list";
    case Value::Type::Dict:
      return v.dict().is_namespace ? "Namespace" : "dict";
    case Value::Type::Function:
      return "function";
  }
  return "?";
}

std::string to_json(const Value& v, const JsonStyle& style, int line) {
  std::string out;
  json_at(out, v, style, 0, line);
  return out;
}

Value from_json(const nlohmann::ordered_json& j) {
  return from_json_at(j, 0);
}

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int n = b < 0x80 ? 0 : (b >> 5) == 6 ? 1 : (b >> 4) == 14 ? 2 : (b >> 3) == 30 ? 3 : -1;
    char32_t c = n == 0 ? b : n == 1 ? (b & 0x1f) : n == 2 ? (b & 0x0f) : (b & 0x07);
    bool ok = n >= 0 && i + size_t(n) < s.size();  // all n continuation bytes present
    for (int k = 1; ok && k <= n; ++k) {
      const auto cb = static_cast<unsigned char>(s[i + size_t(k)]);
      if ((cb >> 6) != 2) ok = false;
      c = (c << 6) | (cb & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
    static constexpr char32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (ok && (c < kMin[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))) ok = false;
    if (!ok) {
      out += char32_t(0xdc00 + b);
      ++i;
    } else {
      out += c;
      i += size_t(n) + 1;
    }
  }
  return out;
}

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out += char(c);
    } else if (c >= 0xdc80 && c <= 0xdcff) {
      out += char(c - 0xdc00);  // a byte that was not valid UTF-8, restored
    } else if (c < 0x800) {
      out += char(0xc0 | (c >> 6));
      out += char(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      out += char(0xe0 | (c >> 12));
      out += char(0x80 | ((c >> 6) & 0x3f));
      out += char(0x80 | (c & 0x3f));
    } else {
      out += char(0xf0 | (c >> 18));
      out += char(0x80 | ((c >> 12) & 0x3f));
      out += char(0x80 | ((c >> 6) & 0x3f));
      out += char(0x80 | (c & 0x3f));
    }
  }
  return out;
}

bool py_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

}  // namespace minillm::jinja
