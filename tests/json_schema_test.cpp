// JSON Schema -> grammar: each supported keyword accepts the JSON texts that validate and rejects
// those that do not (checked on hand-written instances), integer ranges agree with arithmetic for
// every number around them, unsupported keywords and impossible schemas are refused with errors
// that name them, and random walks through the schema grammars with the Llama 2 vocabulary agree
// with the reference recognizer. (Generated text is validated by an independent validator,
// Python's jsonschema, in grammar_schema_validation.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "grammar_fuzz.h"
#include "grammar_test_util.h"
#include "minillm/error.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

bool matches(const std::string& schema, const std::string& text) {
  return test::grammar_matches(Grammar::from_json_schema(schema), text);
}

void expect_schema(const std::string& schema, std::initializer_list<const char*> good,
                   std::initializer_list<const char*> bad) {
  SCOPED_TRACE(schema);
  const Grammar g = Grammar::from_json_schema(schema);
  for (const char* s : good) EXPECT_TRUE(test::grammar_matches(g, s)) << "should match: " << s;
  for (const char* s : bad) EXPECT_FALSE(test::grammar_matches(g, s)) << "should not match: " << s;
}

TEST(JsonSchema, Types) {
  expect_schema(R"({"type": "string"})", {R"("")", R"("a\"b\u00e9")", "\"\xc3\xa9\""},
                {"1", R"("a)", "\"\x01\""});
  expect_schema(R"({"type": "number"})",
                {"0", "-1.5", "3e10", "1234567890123456.1234567890123456", "1E-99"},
                {"01", "1.", ".5", "+1", "12345678901234567", "1.12345678901234567", "1e100"});
  expect_schema(R"({"type": "integer"})", {"0", "-12", "9999999999999999"},
                {"1.0", "-", "00", "10000000000000000"});
  expect_schema(R"({"type": "boolean"})", {"true", "false"}, {"1", "True"});
  expect_schema(R"({"type": "null"})", {"null"}, {"0", "nul"});
  expect_schema(R"({"type": ["integer", "null"]})", {"1", "null"}, {"\"1\"", "true"});
  expect_schema(R"({})", {"1", "[1, {\"a\": null}]", "\"x\""}, {"", "[1,]"});
  expect_schema(R"({"type": "object"})", {"{}", R"({"a": [1, {"b": 2}]})"}, {"[]", "{a:1}"});
}

TEST(JsonSchema, WhitespaceIsBounded) {
  // Between two tokens: nothing, one space, or a newline and up to 20 spaces or tabs.
  const std::string indent20(20, ' '), indent21(21, ' ');
  expect_schema(R"({"type": "array", "items": {"type": "integer"}})", {"[ 1 ,\n2\n]", "[\n\t\t1]"},
                {"[  1]", "[\n\n1]", "[ \n1]"});
  EXPECT_TRUE(matches(R"({"type": "array"})", "[\n" + indent20 + "1]"));
  EXPECT_FALSE(matches(R"({"type": "array"})", "[\n" + indent21 + "1]"));
}

TEST(JsonSchema, PropertiesRequiredAndOrder) {
  const char* schema = R"({"type": "object", "properties": {"a": {"type": "integer"},
      "b": {"type": "string"}, "c": {"type": "boolean"}}, "required": ["b"]})";
  expect_schema(schema,
                {R"({"b": ""})", R"({"a": 1, "b": "x"})", R"({"b": "x", "c": true})",
                 R"({ "a" : 1 , "b" : "x" , "c" : false })"},
                {"{}", R"({"a": 1})", R"({"b": "x", "a": 1})", R"({"b": "x",})",
                 R"({"b": "x", "d": 1})", R"({"a": 1, "a": 1, "b": ""})"});
  // additionalProperties: a schema for the others; true = any value.
  expect_schema(
      R"({"properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}})",
      {R"({"a": 1, "x": true, "y": false})", R"({"x": true})", "{}"},
      {R"({"x": 1})", R"({"x": true, "a": 1})", R"({"a": true})", R"({"\u0061": true})"});
  // Extra keys never repeat a listed name, also when one name is a prefix of another.
  expect_schema(R"({"properties": {"ab": {"type": "integer"}, "abc": {"type": "integer"}},
                    "additionalProperties": {"type": "null"}})",
                {R"({"ab": 1, "a": null, "abcd": null, "b": null, "": null})"},
                {R"({"ab": null})", R"({"abc": null})", R"({"ab": 1, "ab": null})"});
  expect_schema(R"({"properties": {"a": {"type": "integer"}}, "additionalProperties": true})",
                {R"({"a": 1, "x": [null]})"}, {R"({"a": "1"})"});
  expect_schema(R"({"type": "object", "additionalProperties": false})", {"{}", "{ }"},
                {R"({"a": 1})"});
  // A required property that is not listed takes the additionalProperties schema.
  expect_schema(R"({"required": ["z"], "additionalProperties": {"type": "integer"}})",
                {R"({"z": 1})"}, {"{}", R"({"z": "1"})"});
}

