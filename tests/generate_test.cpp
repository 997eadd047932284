// Generation: greedy output reproduces llama.cpp's continuations of the trained model, seeds are
// reproducible, streaming equals decoding, and every stop condition is reported.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
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

// The logits processor sees the session's logits and the ids so far at every step, before
// sampling.
TEST(GenerateLogitsProcessor, SeesEveryStepsLogitsAndTheIdsSoFar) {
  REQUIRE_SHARED_FILE(model_path());
  Fixture f = load();
  const std::vector<int32_t> prompt = f.tokenizer.encode("Once upon a time");
  Session reference(f.model, {.n_ctx = 64});
  const auto first = reference.eval(prompt);
  const std::vector<float> expected_first(first.begin(), first.end());

  std::vector<std::vector<int32_t>> seen;
  GenerateParams p = greedy(6);
  p.logits_processor = [&](std::span<float> logits, std::span<const int32_t> generated) {
    if (seen.empty()) {
      EXPECT_EQ(std::vector<float>(logits.begin(), logits.end()), expected_first);
    }
    EXPECT_EQ(logits.size(), size_t(f.tokenizer.n_vocab()));
    seen.emplace_back(generated.begin(), generated.end());
    return std::optional<int32_t>();
  };
  Session session(f.model, {.n_ctx = 64});
  const auto r = generate(session, f.tokenizer, prompt, p);
  ASSERT_EQ(seen.size(), r.tokens.size());
  for (size_t i = 0; i < seen.size(); ++i)
    EXPECT_EQ(seen[i], std::vector<int32_t>(r.tokens.begin(), r.tokens.begin() + i));
  // Looking without changing anything leaves the output as it was.
  Session plain(f.model, {.n_ctx = 64});
  EXPECT_EQ(generate(plain, f.tokenizer, prompt, greedy(6)).tokens, r.tokens);
}

TEST(GenerateLogitsProcessor, ABannedTokenNeverAppears) {
  REQUIRE_SHARED_FILE(model_path());
  Fixture f = load();
  Session free_session(f.model, {.n_ctx = 128});
  const auto unconstrained = generate(free_session, f.tokenizer, "Once upon a time", greedy(40));
  // Ban the token greedy decoding produces most often.
  std::map<int32_t, int> count;
  for (int32_t id : unconstrained.tokens) ++count[id];
  const int32_t banned = std::max_element(count.begin(), count.end(), [](auto& a, auto& b) {
                           return a.second < b.second;
                         })->first;
  ASSERT_GE(count[banned], 2);

  for (const float temperature : {0.0f, 1.5f}) {
    GenerateParams p = greedy(40);
    p.sampling.temperature = temperature;
    p.sampling.seed = 5;
    p.logits_processor = [&](std::span<float> logits, std::span<const int32_t>) {
      logits[banned] = -INFINITY;
      return std::optional<int32_t>();
    };
    Session session(f.model, {.n_ctx = 128});
    const auto r = generate(session, f.tokenizer, "Once upon a time", p);
    EXPECT_EQ(r.tokens.size(), 40u);
    EXPECT_EQ(std::count(r.tokens.begin(), r.tokens.end(), banned), 0) << temperature;
  }
}

TEST(GenerateLogitsProcessor, ForcesAFixedSequence) {
  REQUIRE_SHARED_FILE(model_path());
  Fixture f = load();
  const std::vector<int32_t> forced =
      f.tokenizer.encode(" the cat sat on the mat.", {.add_bos = false, .add_eos = false});
  ASSERT_GE(forced.size(), 5u);
  GenerateParams p;
  p.max_tokens = int32_t(forced.size());
  p.sampling.seed = 3;  // sampling would pick other tokens; forcing bypasses it
  p.logits_processor = [&](std::span<float>, std::span<const int32_t> generated) {
    return std::optional<int32_t>(forced[generated.size()]);
  };
  Session session(f.model, {.n_ctx = 64});
  std::string streamed;
  const auto r =
      generate(session, f.tokenizer, "Once upon a time", p, [&](std::string_view text, int32_t) {
        streamed += text;
        return true;
      });
  EXPECT_EQ(r.tokens, forced);
  EXPECT_EQ(r.text, f.tokenizer.decode(forced, {.strip_leading_space = false}));
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.stop, StopReason::MaxTokens);

  // A forced end-of-generation token ends generation as a sampled one would.
  p.logits_processor = [&](std::span<float>, std::span<const int32_t>) {
    return std::optional<int32_t>(f.tokenizer.eos_id());
  };
  Session eos_session(f.model, {.n_ctx = 64});
  EXPECT_EQ(generate(eos_session, f.tokenizer, "Once upon a time", p).stop, StopReason::EndOfText);

  // A token outside the vocabulary is the caller's error.
  for (const int32_t bad : {-1, f.tokenizer.n_vocab()}) {
    p.logits_processor = [&](std::span<float>, std::span<const int32_t>) {
      return std::optional<int32_t>(bad);
    };
    Session s(f.model, {.n_ctx = 64});
    try {
      generate(s, f.tokenizer, "Once upon a time", p);
      ADD_FAILURE() << "token " << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    }
  }
}

// A logit bias written as a processor samples exactly as the sampler's own logit_bias does.
TEST(GenerateLogitsProcessor, LogitBiasMatchesTheSamplersBias) {
  REQUIRE_SHARED_FILE(model_path());
  Fixture f = load();
  const int32_t favoured = *f.tokenizer.token_id("▁cat");
  const int32_t banned = *f.tokenizer.token_id("▁the");
  auto run = [&](bool with_processor, bool with_bias) {
    GenerateParams p;
    p.max_tokens = 40;
    p.sampling.temperature = 1.0f;
    p.sampling.seed = 42;
    if (with_bias && with_processor) {
      p.logits_processor = [&](std::span<float> logits, std::span<const int32_t>) {
        logits[favoured] += 8.0f;
        logits[banned] = -INFINITY;
        return std::optional<int32_t>();
      };
    } else if (with_bias) {
      p.sampling.logit_bias = {{favoured, 8.0f}, {banned, -INFINITY}};
    }
    Session session(f.model, {.n_ctx = 128});
    return generate(session, f.tokenizer, "Once upon a time", p).tokens;
  };
  const auto biased = run(true, true);
  const auto unbiased = run(false, false);
  EXPECT_EQ(biased, run(false, true));
  // The bias does change what is generated, in the direction asked.
  auto count = [](const std::vector<int32_t>& ids, int32_t id) {
    return std::count(ids.begin(), ids.end(), id);
  };
  EXPECT_GT(count(biased, favoured), count(unbiased, favoured));
  EXPECT_GT(count(unbiased, banned), 0);
  EXPECT_EQ(count(biased, banned), 0);
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
