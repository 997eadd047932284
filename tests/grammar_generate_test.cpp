// Grammar-constrained generation through the library: generate() and generate_batch() stop as
// soon as the grammar is complete, every output is a complete match (checked by the reference
// recognizer), a batch gives each request what it gets alone, and a logits processor that forces a
// token the grammar forbids is an error, not silently wrong output.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "grammar_test_util.h"
#include "minillm/batch_session.h"
#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/generate_batch.h"
#include "minillm/minillm_c.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

struct Fixture {
  std::shared_ptr<const Model> model = Model::load(test::shared_file("models/stories260K.gguf"));
  Tokenizer tokenizer = Tokenizer::from_file(test::shared_file("models/stories260K.gguf"));
};

bool complete_match(const Grammar& g, const std::string& text) {
  test::ReferenceRecognizer ref(g);
  std::vector<uint32_t> cps;
  std::string rest;
  return test::decode_utf8(text, cps, rest) && rest.empty() && ref.advance(cps) && ref.complete();
}

const char* kGrammar =
    "root ::= \"The \" animal \" is \" (\"big\" | \"small\") \".\"\n"
    "animal ::= [a-z]{2,8}\n";

TEST(GrammarGenerate, StopsWhenCompleteAndMatches) {
  Fixture f;
  const Grammar g = Grammar::parse(kGrammar);
  auto constraint = GrammarConstraint::create(g, f.tokenizer);
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    Session session(f.model, {.n_ctx = 256});
    GenerateParams p;
    p.max_tokens = 100;
    p.sampling.seed = seed;
    p.grammar = constraint;
    const auto r = generate(session, f.tokenizer, "Once upon a time", p);
    EXPECT_EQ(r.stop, StopReason::EndOfText) << r.text;
    EXPECT_TRUE(complete_match(g, r.text)) << r.text;
    EXPECT_FALSE(f.tokenizer.is_end_of_generation(r.tokens.back()));  // stopped before an EOS
  }
}

TEST(GrammarGenerate, BatchGivesEachRequestWhatItGetsAlone) {
  Fixture f;
  auto constraint =
      GrammarConstraint::create(Grammar::from_json_schema(R"({"type": "object", "properties": {
          "name": {"type": "string", "maxLength": 10}, "age": {"type": "integer", "maximum": 99}},
          "required": ["name", "age"]})"),
                                f.tokenizer);
  std::vector<BatchRequest> requests(6);
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].prompt = f.tokenizer.encode(i % 2 ? "Once upon a time" : "Lily and Ben");
    requests[i].params.max_tokens = 300;
    requests[i].params.sampling.seed = 100 + i;
    requests[i].params.grammar = constraint;  // one constraint shared by every request
  }
  BatchSession batch(f.model, {.n_ctx = 2048, .n_seq_ctx = 340, .n_batch = 64, .n_threads = 2});
  const auto results = generate_batch(batch, f.tokenizer, requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    Session alone(f.model, {.n_ctx = 340});
    const auto want = generate(alone, f.tokenizer, requests[i].prompt, requests[i].params);
    EXPECT_EQ(results[i].tokens, want.tokens) << i;
    EXPECT_EQ(results[i].text, want.text) << i;
    EXPECT_EQ(results[i].stop, StopReason::EndOfText) << results[i].text;
    EXPECT_EQ(results[i].text.front(), '{');
    EXPECT_EQ(results[i].text.back(), '}');
  }
}

TEST(GrammarGenerate, ProcessorForcingAForbiddenTokenIsAnError) {
  Fixture f;
  Session session(f.model, {.n_ctx = 128});
  GenerateParams p;
  p.max_tokens = 10;
  p.grammar = GrammarConstraint::create(Grammar::parse("root ::= [0-9]+\n"), f.tokenizer);
  const int32_t letter = *f.tokenizer.token_id("a");
  p.logits_processor = [&](std::span<float>, std::span<const int32_t>) -> std::optional<int32_t> {
    return letter;
  };
  EXPECT_NE(test::error_of([&] { generate(session, f.tokenizer, "Once", p); }).find("not allowed"),
            std::string::npos);
  // A grammar bound to another vocabulary is refused before generation.
  p.logits_processor = {};
  p.grammar = GrammarConstraint::create(Grammar::parse("root ::= \"a\"\n"), test::byte_tokenizer());
  EXPECT_NE(test::error_of([&] {
              generate(session, f.tokenizer, "Once", p);
            }).find("bound to a vocabulary of 258 tokens"),
            std::string::npos);
}

TEST(GrammarGenerate, CApi) {
  minillm_model* model = nullptr;
  ASSERT_EQ(minillm_model_load(test::shared_file("models/stories260K.gguf").c_str(), &model),
            MINILLM_OK);
  minillm_grammar* grammar = nullptr;
  EXPECT_EQ(minillm_grammar_from_gbnf(model, "root ::= \"a\" b\n", &grammar),
            MINILLM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(grammar, nullptr);
  EXPECT_STREQ(minillm_last_error(), "grammar line 1, column 14: undefined rule 'b'");
  EXPECT_EQ(
      minillm_grammar_from_json_schema(model, R"({"type": "string", "format": "ipv4"})", &grammar),
      MINILLM_ERR_UNSUPPORTED);
  ASSERT_EQ(minillm_grammar_from_json_schema(
                model, R"({"type": "object", "properties": {"n": {"type": "integer"}},
                           "required": ["n"]})",
                &grammar),
            MINILLM_OK);
  minillm_session* session = nullptr;
  ASSERT_EQ(minillm_session_new(model, 512, 1, &session), MINILLM_OK);
  minillm_sampling params = minillm_sampling_default();
  params.max_tokens = 200;
  std::string text;
  ASSERT_EQ(minillm_generate_constrained(
                session, "Once upon a time", &params, grammar,
                [](const char* piece, size_t len, int32_t, void* user) {
                  static_cast<std::string*>(user)->append(piece, len);
                  return 1;
                },
                &text),
            MINILLM_OK);
  const auto parsed = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << text;
  EXPECT_TRUE(parsed.at("n").is_number_integer()) << text;
  minillm_session_free(session);
  minillm_grammar_free(grammar);
  minillm_model_free(model);
}

}  // namespace
}  // namespace minillm