TEST(JsonSchema, Arrays) {
  expect_schema(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3})",
                {"[1]", "[1, 2, 3]"}, {"[]", "[1, 2, 3, 4]", "[\"a\"]"});
  expect_schema(R"({"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false})",
                {"[]", R"(["a"])", R"(["a", 1])"}, {R"([1])", R"(["a", 1, 2])"});
  expect_schema(
      R"({"prefixItems": [{"type": "string"}], "items": {"type": "boolean"}, "minItems": 2})",
      {R"(["a", true])", R"(["a", true, false])"}, {R"(["a"])", R"(["a", 1])"});
  expect_schema(R"({"items": [{"const": 1}], "additionalItems": {"type": "null"}})",
                {"[1]", "[1, null, null]"}, {"[2]", "[1, 1]"});
}

TEST(JsonSchema, EnumConstAndCombinators) {
  expect_schema(R"({"enum": ["a", 1, null, {"k": [true]}]})",
                {R"("a")", "1", "null", R"({"k":[true]})"}, {R"("b")", "2", R"({"k": [true]})"});
  expect_schema(R"({"type": "string", "enum": ["a", 1]})", {R"("a")"}, {"1"});
  expect_schema(R"({"const": "x\"y"})", {R"("x\"y")"}, {R"("x")"});
  expect_schema(R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]})",
                {"1", R"("a")"}, {R"("ab")", "null"});
  expect_schema(R"({"oneOf": [{"type": "boolean"}, {"type": "null"}]})", {"true", "null"}, {"1"});
  expect_schema(R"({"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                              {"properties": {"b": {"type": "integer"}}}]})",
                {R"({"a": 1})", R"({"a": 1, "b": 2})"}, {R"({"b": 2})", "{}"});
}

TEST(JsonSchema, RefsAndRecursion) {
  const char* schema = R"({"$defs": {"list": {"type": "object", "properties": {
      "v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/list"}, {"type": "null"}]}},
      "required": ["v", "next"]}}, "$ref": "#/$defs/list"})";
  expect_schema(schema,
                {R"({"v": 1, "next": null})", R"({"v": 1, "next": {"v": 2, "next": null}})"},
                {R"({"v": 1})", R"({"v": 1, "next": {"v": 2}})"});
  expect_schema(
      R"({"definitions": {"n": {"type": "integer"}}, "items": {"$ref": "#/definitions/n"}})",
      {"[1, 2]"}, {"[\"1\"]"});
}

