// Values of the Jinja template language as Hugging Face chat templates see them: Python's
// None/bool/int/float/str/list/dict, Jinja's Undefined, namespace objects and callables.
// Lists are immutable once built (templates run in an immutable sandbox); only namespace
// objects change, through `{% set ns.attr = ... %}`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace minillm::jinja {

// Every template error: "chat template line N: what".
[[noreturn]] void fail(int line, const std::string& message);

class Value;
using List = std::vector<Value>;

// An insertion-ordered mapping with string keys (Python dicts keep insertion order).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;  // made by namespace(): attributes may be assigned
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);
};

// Arguments of a call: positional, then keyword, as written.
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  int line = 0;
  // The argument at `index` or named `name`; nullptr when absent. Throws when both are given.
  const Value* get(size_t index, std::string_view name) const;
  // Fails unless at most `n_pos` positional arguments and only the named keywords were given.
  void check(std::string_view callee, size_t n_pos,
             std::initializer_list<std::string_view> names) const;
};

struct Function {
  std::string name;
  std::function<Value(CallArgs&)> call;
};

class Value {
 public:
  enum class Type { Undefined, None, Bool, Int, Float, String, List, Dict, Function };
  struct Undef {
    std::string name;  // what was looked up, for error messages
  };
  struct NoneT {};

  Value() = default;  // Undefined
  static Value undefined(std::string name) { return Value(Storage(Undef{std::move(name)})); }
  static Value none() { return Value(Storage(NoneT{})); }
  static Value boolean(bool b) { return Value(Storage(b)); }
  static Value integer(int64_t i) { return Value(Storage(i)); }
  static Value number(double d) { return Value(Storage(d)); }
  static Value string(std::string s) { return Value(Storage(std::move(s))); }
  static Value list(List items) { return Value(Storage(std::make_shared<List>(std::move(items)))); }
  static Value dict(std::shared_ptr<Dict> d) { return Value(Storage(std::move(d))); }
  static Value function(std::string name, std::function<Value(CallArgs&)> fn) {
    return Value(Storage(std::make_shared<Function>(Function{std::move(name), std::move(fn)})));
  }

  Type type() const { return Type(storage_.index()); }
  bool is_undefined() const { return type() == Type::Undefined; }
  bool is_none() const { return type() == Type::None; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_int() const { return type() == Type::Int; }
  bool is_float() const { return type() == Type::Float; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is int
  bool is_string() const { return type() == Type::String; }
  bool is_list() const { return type() == Type::List; }
  bool is_dict() const { return type() == Type::Dict; }
  bool is_mapping() const {
    return is_dict() && !std::get<std::shared_ptr<Dict>>(storage_)->is_namespace;
  }
  bool is_function() const { return type() == Type::Function; }

  bool as_bool() const { return std::get<bool>(storage_); }
  int64_t as_int() const { return std::get<int64_t>(storage_); }
  double as_float() const { return std::get<double>(storage_); }
  // Ints and bools as int64 (callers check is_int()/is_bool() first).
  int64_t int_value() const { return is_bool() ? int64_t(as_bool()) : as_int(); }
  double float_value() const { return is_float() ? as_float() : double(int_value()); }
  const std::string& str() const { return std::get<std::string>(storage_); }
  const List& list() const { return *std::get<std::shared_ptr<List>>(storage_); }
  Dict& dict() const { return *std::get<std::shared_ptr<Dict>>(storage_); }
  const Function& function() const { return *std::get<std::shared_ptr<Function>>(storage_); }
  const std::string& undefined_name() const { return std::get<Undef>(storage_).name; }
  // Same object (Python `is`), for the sameas test.
  bool same_object(const Value& o) const;

 private:
  using Storage =
      std::variant<Undef, NoneT, bool, int64_t, double, std::string, std::shared_ptr<List>,
                   std::shared_ptr<Dict>, std::shared_ptr<Function>>;
  explicit Value(Storage s) : storage_(std::move(s)) {}
  Storage storage_;
};

// Python semantics.
bool truthy(const Value& v);
std::string to_str(const Value& v);  // str(v); Undefined prints as ""
std::string repr(const Value& v);    // repr(v), as str() shows list and dict elements
bool equals(const Value& a, const Value& b);
std::string type_name(const Value& v);  // Python's name: str, int, list, dict, NoneType, ...
std::string py_float_repr(double d);

// json.dumps(v, ensure_ascii, indent, separators, sort_keys) as Hugging Face's tojson calls it.
struct JsonStyle {
  bool ensure_ascii = false;
  int indent = -1;                // -1: no newlines
  std::string item_sep, key_sep;  // empty: Python's defaults for the indent
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonStyle& style, int line);

Value from_json(const nlohmann::ordered_json& j);

// Python strings are sequences of code points; UTF-8 text is decoded for len, slicing and
// indexing. Bytes that are not valid UTF-8 survive a round trip (as U+DC80..U+DCFF).
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
bool py_isspace(char32_t c);

}  // namespace minillm::jinja
