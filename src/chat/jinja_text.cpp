// Python string operations and argument helpers shared by filters, tests and methods.
#include "chat/jinja_text.h"

#include <algorithm>
#include <cstdlib>

#include "chat/jinja_eval.h"

namespace minillm::jinja {

int64_t int_arg(const Value* v, int64_t dflt, int line, const char* what) {
  if (!v || v->is_none()) return dflt;
  if (!v->is_int() && !v->is_bool()) fail(line, std::string(what) + " must be an integer");
  return v->int_value();
}
bool bool_arg(const Value* v, bool dflt) {
  return v ? truthy(*v) : dflt;
}
std::string str_arg(const Value* v, const std::string& dflt) {
  return v ? to_str(*v) : dflt;
}

char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? char(c - 32) : c;
}
char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? char(c + 32) : c;
}
bool ascii_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
std::string upper(std::string s) {
  for (char& c : s) c = ascii_upper(c);
  return s;
}
std::string lower(std::string s) {
  for (char& c : s) c = ascii_lower(c);
  return s;
}
std::string capitalize(const std::string& s) {
  std::string out = lower(s);
  if (!out.empty()) out[0] = ascii_upper(out[0]);
  return out;
}

// str.strip / lstrip / rstrip: whitespace, or any of `chars`.
std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
  const std::u32string u = utf8_decode(s);
  const bool ws = !chars || chars->is_none();
  const std::u32string set = ws ? U"" : utf8_decode(to_str(*chars));
  auto drop = [&](char32_t c) { return ws ? py_isspace(c) : set.find(c) != std::u32string::npos; };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && drop(u[b])) ++b;
  if (right)
    while (e > b && drop(u[e - 1])) --e;
  return utf8_encode(u.substr(b, e - b));
}

Value split(const std::string& s, const Value* sep_v, int64_t maxsplit, int line) {
  List parts;
  if (!sep_v || sep_v->is_none()) {  // runs of whitespace; no empty strings
    const std::u32string u = utf8_decode(s);
    size_t i = 0;
    while (true) {
      while (i < u.size() && py_isspace(u[i])) ++i;
      if (i >= u.size()) break;
      if (maxsplit >= 0 && int64_t(parts.size()) == maxsplit) {
        size_t e = u.size();
        while (e > i && py_isspace(u[e - 1])) --e;
        parts.push_back(Value::string(utf8_encode(u.substr(i, e - i))));
        break;
      }
      size_t j = i;
      while (j < u.size() && !py_isspace(u[j])) ++j;
      parts.push_back(Value::string(utf8_encode(u.substr(i, j - i))));
      i = j;
    }
    return Value::list(std::move(parts));
  }
  const std::string sep = to_str(*sep_v);
  if (sep.empty()) fail(line, "split(): empty separator");
  size_t pos = 0;
  while (maxsplit < 0 || int64_t(parts.size()) < maxsplit) {
    const size_t hit = s.find(sep, pos);
    if (hit == std::string::npos) break;
    parts.push_back(Value::string(s.substr(pos, hit - pos)));
    pos = hit + sep.size();
  }
  parts.push_back(Value::string(s.substr(pos)));
  return Value::list(std::move(parts));
}

std::string replace(Renderer& r, const std::string& s, const std::string& from,
                    const std::string& to, int64_t count, int line) {
  std::string out;
  int64_t n = 0;
  if (from.empty()) {  // Python inserts `to` before every character and at the end
    const std::u32string u = utf8_decode(s);
    for (size_t i = 0; i <= u.size(); ++i) {
      if (count < 0 || n < count) out += to, ++n;
      if (i < u.size()) out += utf8_encode(u.substr(i, 1));
      r.check_string(out.size(), line);
    }
    return out;
  }
  size_t pos = 0;
  while (count < 0 || n < count) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    r.check_string(out.size(), line);
    pos = hit + from.size();
    ++n;
  }
  out.append(s, pos);
  r.check_string(out.size(), line);
  return out;
}

int64_t length(const Value& v, int line) {
  switch (v.type()) {
    case Value::Type::Undefined:
      return 0;
    case Value::Type::String:
      return int64_t(utf8_decode(v.str()).size());
    case Value::Type::List:
      return int64_t(v.list().size());
    case Value::Type::Dict:
      if (!v.dict().is_namespace) return int64_t(v.dict().items.size());
      break;
    default:
      break;
  }
  fail(line, "object of type '" + type_name(v) + "' has no len()");
}

Value items_of(const Value& v, int line) {
  if (v.is_undefined()) return Value::list({});
  if (!v.is_mapping()) fail(line, "items(): a mapping is needed, not " + type_name(v));
  List out;
  for (const auto& [k, x] : v.dict().items) out.push_back(Value::list({Value::string(k), x}));
  return Value::list(std::move(out));
}

Value attribute_of(Renderer& r, const Value& item, const Value* attribute, int line) {
  if (!attribute || attribute->is_none()) return item;
  // "a.b" walks nested attributes; a number indexes, as in Jinja's make_attrgetter.
  if (attribute->is_int()) return r.get_item(item, *attribute, line);
  Value v = item;
  const std::string path = to_str(*attribute);
  size_t pos = 0;
  while (true) {
    const size_t dot = path.find('.', pos);
    const std::string part =
        path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
    v = numeric ? r.get_item(v, Value::integer(std::atoll(part.c_str())), line)
                : r.get_item(v, Value::string(part), line);
    if (dot == std::string::npos) return v;
    pos = dot + 1;
  }
}

}  // namespace minillm::jinja