TEST(JsonSchema, Strings) {
  expect_schema(R"({"type": "string", "minLength": 2, "maxLength": 3})",
                {R"("ab")", R"("a\nb")", "\"\xc3\xa9\xc3\xa9\xc3\xa9\""},
                {R"("a")", R"("abcd")", R"("\u0041b")"});
  expect_schema(R"({"type": "string", "pattern": "^[a-c]+\\d{2}(x|yz)?$"})",
                {R"("a12")", R"("cab99yz")", R"("b00x")"}, {R"("a1")", R"("d12")", R"("a12y")"});
  expect_schema(R"({"type": "string", "pattern": "ab"})", {R"("ab")", R"("xxabyy")"}, {R"("ba")"});
  expect_schema(R"({"type": "string", "pattern": "^\"[^a]\\s$"})", {R"("\"b ")", R"("\"\"\n")"},
                {R"("\"a ")"});
  expect_schema(R"({"type": "string", "format": "date"})",
                {R"("2024-02-28")", R"("1999-12-31")", R"("2000-04-30")"},
                {R"("2024-02-30")", R"("2024-04-31")", R"("2024-13-01")", R"("0000-01-01")"});
  expect_schema(R"({"type": "string", "format": "date-time"})",
                {R"("2024-02-28T23:59:59Z")", R"("2024-02-28T00:00:00.123+05:30")"},
                {R"("2024-02-28T24:00:00Z")", R"("2024-02-28 10:00:00Z")"});
  expect_schema(R"({"type": "string", "format": "time"})", {R"("10:00:00Z")"}, {R"("10:00")"});
  expect_schema(R"({"type": "string", "format": "uuid"})",
                {R"("123e4567-e89b-12d3-a456-426614174000")"},
                {R"("123e4567e89b12d3a456426614174000")"});
  expect_schema(R"({"type": "string", "format": "email"})", {R"("a.b@c.org")"},
                {R"("a@b")", R"("@b.c")", R"("a@-b.c")"});
}

TEST(JsonSchema, IntegerRangesAgreeWithArithmetic) {
  const std::pair<int64_t, int64_t> ranges[] = {{0, 0},    {-5, 123},   {7, 1999}, {-1000, -37},
                                                {10, 99},  {100, 1000}, {-9, 9},   {1, 10},
                                                {-200, 0}, {45, 1045}};
  for (const auto& [lo, hi] : ranges) {
    const Grammar g =
        Grammar::from_json_schema(R"({"type": "integer", "minimum": )" + std::to_string(lo) +
                                  R"(, "maximum": )" + std::to_string(hi) + "}");
    for (int64_t v = lo - 150; v <= hi + 150; ++v)
      ASSERT_EQ(test::grammar_matches(g, std::to_string(v)), v >= lo && v <= hi)
          << v << " in [" << lo << ", " << hi << "]";
    EXPECT_FALSE(test::grammar_matches(g, "0" + std::to_string(std::max<int64_t>(lo, 1))));
  }
  expect_schema(R"({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3})", {"1", "2"},
                {"0", "3"});
  expect_schema(R"({"type": "integer", "minimum": 0.5})", {"1", "9999999999999999"}, {"0", "-1"});
  expect_schema(R"({"type": "integer", "maximum": -2})", {"-2", "-9999999999999999"}, {"-1", "0"});
}

