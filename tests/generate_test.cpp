// Generation: greedy output reproduces llama.cpp's continuations of the trained model, seeds are
// reproducible, streaming equals decoding, and every stop condition is reported.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "generation/stop_strings.h"
#include "minillm/error.h"
#include "minillm/generate.h"
#include "test_data.h"

namespace minillm {
namespace {

using nlohmann::json;

struct Fixture {
  std::shared_ptr<const Model> model;
  Tokenizer tokenizer;
};

const std::filesystem::path& model_path() {
  static const auto p = test::shared_file("models/stories260K.gguf");
  return p;
}

Fixture load() {
  return {Model::load(model_path()), Tokenizer::from_file(model_path())};
}

std::vector<json> prompt_cases() {
  std::ifstream in(test::shared_file("reference/manifest.json"));
  std::vector<json> out;
  if (!in) return out;
  const json manifest = json::parse(in);
  for (const json& c : manifest.at("cases"))
    if (c.contains("llamacpp_greedy_ids")) out.push_back(c);
  return out;
}

GenerateParams greedy(int32_t n) {
  GenerateParams p;
  p.max_tokens = n;
  p.sampling.temperature = 0;
  return p;
}

TEST(Generate, GreedyReproducesLlamaCppContinuations) {
  REQUIRE_SHARED_FILE(model_path());
  REQUIRE_SHARED_FILE(test::shared_file("reference/manifest.json"));
  const auto cases = prompt_cases();
  ASSERT_EQ(cases.size(), 3u);
  Fixture f = load();
  for (const json& c : cases) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const std::string prompt = c.at("prompt");
    EXPECT_EQ(f.tokenizer.encode(prompt), c.at("prompt_ids").get<std::vector<int32_t>>());
    Session session(f.model, {.n_ctx = 128, .n_threads = 2});
    std::string streamed;
    const auto r =
        generate(session, f.tokenizer, prompt, greedy(48), [&](std::string_view text, int32_t) {
          streamed += text;
          return true;
        });
    EXPECT_EQ(r.tokens, c.at("llamacpp_greedy_ids").get<std::vector<int32_t>>());
    EXPECT_EQ(r.stop, StopReason::MaxTokens);
    EXPECT_EQ(streamed, r.text);
    EXPECT_EQ(r.text, f.tokenizer.decode(r.tokens, {.strip_leading_space = false}));
    // The manifest's text is llama.cpp's printed output up to its first line break.
    const std::string expected = c.at("llamacpp_greedy_text");
    EXPECT_EQ(r.text.substr(0, r.text.find('\n')), expected);
    EXPECT_EQ(r.stats.prompt_tokens, c.at("prompt_ids").size());
    EXPECT_EQ(r.stats.generated_tokens, 48u);
  }
}

TEST(Generate, SeedsAreReproducibleAndDistinct) {
  REQUIRE_SHARED_FILE(model_path());
  Fixture f = load();
  auto run = [&](uint64_t seed) {
    GenerateParams p;
    p.max_tokens = 40;
    p.sampling.temperature = 1.0f;
    p.sampling.seed = seed;
    Session session(f.model, {.n_ctx = 64});
    return generate(session, f.tokenizer, "Once upon a time", p).text;
  };
  const std::string a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Generate, StopsAtStopStringWithoutShowingIt) {
  REQUIRE_SHARED_FILE(model_path());
  Fixture f = load();
  Session session(f.model, {.n_ctx = 128});
  GenerateParams p = greedy(48);
  p.stop_strings = {"Lily"};
  std::string streamed;
  const auto r =
      generate(session, f.tokenizer, "Once upon a time", p, [&](std::string_view t, int32_t) {
        streamed += t;
        return true;
      });
  EXPECT_EQ(r.stop, StopReason::StopString);
  EXPECT_EQ(r.text, ", there was a little girl named ");
  EXPECT_EQ(streamed, r.text);
}

TEST(Generate, ReportsAFullContextAndRejectsAnOversizedPrompt) {
  REQUIRE_SHARED_FILE(model_path());
  Fixture f = load();
  Session session(f.model, {.n_ctx = 12});
  GenerateParams p = greedy(-1);
  p.ignore_eos = true;
  const auto r = generate(session, f.tokenizer, "Once upon a time", p);  // 5 prompt tokens
  EXPECT_EQ(r.stop, StopReason::ContextFull);
  EXPECT_EQ(session.n_past(), 12u);
  EXPECT_EQ(r.tokens.size(), 8u);  // 7 evaluated + the last one sampled when the cache was full

  Session small(f.model, {.n_ctx = 3});
  EXPECT_THROW(generate(small, f.tokenizer, "Once upon a time", greedy(4)), Error);
  EXPECT_EQ(small.n_past(), 0u);
}

TEST(Generate, CallbackCanStop) {
  REQUIRE_SHARED_FILE(model_path());
  Fixture f = load();
  Session session(f.model, {.n_ctx = 128});
  int calls = 0;
  const auto r = generate(session, f.tokenizer, "Once upon a time", greedy(48),
                          [&](std::string_view, int32_t) { return ++calls < 3; });
  EXPECT_EQ(r.stop, StopReason::Callback);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(r.tokens.size(), 3u);
}

TEST(StopStringFilter, HoldsBackPossibleStartsAcrossPieces) {
  StopStringFilter f({"</s>", "END"});
  auto o = f.push("hello <");
  EXPECT_EQ(o.text, "hello ");
  EXPECT_FALSE(o.matched);
  o = f.push("/");
  EXPECT_EQ(o.text, "");
  o = f.push("x> E");
  EXPECT_EQ(o.text, "</x> ");
  o = f.push("NDING");
  EXPECT_TRUE(o.matched);
  EXPECT_EQ(o.text, "");
  EXPECT_EQ(f.push("more").text, "");
}

TEST(StopStringFilter, FinalReleasesHeldText) {
  StopStringFilter f({"abc"});
  EXPECT_EQ(f.push("xab").text, "x");
  const auto o = f.push("", true);
  EXPECT_EQ(o.text, "ab");
  EXPECT_FALSE(o.matched);
}

}  // namespace
}  // namespace minillm
