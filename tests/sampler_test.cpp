// Sampler steps against hand-computed distributions, the random stream against published
// vectors and its definition, and the full chain's determinism.
#include "minillm/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "minillm/error.h"

namespace minillm {
namespace {

using namespace sampling;
using Ids = std::vector<int32_t>;

Ids ids_of(const Candidates& c) {
  Ids out;
  for (const Candidate& x : c.items) out.push_back(x.id);
  return out;
}

// Logits ln3, ln2, 0: probabilities 1/2, 1/3, 1/6 for ids 0, 1, 2.
const std::vector<float> kHalfThirdSixth = {std::log(3.0f), std::log(2.0f), 0.0f};

TEST(SamplerSteps, SoftmaxSortsAndNormalizes) {
  Candidates c = Candidates::from_logits(std::vector<float>{0.0f, std::log(2.0f), std::log(3.0f)});
  softmax(c);
  EXPECT_EQ(ids_of(c), (Ids{2, 1, 0}));
  EXPECT_NEAR(c.items[0].prob, 3.0 / 6, 1e-6);
  EXPECT_NEAR(c.items[1].prob, 2.0 / 6, 1e-6);
  EXPECT_NEAR(c.items[2].prob, 1.0 / 6, 1e-6);
}

TEST(SamplerSteps, TemperatureSharpensAndFlattens) {
  // logits 0, ln2 at T = 0.5 become 0, 2 ln2: probabilities 1/5, 4/5.
  Candidates c = Candidates::from_logits(std::vector<float>{0.0f, std::log(2.0f)});
  temperature(c, 0.5f);
  softmax(c);
  EXPECT_NEAR(c.items[0].prob, 0.8, 1e-6);
  EXPECT_NEAR(c.items[1].prob, 0.2, 1e-6);
  // At T = 2 they become 0, ln2 / 2: probabilities 1/(1+sqrt2), sqrt2/(1+sqrt2).
  Candidates d = Candidates::from_logits(std::vector<float>{0.0f, std::log(2.0f)});
  temperature(d, 2.0f);
  softmax(d);
  EXPECT_NEAR(d.items[0].prob, std::sqrt(2.0) / (1 + std::sqrt(2.0)), 1e-6);
}

TEST(SamplerSteps, TopKKeepsTheKBestLowerIdOnTies) {
  const std::vector<float> logits = {1, 5, 3, 5, 2};
  Candidates c = Candidates::from_logits(logits);
  top_k(c, 3);
  EXPECT_EQ(ids_of(c), (Ids{1, 3, 2}));
  Candidates all = Candidates::from_logits(logits);
  top_k(all, 0);  // off
  EXPECT_EQ(all.items.size(), 5u);
  Candidates tie = Candidates::from_logits(std::vector<float>{1, 1, 1});
  top_k(tie, 1);
  EXPECT_EQ(ids_of(tie), (Ids{0}));
}

TEST(SamplerSteps, TopPKeepsSmallestSetReachingP) {
  auto cut = [](float p) {
    Candidates c = Candidates::from_logits(kHalfThirdSixth);
    top_p(c, p);
    return ids_of(c);
  };
  EXPECT_EQ(cut(0.5f), (Ids{0}));        // 1/2 reaches 0.5 exactly
  EXPECT_EQ(cut(0.6f), (Ids{0, 1}));     // 1/2 + 1/3 = 0.833
  EXPECT_EQ(cut(0.9f), (Ids{0, 1, 2}));  // needs all three
  EXPECT_EQ(cut(1.0f), (Ids{0, 1, 2}));
  EXPECT_EQ(cut(0.01f), (Ids{0}));
}

TEST(SamplerSteps, MinPDropsTokensBelowFractionOfBest) {
  auto cut = [](float p) {
    Candidates c = Candidates::from_logits(kHalfThirdSixth);
    min_p(c, p);
    return ids_of(c);
  };
  EXPECT_EQ(cut(0.3f), (Ids{0, 1, 2}));  // threshold 0.15 < 1/6
  EXPECT_EQ(cut(0.34f), (Ids{0, 1}));    // threshold 0.17 > 1/6
  EXPECT_EQ(cut(0.7f), (Ids{0}));        // threshold 0.35 > 1/3
  EXPECT_EQ(cut(1.0f), (Ids{0}));
  EXPECT_EQ(cut(0.0f), (Ids{0, 1, 2}));
}

TEST(SamplerSteps, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  Candidates c = Candidates::from_logits(std::vector<float>{2, -2, 1});
  penalties(c, Ids{0, 1, 0}, 2.0f, 0.0f, 0.0f);  // a repeated token is penalised once
  EXPECT_FLOAT_EQ(c.items[0].logit, 1.0f);
  EXPECT_FLOAT_EQ(c.items[1].logit, -4.0f);
  EXPECT_FLOAT_EQ(c.items[2].logit, 1.0f);
}

TEST(SamplerSteps, FrequencyAndPresencePenalties) {
  Candidates c = Candidates::from_logits(std::vector<float>{3, 3, 3});
  penalties(c, Ids{0, 0, 2}, 1.0f, 0.5f, 1.0f);
  EXPECT_FLOAT_EQ(c.items[0].logit, 3 - (2 * 0.5f + 1));
  EXPECT_FLOAT_EQ(c.items[1].logit, 3);
  EXPECT_FLOAT_EQ(c.items[2].logit, 3 - (1 * 0.5f + 1));
  // The same works after the list has been reordered.
  Candidates s = Candidates::from_logits(std::vector<float>{1, 3, 2});
  softmax(s);
  penalties(s, Ids{1}, 1.0f, 0.0f, 5.0f);
  EXPECT_EQ(s.items[0].id, 1);
  EXPECT_FLOAT_EQ(s.items[0].logit, -2);
}

TEST(SamplerSteps, LogitBiasAddsAndBans) {
  Candidates c = Candidates::from_logits(std::vector<float>{5, 1, 2});
  const std::vector<std::pair<int32_t, float>> bias = {{0, -INFINITY}, {2, 0.5f}, {2, 0.5f}};
  logit_bias(c, bias);
  EXPECT_EQ(greedy(c), 2);
  EXPECT_FLOAT_EQ(c.items[2].logit, 3.0f);
  softmax(c);
  EXPECT_EQ(c.items.back().id, 0);
  EXPECT_EQ(c.items.back().prob, 0.0f);
  Candidates out_of_range = Candidates::from_logits(std::vector<float>{1, 2});
  const std::vector<std::pair<int32_t, float>> bad = {{7, 1.0f}};
  EXPECT_THROW(logit_bias(out_of_range, bad), Error);
}

// ---- the random stream ----

TEST(SamplerRng, SplitMix64PublishedOutputs) {
  uint64_t state = 0;  // reference outputs of splitmix64 started from 0
  EXPECT_EQ(Rng::splitmix64(state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(Rng::splitmix64(state), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(Rng::splitmix64(state), 0x06C45D188009454Full);
}

TEST(SamplerRng, Xoshiro256StarStarPublishedOutputs) {
  // Reference vector for state {1, 2, 3, 4} (as in the rand_xoshiro test suite).
  Rng rng = Rng::from_state({1, 2, 3, 4});
  const uint64_t want[] = {11520ull,
                           0ull,
                           1509978240ull,
                           1215971899390074240ull,
                           1216172134540287360ull,
                           607988272756665600ull};
  for (uint64_t w : want) EXPECT_EQ(rng.next(), w);
  EXPECT_THROW(Rng::from_state({0, 0, 0, 0}), Error);
}

TEST(SamplerRng, SeedingAndUniformFollowTheDefinition) {
  // Seed 0: the state is splitmix64's first four outputs from 0; these outputs and the uniform
  // values (top 53 bits * 2^-53) were worked out from the definitions independently.
  Rng rng(0);
  EXPECT_EQ(rng.next(), 0x99EC5F36CB75F2B4ull);
  EXPECT_EQ(rng.next(), 0xBF6E1F784956452Aull);
  Rng r42(42);
  EXPECT_EQ(r42.next(), 0x15780B2E0C2EC716ull);
  Rng u(0);
  EXPECT_EQ(u.uniform(), static_cast<double>(0x99EC5F36CB75F2B4ull >> 11) * 0x1.0p-53);
  EXPECT_NEAR(Rng(0).uniform(), 0.6012629994179048, 1e-15);
  // Many draws stay in [0, 1).
  for (int i = 0; i < 100000; ++i) {
    const double x = rng.uniform();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
  }
}

TEST(SamplerRng, DifferentSeedsDiffer) {
  Rng a(1), b(2);
  int same = 0;
  for (int i = 0; i < 64; ++i) same += a.next() == b.next();
  EXPECT_EQ(same, 0);
}

// ---- the whole chain ----

SamplerParams plain(uint64_t seed) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

TEST(Sampler, SeededDrawsAreFixed) {
  // With probabilities 1/2, 1/3, 1/6 a uniform u picks id 0 below 0.5, id 1 below 5/6, else 2.
  // Seed 7's first uniforms are 0.7006 0.2788 0.8396 0.9811 0.9909 0.8728 0.0608 0.1044 0.4037
  // 0.1518 0.5414 0.7319 (from the generator's definition).
  Sampler s(plain(7));
  Ids got;
  for (int i = 0; i < 12; ++i) got.push_back(s.sample(kHalfThirdSixth));
  EXPECT_EQ(got, (Ids{1, 0, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1}));
  s.reset();
  EXPECT_EQ(s.sample(kHalfThirdSixth), 1);
}

TEST(Sampler, EmpiricalFrequenciesMatchProbabilities) {
  Sampler s(plain(123));
  int counts[3] = {0, 0, 0};
  const int n = 60000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(kHalfThirdSixth)];
  EXPECT_NEAR(counts[0] / double(n), 1.0 / 2, 0.01);
  EXPECT_NEAR(counts[1] / double(n), 1.0 / 3, 0.01);
  EXPECT_NEAR(counts[2] / double(n), 1.0 / 6, 0.01);
}

TEST(Sampler, SeedsGiveDifferentSequences) {
  const std::vector<float> flat(100, 0.0f);
  Sampler a(plain(1)), b(plain(2));
  int same = 0;
  for (int i = 0; i < 50; ++i) same += a.sample(flat) == b.sample(flat);
  EXPECT_LT(same, 10);  // about 0.5 expected by chance
}

TEST(Sampler, GreedyAtTemperatureZero) {
  SamplerParams p;
  p.temperature = 0.0f;
  Sampler s(p);
  EXPECT_EQ(s.sample(std::vector<float>{1, 7, 3, 7}), 1);  // lowest id among the best
  EXPECT_EQ(s.sample(std::vector<float>{-INFINITY, -5}), 1);
}

TEST(Sampler, RepetitionWindowForgetsOldTokens) {
  SamplerParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 4.0f;
  p.repeat_last_n = 2;
  Sampler s(p);
  const std::vector<float> logits = {4, 2, 0};  // token 0 penalised: 4 / 4 = 1 < 2
  EXPECT_EQ(s.sample(logits), 0);
  s.accept(0);
  EXPECT_EQ(s.sample(logits), 1);
  s.accept(2);
  EXPECT_EQ(s.sample(logits), 1);  // window (0, 2): token 0 still penalised
  s.accept(2);
  EXPECT_EQ(s.sample(logits), 0);  // window (2, 2): token 0 forgotten
  s.reset();
  EXPECT_EQ(s.sample(logits), 0);
}

TEST(Sampler, DefaultChainFiltersUnlikelyTokens) {
  // Defaults: T 0.8, top-k 40, top-p 0.95, min-p 0.05. With one dominant logit, min-p leaves
  // only it: p(other) / p(best) = exp(-8 / 0.8) < 0.05.
  Sampler s(SamplerParams{});
  std::vector<float> logits(1000, 0.0f);
  logits[42] = 8.0f;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(s.sample(logits), 42);
}

TEST(Sampler, InvalidParametersRejected) {
  auto bad = [](auto change) {
    SamplerParams p;
    change(p);
    EXPECT_THROW(Sampler{p}, Error);
  };
  bad([](SamplerParams& p) { p.temperature = -0.1f; });
  bad([](SamplerParams& p) { p.temperature = NAN; });
  bad([](SamplerParams& p) { p.top_k = -1; });
  bad([](SamplerParams& p) { p.top_p = 0.0f; });
  bad([](SamplerParams& p) { p.top_p = 1.5f; });
  bad([](SamplerParams& p) { p.min_p = -0.1f; });
  bad([](SamplerParams& p) { p.min_p = 1.1f; });
  bad([](SamplerParams& p) { p.repeat_penalty = 0.0f; });
  bad([](SamplerParams& p) { p.repeat_penalty = -1.0f; });
  bad([](SamplerParams& p) { p.repeat_last_n = -2; });
  bad([](SamplerParams& p) { p.frequency_penalty = INFINITY; });
  bad([](SamplerParams& p) { p.logit_bias = {{-3, 1.0f}}; });
  bad([](SamplerParams& p) { p.logit_bias = {{3, INFINITY}}; });
  try {
    SamplerParams p;
    p.top_p = 2.0f;
    Sampler s(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos);
  }
}

TEST(Sampler, BadLogitsRejected) {
  Sampler s;
  EXPECT_THROW(s.sample(std::vector<float>{}), Error);
  EXPECT_THROW(s.sample(std::vector<float>{1.0f, NAN}), Error);
  EXPECT_THROW(s.sample(std::vector<float>{-INFINITY, -INFINITY}), Error);
  SamplerParams greedy_params;
  greedy_params.temperature = 0;
  Sampler g(greedy_params);
  EXPECT_THROW(g.sample(std::vector<float>{-INFINITY}), Error);
  SamplerParams pen;
  pen.repeat_penalty = 1.1f;
  Sampler p(pen);
  p.accept(5);
  EXPECT_THROW(p.sample(std::vector<float>{1, 2}), Error);  // history id beyond the logits
  EXPECT_THROW(p.accept(-1), Error);
}

}  // namespace
}  // namespace minillm
