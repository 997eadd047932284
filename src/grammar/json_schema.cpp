// JSON Schema -> GBNF. Each schema (and each $ref target, once) becomes a rule; objects list their
// properties in schema order, arrays their items, and the shared pieces (strings, numbers, any
// JSON value, whitespace) are rules added on first use. Every value the grammar allows validates
// against the schema; where the schema allows more than a grammar should (extra properties when
// additionalProperties is absent, unbounded whitespace and numbers), the grammar allows less.
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/gbnf_text.h"
#include "grammar/schema_regex.h"
#include "minillm/error.h"
#include "minillm/grammar.h"

namespace minillm {
namespace {

using json = nlohmann::ordered_json;

constexpr int kMaxIntegerDigits = 16;
constexpr int kMaxFractionDigits = 16;
constexpr int64_t kIntegerLimit = 9999999999999999;  // 16 digits
constexpr int kMaxSchemaDepth = 128;                 // JSON nesting of the schema text

// Shared rules, added when first used.
const std::map<std::string, std::string>& primitive_rules() {
  static const std::map<std::string, std::string> rules = {
      {"ws", "( \" \" | \"\\n\" [ \\t]{0,20} )?"},
      {"value", "object | array | string | number | boolean | null"},
      {"object",
       "\"{\" ws ( string ws \":\" ws value ws ( \",\" ws string ws \":\" ws value ws )* )? \"}\""},
      {"array", "\"[\" ws ( value ws ( \",\" ws value ws )* )? \"]\""},
      {"string", "\"\\\"\" char* \"\\\"\""},
      {"char", "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )"},
      // One character without \u escapes, for strings whose length is bounded: a surrogate pair
      // is two escapes but one character.
      {"plain-char", "[^\"\\\\\\x00-\\x1F] | \"\\\\\" [\"\\\\/bfnrt]"},
      {"number", "\"-\"? ( \"0\" | [1-9] [0-9]{0," + std::to_string(kMaxIntegerDigits - 1) +
                     "} ) ( \".\" [0-9]{1," + std::to_string(kMaxFractionDigits) +
                     "} )? ( [eE] [-+]? [0-9]{1,2} )?"},
      {"integer",
       "\"-\"? ( \"0\" | [1-9] [0-9]{0," + std::to_string(kMaxIntegerDigits - 1) + "} )"},
      {"boolean", "\"true\" | \"false\""},
      {"null", "\"null\""},
      {"date",
       "[1-9] [0-9]{3} \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | "
       "\"3\" [01] ) | ( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" ) | "
       "\"02-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) )"},
      {"time",
       "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? "
       "( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )"},
      {"date-time", "date \"T\" time"},
      {"uuid",
       "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}"},
      {"email",
       "[a-zA-Z0-9_%+-]{1,32} ( \".\" [a-zA-Z0-9_%+-]{1,32} ){0,3} \"@\" [a-zA-Z0-9] "
       "[a-zA-Z0-9-]{0,31} ( \".\" [a-zA-Z0-9] [a-zA-Z0-9-]{0,31} ){1,3}"},
  };
  return rules;
}

const std::set<std::string>& annotation_keywords() {
  static const std::set<std::string> k = {"$schema",     "$id",       "$comment", "title",
                                          "description", "default",   "examples", "deprecated",
                                          "readOnly",    "writeOnly", "$defs",    "definitions"};
  return k;
}

const std::set<std::string>& supported_keywords() {
  static const std::set<std::string> k = {"type",
                                          "enum",
                                          "const",
                                          "anyOf",
                                          "oneOf",
                                          "allOf",
                                          "$ref",
                                          "properties",
                                          "required",
                                          "additionalProperties",
                                          "items",
                                          "prefixItems",
                                          "additionalItems",
                                          "minItems",
                                          "maxItems",
                                          "minLength",
                                          "maxLength",
                                          "pattern",
                                          "format",
                                          "minimum",
                                          "maximum",
                                          "exclusiveMinimum",
                                          "exclusiveMaximum"};
  return k;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string repeat_str(char c, size_t n) {
  return std::string(n, c);
}

// Decimal strings of equal length, x <= y: GBNF for the numbers between them.
std::string digits_between(const std::string& x, const std::string& y) {
  const size_t n = x.size();
  if (n == 0) return "";
  if (x == y) return grammar::gbnf_literal(x);
  auto any_digits = [](size_t k) {
    return k == 0 ? std::string() : " [0-9]{" + std::to_string(k) + "}";
  };
  auto digit_class = [](char a, char b) {
    return a == b ? grammar::gbnf_literal(std::string(1, a)) : std::string("[") + a + "-" + b + "]";
  };
  const std::string xs = x.substr(1), ys = y.substr(1);
  if (x[0] == y[0])
    return grammar::gbnf_literal(std::string(1, x[0])) + " " + digits_between(xs, ys);
  const bool low_full = xs == repeat_str('0', n - 1), high_full = ys == repeat_str('9', n - 1);
  std::vector<std::string> alts;
  char mid_lo = char(x[0] + 1), mid_hi = char(y[0] - 1);
  if (low_full)
    mid_lo = x[0];
  else
    alts.push_back(grammar::gbnf_literal(std::string(1, x[0])) + " " +
                   digits_between(xs, repeat_str('9', n - 1)));
  if (high_full) mid_hi = y[0];
  if (mid_lo <= mid_hi) alts.push_back(digit_class(mid_lo, mid_hi) + any_digits(n - 1));
  if (!high_full)
    alts.push_back(grammar::gbnf_literal(std::string(1, y[0])) + " " +
                   digits_between(repeat_str('0', n - 1), ys));
  return alts.size() == 1 ? alts[0] : "( " + join(alts, " | ") + " )";
}

// Non-negative integers in [a, b], written without leading zeros.
std::string naturals_between(int64_t a, int64_t b) {
  std::vector<std::string> alts;
  int64_t low = 1;  // smallest number with `len` digits (0 for one digit)
  for (int len = 1; len <= 19 && a <= b; ++len, low *= 10) {
    const int64_t high = len >= 19 ? INT64_MAX : low * 10 - 1;
    const int64_t from = std::max(a, len == 1 ? int64_t(0) : low), to = std::min(b, high);
    if (from <= to) alts.push_back(digits_between(std::to_string(from), std::to_string(to)));
    if (high >= b) break;
  }
  return alts.size() == 1 ? alts[0] : "( " + join(alts, " | ") + " )";
}

class SchemaConverter {
 public:
  explicit SchemaConverter(json root) : root_(std::move(root)) {}

  std::string convert() {
    rules_.push_back({"root", ""});
    rules_[0].second = visit(root_, "#", "root");
    std::string out;
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

 private:
  [[noreturn]] static void unsatisfiable(const std::string& where, const std::string& why) {
    throw Error("JSON Schema at " + where + " can never be satisfied: " + why);
  }
  [[noreturn]] static void unsupported(const std::string& where, const std::string& what) {
    throw Error(ErrorKind::Unsupported,
                "JSON Schema at " + where + ": " + what + " is not supported");
  }
  [[noreturn]] static void malformed(const std::string& where, const std::string& what) {
    throw Error("JSON Schema at " + where + ": " + what);
  }

  std::string primitive(const std::string& name) {
    if (!defined_.insert(name).second) return name;
    const std::string body = primitive_rules().at(name);
    rules_.push_back({name, body});
    // Rules the body uses.
    for (const auto& [other, _] : primitive_rules()) {
      if (other == name) continue;
      const auto at = body.find(other);
      if (at == std::string::npos) continue;
      const auto before = at == 0 ? ' ' : body[at - 1];
      const auto after = at + other.size() < body.size() ? body[at + other.size()] : ' ';
      if ((before == ' ' || before == '(') && (after == ' ' || after == ')' || after == '*'))
        primitive(other);
    }
    return name;
  }

  std::string new_rule(const std::string& hint, const std::string& body) {
    const std::string name = unique_name(hint);
    rules_.push_back({name, body});
    return name;
  }

  std::string unique_name(const std::string& hint) {
    std::string base;
    for (char c : hint) base += std::isalnum(uint8_t(c)) || c == '-' ? c : '-';
    if (base.empty()) base = "r";
    std::string name = base;
    for (int i = 2; defined_.count(name) || primitive_rules().count(name); ++i)
      name = base + "-" + std::to_string(i);
    defined_.insert(name);
    return name;
  }

  std::string literal(const json& value) { return grammar::gbnf_literal(value.dump()); }

  const json& resolve(const std::string& ref, const std::string& where) {
    if (ref.rfind("#", 0) != 0)
      unsupported(where, "the $ref '" + ref + "' (only local references)");
    try {
      const json& target = root_.at(json::json_pointer(ref.substr(1)));
      return target;
    } catch (const json::exception&) {
      malformed(where, "the $ref '" + ref + "' points nowhere");
    }
  }

  std::string ref_rule(const std::string& ref, const std::string& where) {
    if (const auto it = ref_rules_.find(ref); it != ref_rules_.end()) return it->second;
    const json& target = resolve(ref, where);
    const std::string hint = ref.substr(ref.find_last_of('/') + 1);
    const std::string name = unique_name(hint.empty() ? "ref" : hint);
    ref_rules_[ref] = name;  // before visiting: recursive references find it
    const size_t slot = rules_.size();
    rules_.push_back({name, ""});
    const std::string body = visit(target, ref, name);
    rules_[slot].second = body;
    return name;
  }

  void check_keywords(const json& s, const std::string& where) {
    for (const auto& [key, _] : s.items())
      if (!supported_keywords().count(key) && !annotation_keywords().count(key))
        unsupported(where, "the keyword '" + key + "'");
  }

  // The keywords of s besides annotations and the listed ones.
  static std::vector<std::string> other_keywords(const json& s,
                                                 const std::set<std::string>& listed) {
    std::vector<std::string> out;
    for (const auto& [key, _] : s.items())
      if (!annotation_keywords().count(key) && !listed.count(key)) out.push_back(key);
    return out;
  }

  // A GBNF expression matching the JSON text of the values valid against `s`.
  std::string visit(const json& s, const std::string& where, const std::string& hint) {
    // References chain subschemas deeper than the text nests them.
    if (++depth_ > 4 * kMaxSchemaDepth)
      unsupported(where, "subschemas (through $ref) nested more than " +
                             std::to_string(4 * kMaxSchemaDepth) + " deep");
    std::string out = visit_schema(s, where, hint);
    --depth_;
    return out;
  }

  std::string visit_schema(const json& s, const std::string& where, const std::string& hint) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) unsatisfiable(where, "the schema is false");
      return primitive("value");
    }
    if (!s.is_object()) malformed(where, "a schema must be an object or a boolean");
    check_keywords(s, where);
    if (s.contains("$ref")) {
      if (const auto others = other_keywords(s, {"$ref"}); !others.empty())
        unsupported(where, "'" + others[0] + "' beside $ref");
      if (!s["$ref"].is_string()) malformed(where, "$ref must be a string");
      return ref_rule(s["$ref"].get<std::string>(), where);
    }
    for (const char* combinator : {"anyOf", "oneOf"}) {
      if (!s.contains(combinator)) continue;
      if (const auto others = other_keywords(s, {combinator}); !others.empty())
        unsupported(where, "'" + others[0] + "' beside " + combinator);
      const json& list = s[combinator];
      if (!list.is_array() || list.empty())
        malformed(where, std::string(combinator) + " must be a non-empty array");
      std::vector<std::string> alts;
      for (size_t i = 0; i < list.size(); ++i)
        alts.push_back(visit(list[i], where + "/" + combinator + "/" + std::to_string(i),
                             hint + "-" + std::to_string(i)));
      return new_rule(hint, join(alts, " | "));
    }
    if (s.contains("allOf")) return visit(merge_all_of(s, where), where, hint);
    if (s.contains("const")) return typed_literals(s, {s["const"]}, where);
    if (s.contains("enum")) {
      if (!s["enum"].is_array()) malformed(where, "enum must be an array");
      return typed_literals(s, std::vector<json>(s["enum"].begin(), s["enum"].end()), where);
    }

    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      if (t.is_string())
        types.push_back(t.get<std::string>());
      else if (t.is_array())
        for (const json& e : t) {
          if (!e.is_string()) malformed(where, "type must be a string or an array of strings");
          types.push_back(e.get<std::string>());
        }
      else
        malformed(where, "type must be a string or an array of strings");
      if (types.empty()) unsatisfiable(where, "an empty list of types");
    } else {
      types = implied_types(s);
    }
    std::vector<std::string> alts;
    for (const std::string& t : types) alts.push_back(visit_type(s, t, where, hint));
    if (alts.size() == 1 && alts[0].find(' ') == std::string::npos) return alts[0];
    return new_rule(hint, join(alts, " | "));
  }

  static std::vector<std::string> implied_types(const json& s) {
    auto has = [&](std::initializer_list<const char*> keys) {
      for (const char* k : keys)
        if (s.contains(k)) return true;
      return false;
    };
    std::vector<std::string> types;
    if (has({"properties", "required", "additionalProperties"})) types.push_back("object");
    if (has({"items", "prefixItems", "additionalItems", "minItems", "maxItems"}))
      types.push_back("array");
    if (has({"minLength", "maxLength", "pattern", "format"})) types.push_back("string");
    if (has({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}))
      types.push_back("integer");
    if (types.empty()) types.push_back("any");
    return types;
  }

  // enum / const: the listed values (those of an allowed type when `type` is given).
  std::string typed_literals(const json& s, const std::vector<json>& values,
                             const std::string& where) {
    if (const auto others = other_keywords(s, {"enum", "const", "type"}); !others.empty())
      unsupported(where, "'" + others[0] + "' beside enum/const");
    std::set<std::string> allowed;
    if (s.contains("type")) {
      if (s["type"].is_string())
        allowed.insert(s["type"].get<std::string>());
      else
        for (const json& t : s["type"]) allowed.insert(t.get<std::string>());
    }
    auto type_of = [](const json& v) -> std::vector<std::string> {
      if (v.is_null()) return {"null"};
      if (v.is_boolean()) return {"boolean"};
      if (v.is_number_integer() || v.is_number_unsigned()) return {"integer", "number"};
      if (v.is_number_float())
        return std::floor(v.get<double>()) == v.get<double>()
                   ? std::vector<std::string>{"integer", "number"}
                   : std::vector<std::string>{"number"};
      if (v.is_string()) return {"string"};
      if (v.is_array()) return {"array"};
      return {"object"};
    };
    std::vector<std::string> alts;
    for (const json& v : values) {
      bool ok = allowed.empty();
      for (const auto& t : type_of(v)) ok |= allowed.count(t) > 0;
      if (ok) alts.push_back(literal(v));
    }
    if (alts.empty()) unsatisfiable(where, "no enum/const value has an allowed type");
    return "( " + join(alts, " | ") + " )";
  }

  json merge_all_of(const json& s, const std::string& where) {
    if (const auto others =
            other_keywords(s, {"allOf", "type", "properties", "required", "additionalProperties"});
        !others.empty())
      unsupported(where, "'" + others[0] + "' beside allOf");
    json merged = json::object();
    merged["type"] = "object";
    merged["properties"] = json::object();
    merged["required"] = json::array();
    std::set<std::string> required;
    auto absorb = [&](const json& part, const std::string& at) {
      if (!part.is_object()) unsupported(at, "allOf of anything but object schemas");
      if (const auto others = other_keywords(
              part, {"type", "properties", "required", "additionalProperties", "allOf"});
          !others.empty())
        unsupported(at, "'" + others[0] + "' in a part of allOf (only object schemas are merged)");
      if (part.contains("type") && part["type"] != "object")
        unsatisfiable(at, "allOf of an object schema and a non-object schema");
      if (part.contains("properties"))
        for (const auto& [k, v] : part["properties"].items()) merged["properties"][k] = v;
      if (part.contains("required"))
        for (const json& r : part["required"])
          if (required.insert(r.get<std::string>()).second) merged["required"].push_back(r);
      if (part.contains("additionalProperties"))
        merged["additionalProperties"] = part["additionalProperties"];
    };
    // additionalProperties only sees the properties of its own schema object, not those of the
    // other parts: merging would change its meaning.
    auto no_additional = [&](const json& part, const std::string& at) {
      if (part.is_object() && part.contains("additionalProperties") &&
          part["additionalProperties"] != json(true))
        unsupported(at, "additionalProperties in or beside allOf");
    };
    no_additional(s, where);
    absorb(s, where);  // the keywords beside allOf
    const json& list = s["allOf"];
    if (!list.is_array() || list.empty()) malformed(where, "allOf must be a non-empty array");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string at = where + "/allOf/" + std::to_string(i);
      const json* part = &list[i];
      if (part->is_object() && part->contains("$ref"))
        part = &resolve((*part)["$ref"].get<std::string>(), at);
      if (part->is_object() && part->contains("allOf")) {
        const json inner = merge_all_of(*part, at);
        absorb(inner, at);
      } else {
        absorb(*part, at);
      }
    }
    return merged;
  }

  std::string visit_type(const json& s, const std::string& type, const std::string& where,
                         const std::string& hint) {
    if (type == "any") return primitive("value");
    if (type == "null") return primitive("null");
    if (type == "boolean") return primitive("boolean");
    if (type == "string") return string_rule(s, where, hint);
    if (type == "integer") return integer_rule(s, where, hint);
    if (type == "number") {
      for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
        if (s.contains(k))
          unsupported(where, std::string("'") + k + "' on numbers (only on integers)");
      return primitive("number");
    }
    if (type == "object") return object_rule(s, where, hint);
    if (type == "array") return array_rule(s, where, hint);
    malformed(where, "unknown type '" + type + "'");
  }

  static int64_t count_keyword(const json& s, const char* key, int64_t fallback,
                               const std::string& where) {
    if (!s.contains(key)) return fallback;
    const json& v = s[key];
    if (!v.is_number_integer() && !v.is_number_unsigned())
      malformed(where, std::string(key) + " must be an integer");
    const int64_t n = v.get<int64_t>();
    if (n < 0) malformed(where, std::string(key) + " must not be negative");
    return n;
  }

  std::string string_rule(const json& s, const std::string& where, const std::string& hint) {
    const int64_t min = count_keyword(s, "minLength", 0, where);
    const int64_t max = count_keyword(s, "maxLength", -1, where);
    const bool bounded = s.contains("minLength") || s.contains("maxLength");
    if (max >= 0 && min > max) unsatisfiable(where, "minLength > maxLength");
    if (s.contains("format")) {
      if (bounded || s.contains("pattern"))
        unsupported(where, "format together with a length or pattern");
      const std::string f = s["format"].is_string() ? s["format"].get<std::string>() : "";
      if (f != "date" && f != "time" && f != "date-time" && f != "uuid" && f != "email")
        unsupported(where, "the format '" + f + "'");
      return new_rule(hint, "\"\\\"\" " + primitive(f) + " \"\\\"\"");
    }
    if (s.contains("pattern")) {
      if (bounded) unsupported(where, "pattern together with minLength/maxLength");
      if (!s["pattern"].is_string()) malformed(where, "pattern must be a string");
      const std::string body =
          grammar::regex_to_gbnf(s["pattern"].get<std::string>(), primitive("char"));
      return new_rule(hint, "\"\\\"\" " + body + " \"\\\"\"");
    }
    if (!bounded) return primitive("string");
    if (min > 10000 || max > 10000) unsupported(where, "string lengths above 10000");
    const std::string count = max < 0 ? "{" + std::to_string(min) + ",}"
                                      : "{" + std::to_string(min) + "," + std::to_string(max) + "}";
    return new_rule(hint, "\"\\\"\" " + primitive("plain-char") + count + " \"\\\"\"");
  }

  std::string integer_rule(const json& s, const std::string& where, const std::string& hint) {
    int64_t lo = -kIntegerLimit, hi = kIntegerLimit;
    bool bounded = false;
    auto bound = [&](const char* key, bool lower, bool exclusive) {
      if (!s.contains(key)) return;
      const json& v = s[key];
      if (v.is_boolean()) unsupported(where, std::string("boolean '") + key + "' (draft 4)");
      if (!v.is_number()) malformed(where, std::string(key) + " must be a number");
      const double x = v.get<double>();
      double b = lower ? (exclusive ? std::floor(x) + 1 : std::ceil(x))
                       : (exclusive ? std::ceil(x) - 1 : std::floor(x));
      b = std::clamp(b, double(-kIntegerLimit), double(kIntegerLimit));
      if (lower)
        lo = std::max(lo, int64_t(b));
      else
        hi = std::min(hi, int64_t(b));
      bounded = true;
    };
    bound("minimum", true, false);
    bound("exclusiveMinimum", true, true);
    bound("maximum", false, false);
    bound("exclusiveMaximum", false, true);
    if (!bounded) return primitive("integer");
    if (lo > hi) unsatisfiable(where, "no integer lies between the minimum and the maximum");
    std::vector<std::string> alts;
    if (lo < 0) alts.push_back("\"-\" " + naturals_between(hi < 0 ? -hi : 1, -lo));
    if (hi >= 0) alts.push_back(naturals_between(std::max<int64_t>(lo, 0), hi));
    return new_rule(hint, join(alts, " | "));
  }

  std::string object_rule(const json& s, const std::string& where, const std::string& hint) {
    struct Property {
      std::string key;  // GBNF literal of the quoted name
      std::string value;
      bool required;
    };
    std::vector<Property> props;
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) malformed(where, "required must be an array");
      for (const json& r : s["required"]) {
        if (!r.is_string()) malformed(where, "required must list strings");
        required.insert(r.get<std::string>());
      }
    }
    std::set<std::string> listed;
    if (s.contains("properties")) {
      if (!s["properties"].is_object()) malformed(where, "properties must be an object");
      for (const auto& [name, schema] : s["properties"].items()) {
        listed.insert(name);
        props.push_back({literal(json(name)),
                         visit(schema, where + "/properties/" + name, hint + "-" + name),
                         required.count(name) > 0});
      }
    }
    // Extra properties: absent means none when properties are listed, any value otherwise.
    std::string extra;
    if (s.contains("additionalProperties")) {
      const json& a = s["additionalProperties"];
      if (!(a.is_boolean() && !a.get<bool>()))
        extra = visit(a, where + "/additionalProperties", hint + "-additional");
    } else if (props.empty()) {
      extra = primitive("value");
    }
    for (const std::string& r : required) {
      if (listed.count(r)) continue;
      if (extra.empty()) unsatisfiable(where, "required property '" + r + "' is not allowed");
      props.push_back({literal(json(r)), extra, true});
    }

    primitive("ws");
    // tail(i, emitted): the members from property i on, after a first member or not.
    std::map<std::pair<size_t, bool>, std::string> tails;
    std::function<std::string(size_t, bool)> tail = [&](size_t i, bool emitted) -> std::string {
      if (const auto it = tails.find({i, emitted}); it != tails.end()) return it->second;
      std::string body;
      if (i == props.size()) {
        if (extra.empty()) return tails[{i, emitted}] = "";
        const std::string member = other_key(listed, hint) + " ws \":\" ws " + extra + " ws";
        body = emitted ? "( \",\" ws " + member + " )*"
                       : "( " + member + " ( \",\" ws " + member + " )* )?";
      } else {
        const Property& p = props[i];
        const std::string rest = tail(i + 1, true);
        std::string present =
            (emitted ? "\",\" ws " : "") + p.key + " ws \":\" ws " + p.value + " ws";
        if (!rest.empty()) present += " " + rest;
        if (p.required) {
          body = present;
        } else {
          const std::string skipped = tail(i + 1, emitted);
          body = "( " + present + " )" + (skipped.empty() ? "?" : " | " + skipped);
        }
      }
      return tails[{i, emitted}] = new_rule(hint + "-" + std::to_string(i), body);
    };
    const std::string members = tail(0, false);
    return new_rule(hint, "\"{\" ws " + (members.empty() ? "" : members + " ") + "\"}\"");
  }

  // A JSON string that is none of `names`, so an extra property cannot repeat a listed one. Its
  // characters are written plainly (no escapes: "\u0061" would be the name "a" again).
  std::string other_key(const std::set<std::string>& names, const std::string& hint) {
    std::string key_char = "[^\"\\\\\\x00-\\x1F]";
    if (names.empty()) return new_rule(hint + "-key", "\"\\\"\" " + key_char + "* \"\\\"\"");
    // A trie of the names (as code points): leave it anywhere but at the end of a name.
    struct Node {
      std::map<uint32_t, size_t> children;
      bool is_name = false;
    };
    std::vector<Node> trie(1);
    for (const std::string& name : names) {
      std::vector<uint32_t> cps;
      bool plain = true;
      for (size_t at = 0; at < name.size() && plain;) {
        uint32_t cp = 0;
        plain = grammar::next_utf8(name, at, cp) && cp >= 0x20 && cp != '"' && cp != '\\';
        cps.push_back(cp);
      }
      if (!plain) continue;
      size_t n = 0;
      for (uint32_t cp : cps) {
        auto it = trie[n].children.find(cp);
        if (it == trie[n].children.end()) {
          trie.push_back({});
          it = trie[n].children.emplace(cp, trie.size() - 1).first;
        }
        n = it->second;
      }
      trie[n].is_name = true;
    }
    const std::string any_rest = new_rule(hint + "-key-rest", key_char + "*");
    std::function<std::string(size_t)> node_rule = [&](size_t n) -> std::string {
      std::vector<std::string> alts;
      if (!trie[n].is_name) alts.push_back("\"\"");
      std::vector<grammar::CharRange> taken = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
      for (const auto& [cp, child] : trie[n].children) {
        taken.push_back({cp, cp});
        std::string c;
        grammar::append_utf8(c, cp);
        alts.push_back(grammar::gbnf_literal(c) + " " + node_rule(child));
      }
      const auto others = grammar::normalize_ranges(taken, true);
      if (!others.empty()) alts.push_back(grammar::gbnf_class(others) + " " + any_rest);
      return new_rule(hint + "-key", join(alts, " | "));
    };
    return new_rule(hint + "-key", "\"\\\"\" " + node_rule(0) + " \"\\\"\"");
  }

  std::string array_rule(const json& s, const std::string& where, const std::string& hint) {
    std::vector<const json*> prefix;
    const json* rest_schema = nullptr;  // nullptr: no items after the prefix
    static const json any = true;
    rest_schema = &any;
    auto take_prefix = [&](const json& list, const char* key) {
      if (!list.is_array()) malformed(where, std::string(key) + " must be an array");
      for (const json& e : list) prefix.push_back(&e);
    };
    if (s.contains("prefixItems")) take_prefix(s["prefixItems"], "prefixItems");
    if (s.contains("items")) {
      if (s["items"].is_array()) {
        take_prefix(s["items"], "items");
        if (s.contains("additionalItems")) rest_schema = &s["additionalItems"];
      } else {
        rest_schema = &s["items"];
      }
    }
    if (rest_schema->is_boolean() && !rest_schema->get<bool>()) rest_schema = nullptr;
    const int64_t min = count_keyword(s, "minItems", 0, where);
    int64_t max = count_keyword(s, "maxItems", -1, where);
    if (!rest_schema && (max < 0 || max > int64_t(prefix.size()))) max = int64_t(prefix.size());
    if (max >= 0 && min > max)
      unsatisfiable(where, "minItems > maxItems (or more items than allowed)");
    if (min > 10000 || max > 10000) unsupported(where, "item counts above 10000");

    std::vector<std::string> item(prefix.size());
    for (size_t j = 0; j < prefix.size(); ++j)
      item[j] = visit(*prefix[j], where + "/prefixItems/" + std::to_string(j),
                      hint + "-" + std::to_string(j));
    std::string rest;
    if (rest_schema) rest = visit(*rest_schema, where + "/items", hint + "-item");
    primitive("ws");

    // tail(j): the items from index j on.
    std::vector<std::string> tails;
    std::function<std::string(size_t)> tail = [&](size_t j) -> std::string {
      if (max >= 0 && int64_t(j) >= max) return "";
      const std::string sep = j > 0 ? "\",\" ws " : "";
      const std::string element = j < prefix.size() ? item[j] : rest;
      if (j >= prefix.size() && max < 0 && int64_t(j) >= min) {
        const std::string more = "( \",\" ws " + rest + " ws )*";
        if (j > 0) return new_rule(hint + "-tail", more);
        return new_rule(hint + "-tail", "( " + rest + " ws " + more + " )?");
      }
      const std::string next = tail(j + 1);
      std::string present = sep + element + " ws" + (next.empty() ? "" : " " + next);
      if (int64_t(j) < min) return new_rule(hint + "-" + std::to_string(j), present);
      return new_rule(hint + "-" + std::to_string(j), "( " + present + " )?");
    };
    const std::string items = tail(0);
    return new_rule(hint, "\"[\" ws " + (items.empty() ? "" : items + " ") + "\"]\"");
  }

  json root_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> defined_{"root"};
  std::map<std::string, std::string> ref_rules_;
  int depth_ = 0;  // visit() calls in progress
};

}  // namespace

