// The server's response_format cache: the same schema shares one constraint, and a constraint
// that has grown past the refresh size is compiled afresh for the next request while the
// requests holding the old one keep it.
#include <gtest/gtest.h>

#include "grammar_test_util.h"
#include "response_format.h"

namespace minillm::serve {
namespace {

using json = nlohmann::ordered_json;

const json kSchema = json::parse(R"({"response_format": {"type": "json_schema",
  "json_schema": {"name": "n", "schema": {"type": "object",
  "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}})")["response_format"];

// A matcher walks a little text, so the constraint grows.
void use(const std::shared_ptr<GrammarConstraint>& c) {
  GrammarMatcher m(c);
  for (char ch : std::string("{\"a\": 12}")) {
    m.allowed_tokens();
    m.accept(int32_t(uint8_t(ch)));
  }
}

TEST(ResponseFormats, TheSameSchemaSharesOneConstraint) {
  const Tokenizer tok = test::byte_tokenizer();
  ResponseFormats formats(tok);
  auto first = formats.constraint(kSchema);
  ASSERT_NE(first, nullptr);
  use(first);
  EXPECT_EQ(formats.constraint(kSchema), first);
  EXPECT_EQ(formats.constraint(json{{"type", "json_object"}}),
            formats.constraint(json{{"type", "json_object"}}));
  EXPECT_EQ(formats.constraint(json{{"type", "text"}}), nullptr);
}

TEST(ResponseFormats, AConstraintPastTheRefreshSizeIsCompiledAfresh) {
  const Tokenizer tok = test::byte_tokenizer();
  auto fresh = GrammarConstraint::create(
      Grammar::from_json_schema(kSchema["json_schema"]["schema"].dump()), tok);
  const size_t limit = fresh->memory_bytes() + 1;  // anything used grows past it
  ResponseFormats formats(tok, limit);
  auto first = formats.constraint(kSchema);
  EXPECT_EQ(formats.constraint(kSchema), first) << "not grown yet: kept";
  use(first);
  ASSERT_GT(first->memory_bytes(), limit);
  auto second = formats.constraint(kSchema);
  EXPECT_NE(second, first);
  EXPECT_LE(second->memory_bytes(), limit);
  use(first);  // the old one still works for whoever holds it
  EXPECT_EQ(formats.constraint(kSchema), second);
}

}  // namespace
}  // namespace minillm::serve