TEST(JsonSchema, UnsupportedKeywordsAreNamed) {
  auto error = [](const char* schema) {
    return test::error_of([&] { Grammar::from_json_schema(schema); });
  };
  EXPECT_EQ(error(R"({"type": "string", "contentEncoding": "base64"})"),
            "JSON Schema at #: the keyword 'contentEncoding' is not supported");
  EXPECT_EQ(error(R"({"properties": {"a": {"type": "array", "uniqueItems": true}}})"),
            "JSON Schema at #/properties/a: the keyword 'uniqueItems' is not supported");
  EXPECT_EQ(error(R"({"type": "number", "minimum": 0})"),
            "JSON Schema at #: 'minimum' on numbers (only on integers) is not supported");
  EXPECT_EQ(error(R"({"type": "string", "format": "hostname"})"),
            "JSON Schema at #: the format 'hostname' is not supported");
  EXPECT_EQ(error(R"({"type": "string", "pattern": "(?=a)b"})"),
            "JSON Schema pattern '(?=a)b': a group of the form (?...) other than (?:...) is not "
            "supported");
  EXPECT_EQ(error(R"({"allOf": [{"properties": {"a": {}}}], "additionalProperties": false})"),
            "JSON Schema at #: additionalProperties in or beside allOf is not supported");
  EXPECT_EQ(error(R"({"$ref": "other.json#/a"})"),
            "JSON Schema at #: the $ref 'other.json#/a' (only local references) is not supported");
  try {
    Grammar::from_json_schema(R"({"not": {}})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
}

TEST(JsonSchema, ImpossibleSchemasAreRefused) {
  auto error = [](const char* schema) {
    return test::error_of([&] { Grammar::from_json_schema(schema); });
  };
  EXPECT_EQ(error(R"({"type": "string", "minLength": 3, "maxLength": 2})"),
            "JSON Schema at # can never be satisfied: minLength > maxLength");
  EXPECT_EQ(error(R"({"type": "integer", "minimum": 5, "maximum": 4})"),
            "JSON Schema at # can never be satisfied: no integer lies between the minimum and the "
            "maximum");
  EXPECT_EQ(error(R"({"type": "array", "minItems": 2, "maxItems": 1})"),
            "JSON Schema at # can never be satisfied: minItems > maxItems (or more items than "
            "allowed)");
  EXPECT_EQ(error(R"({"properties": {"a": false}, "required": ["a"]})"),
            "JSON Schema at #/properties/a can never be satisfied: the schema is false");
  EXPECT_EQ(error(R"({"properties": {}, "required": ["a"], "additionalProperties": false})"),
            "JSON Schema at # can never be satisfied: required property 'a' is not allowed");
  EXPECT_EQ(error(R"({"type": "string", "enum": [1, 2]})"),
            "JSON Schema at # can never be satisfied: no enum/const value has an allowed type");
  EXPECT_EQ(error(R"({"type": []})"),
            "JSON Schema at # can never be satisfied: an empty list of types");
  // Recursion with no way out: every node needs another node.
  EXPECT_NE(
      error(R"({"$defs": {"n": {"properties": {"c": {"$ref": "#/$defs/n"}}, "required": ["c"]}},
                      "$ref": "#/$defs/n"})")
          .find("JSON Schema can never be satisfied"),
      std::string::npos);
  EXPECT_NE(error("{not json").find("JSON Schema: not valid JSON"), std::string::npos);
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += R"({"items": )";
  deep += "{}" + std::string(5000, '}');
  EXPECT_EQ(error(deep.c_str()), "JSON Schema: nested more than 128 deep");
  std::string chain = R"({"$defs": {)";
  for (int i = 0; i < 3000; ++i)
    chain +=
        "\"d" + std::to_string(i) + R"(": {"$ref": "#/$defs/d)" + std::to_string(i + 1) + "\"}, ";
  chain += R"("d3000": {"type": "null"}}, "$ref": "#/$defs/d0"})";
  EXPECT_NE(error(chain.c_str()).find("nested more than 512 deep is not supported"),
            std::string::npos);
  const std::string nested = std::string(1000, '(') + "a" + std::string(1000, ')');
  EXPECT_EQ(
      error((R"({"type": "string", "pattern": ")" + nested + R"("})").c_str()),
      "JSON Schema pattern '" + nested + "': groups nested more than 128 deep is not supported");
  EXPECT_EQ(error(R"({"$ref": "#/$defs/missing"})"),
            "JSON Schema at #: the $ref '#/$defs/missing' points nowhere");
}

TEST(JsonSchema, RandomWalksAgreeWithTheReference) {
  const Tokenizer tok = Tokenizer::from_file(test::shared_file("vocab/ggml-vocab-llama-spm.gguf"));
  for (const char* name :
       {"person.json", "arrays.json", "formats.json", "tree.json", "combinators.json"}) {
    SCOPED_TRACE(name);
    const Grammar g = Grammar::from_json_schema(
        test::read_file_bytes(test::source_dir() / "tests/data/grammar/schemas" / name));
    const auto stats = test::fuzz_grammar(g, tok, 80, 7, [](const std::string& text) {
      EXPECT_FALSE(nlohmann::json::parse(text, nullptr, false).is_discarded()) << text;
    });
    if (HasFailure()) return;
    EXPECT_GT(stats.compared, 80);
  }
}

}  // namespace
}  // namespace minillm