std::string json_schema_to_gbnf(std::string_view schema_json) {
  json schema;
  try {
    schema = json::parse(schema_json);
  } catch (const json::exception& e) {
    throw Error(std::string("JSON Schema: not valid JSON: ") + e.what());
  }
  // The converter recurses into subschemas (and dumps const / enum values recursively).
  std::vector<std::pair<const json*, int>> todo{{&schema, 1}};
  while (!todo.empty()) {
    const auto [value, depth] = todo.back();
    todo.pop_back();
    if (depth > kMaxSchemaDepth)
      throw Error("JSON Schema: nested more than " + std::to_string(kMaxSchemaDepth) + " deep");
    if (value->is_structured())
      for (const json& child : *value) todo.push_back({&child, depth + 1});
  }
  return SchemaConverter(std::move(schema)).convert();
}

Grammar Grammar::from_json_schema(std::string_view schema_json) {
  const std::string gbnf = json_schema_to_gbnf(schema_json);
  try {
    return parse(gbnf);
  } catch (const Error& e) {
    // The converter's own checks catch most impossible schemas; what is left (a property that
    // requires its own type forever) shows up as a rule that can never finish.
    throw Error(e.kind(), std::string("JSON Schema can never be satisfied (or converts to an "
                                      "invalid grammar): ") +
                              e.what());
  }
}

Grammar Grammar::any_json_object() {
  static const Grammar g = from_json_schema(R"({"type": "object"})");
  return g;
}

}  // namespace minillm
