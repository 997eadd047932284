// The continuous batcher: every answer is compared with generate() of the same prompt and
// parameters alone in a Session (the independent path), whatever else runs beside it; prefix
// reuse, n choices, cancellation, the queue limit, log-probabilities and bad requests.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "minillm/continuous_batcher.h"
#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/session.h"
#include "test_data.h"

namespace minillm {
namespace {

struct Demo {
  std::shared_ptr<const Model> model = Model::load(test::shared_file("models/stories260K.gguf"));
  Tokenizer tokenizer = Tokenizer::from_file(test::shared_file("models/stories260K.gguf"));
};

const Demo& demo() {
  static const Demo d;
  return d;
}

GenerateParams sampled(uint64_t seed, int32_t max_tokens) {
  GenerateParams p;
  p.max_tokens = max_tokens;
  p.sampling.temperature = 0.9f;
  p.sampling.seed = seed;
  return p;
}

std::string alone(const std::vector<int32_t>& prompt, const GenerateParams& params) {
  Session s(demo().model, {.n_ctx = 512, .n_threads = 1});
  return generate(s, demo().tokenizer, prompt, params).text;
}

// Collects what the callbacks report for one request and lets the test wait for its end.
struct Collected {
  std::mutex mutex;
  std::condition_variable ended;
  std::vector<std::string> text;
  std::vector<std::vector<GeneratedToken>> tokens;
  std::vector<GenerateResult> results;
  std::optional<BatcherOutcome> outcome;

  BatcherRequest request(std::vector<int32_t> prompt, GenerateParams params, uint32_t n = 1) {
    text.assign(n, "");
    tokens.assign(n, {});
    results.assign(n, {});
    BatcherRequest r;
    r.prompt = std::move(prompt);
    r.params = std::move(params);
    r.n_choices = n;
    r.on_text = [this](uint32_t c, std::string_view t) {
      std::lock_guard lock(mutex);
      text[c] += t;
    };
    r.on_token = [this](const GeneratedToken& g) {
      std::lock_guard lock(mutex);
      tokens[g.choice].push_back(g);
    };
    r.on_choice_end = [this](uint32_t c, const GenerateResult& res) {
      std::lock_guard lock(mutex);
      results[c] = res;
    };
    r.on_end = [this](const BatcherOutcome& o) {
      std::lock_guard lock(mutex);
      outcome = o;
      ended.notify_all();
    };
    return r;
  }

  const BatcherOutcome& wait() {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(
        ended.wait_for(lock, std::chrono::seconds(60), [&] { return outcome.has_value(); }));
    return *outcome;
  }
};

std::vector<int32_t> encode(const std::string& text) {
  return demo().tokenizer.encode(text);
}

TEST(ContinuousBatcher, EveryAnswerIsWhatGenerateGivesItAlone) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer,
                            {.n_parallel = 3, .n_seq_ctx = 512, .prompt_chunk = 7, .n_threads = 2});
  const std::vector<std::string> prompts = {
      "Once upon a time",
      "The little dog ran to the park and",
      "Lily saw a big red ball",
      "Tom",
      "One day, a girl named Sue went to the store with her mom. She wanted",
      "The sun was hot"};
  std::vector<std::unique_ptr<Collected>> got;
  for (size_t i = 0; i < prompts.size(); ++i) {
    got.push_back(std::make_unique<Collected>());
    const GenerateParams p = sampled(100 + i, 20 + int32_t(i) * 7);
    ASSERT_NE(batcher.submit(got.back()->request(encode(prompts[i]), p)), nullptr);
    if (i % 2) std::this_thread::sleep_for(std::chrono::milliseconds(3));  // join mid-run
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const BatcherOutcome& o = got[i]->wait();
    EXPECT_FALSE(o.cancelled);
    EXPECT_FALSE(o.error);
    const std::string expected = alone(encode(prompts[i]), sampled(100 + i, 20 + int32_t(i) * 7));
    EXPECT_EQ(got[i]->text[0], expected) << prompts[i];
    EXPECT_EQ(got[i]->results[0].text, expected);
    EXPECT_EQ(got[i]->results[0].stop, StopReason::MaxTokens);
    EXPECT_EQ(got[i]->results[0].tokens.size(), size_t(20 + i * 7));
  }
  const BatcherStats s = batcher.stats();
  EXPECT_EQ(s.requests, prompts.size());
  EXPECT_EQ(s.busy_slots, 0u);
  EXPECT_EQ(s.queued, 0u);
}

TEST(ContinuousBatcher, ALaterTurnReusesTheCachedPrefix) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer, {.n_parallel = 2, .n_seq_ctx = 512});
  const auto first = encode("Once upon a time, there was a little bird who lived in a tree.");
  Collected a;
  batcher.submit(a.request(first, sampled(1, 12)));
  a.wait();
  EXPECT_EQ(a.outcome->cached_tokens, 0u);
  // The same conversation one turn later: the first prompt, its answer, and more.
  std::vector<int32_t> second = first;
  second.insert(second.end(), a.results[0].tokens.begin(), a.results[0].tokens.end());
  const auto more =
      demo().tokenizer.encode(" The bird sang.", {.add_bos = false, .add_eos = false});
  second.insert(second.end(), more.begin(), more.end());
  Collected b;
  batcher.submit(b.request(second, sampled(2, 15)));
  b.wait();
  // Everything the first sequence evaluated: its prompt and all answer tokens but the last.
  EXPECT_EQ(b.outcome->cached_tokens, first.size() + a.results[0].tokens.size() - 1);
  EXPECT_EQ(b.text[0], alone(second, sampled(2, 15)));
  EXPECT_EQ(batcher.stats().cached_tokens, b.outcome->cached_tokens);
}

TEST(ContinuousBatcher, ChoicesForkThePromptAndSampleWithSeedPlusIndex) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer, {.n_parallel = 4, .n_seq_ctx = 512});
  const auto prompt = encode("The cat sat on the mat and");
  Collected c;
  batcher.submit(c.request(prompt, sampled(7, 25), 3));
  c.wait();
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(c.text[i], alone(prompt, sampled(7 + i, 25))) << i;
  EXPECT_NE(c.text[0], c.text[1]);
  EXPECT_EQ(batcher.stats().prompt_tokens, prompt.size());  // evaluated once
}

TEST(ContinuousBatcher, CancelEndsARequestAtTheNextStepAndFreesItsSlot) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer, {.n_parallel = 1, .n_seq_ctx = 2048});
  Collected c;
  GenerateParams p = sampled(3, -1);
  p.ignore_eos = true;
  auto ticket = batcher.submit(c.request(encode("Once"), p));
  for (int i = 0; i < 2000; ++i) {
    {
      std::lock_guard lock(c.mutex);
      if (c.text[0].size() > 10) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto t0 = std::chrono::steady_clock::now();
  ticket->cancel();
  EXPECT_TRUE(c.wait().cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  const BatcherStats s = batcher.stats();
  EXPECT_EQ(s.cancelled, 1u);
  EXPECT_EQ(s.busy_slots, 0u);
  // The slot serves the next request.
  Collected next;
  batcher.submit(next.request(encode("Tom"), sampled(4, 5)));
  EXPECT_FALSE(next.wait().cancelled);
  EXPECT_EQ(next.text[0], alone(encode("Tom"), sampled(4, 5)));
}

TEST(ContinuousBatcher, AFullQueueRefusesAndShutdownCancelsWhatIsLeft) {
  std::vector<std::unique_ptr<Collected>> got;
  std::atomic<bool> hold{true};
  {
    ContinuousBatcher batcher(demo().model, demo().tokenizer,
                              {.n_parallel = 1, .n_seq_ctx = 2048, .max_queue = 1});
    GenerateParams p = sampled(5, -1);
    p.ignore_eos = true;
    // The running request waits at its first token until the test is done submitting, so the
    // slot stays taken whatever the timing.
    p.logits_processor = [&](std::span<float>, std::span<const int32_t>) {
      while (hold) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return std::optional<int32_t>();
    };
    size_t accepted = 0, refused = 0;
    for (int i = 0; i < 4; ++i) {
      got.push_back(std::make_unique<Collected>());
      if (batcher.submit(got.back()->request(encode("Once upon a time"), p)))
        ++accepted;
      else
        ++refused, got.pop_back();
    }
    EXPECT_EQ(accepted, 2u);  // one running (or about to), one queued
    EXPECT_EQ(refused, 2u);
    hold = false;
  }  // the destructor cancels both
  for (auto& c : got) EXPECT_TRUE(c->wait().cancelled);
}

TEST(ContinuousBatcher, LogprobsAreTheLogSoftmaxOfTheModel) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer, {.n_parallel = 1, .n_seq_ctx = 512});
  Collected c;
  GenerateParams p;
  p.max_tokens = 10;
  p.sampling.temperature = 0;  // greedy: the chosen token is the most likely one
  BatcherRequest r = c.request(encode("Once upon a time"), p);
  r.logprobs = true;
  r.top_logprobs = 5;
  batcher.submit(std::move(r));
  c.wait();
  ASSERT_EQ(c.tokens[0].size(), 10u);
  // The first token's log-probabilities from a Session, computed here in double precision.
  Session s(demo().model, {.n_ctx = 64, .n_threads = 1});
  const auto logits = s.eval(encode("Once upon a time"));
  double sum = 0;
  const float max = *std::max_element(logits.begin(), logits.end());
  for (float l : logits) sum += std::exp(double(l) - max);
  for (size_t i = 0; i < c.tokens[0].size(); ++i) {
    const GeneratedToken& g = c.tokens[0][i];
    EXPECT_EQ(g.token, c.results[0].tokens[i]);
    ASSERT_EQ(g.top.size(), 5u);
    EXPECT_EQ(g.top[0].token, g.token);  // greedy
    EXPECT_FLOAT_EQ(g.top[0].logprob, g.logprob);
    for (size_t k = 1; k < 5; ++k) EXPECT_LE(g.top[k].logprob, g.top[k - 1].logprob);
    EXPECT_LE(g.logprob, 0.0f);
  }
  const GeneratedToken& first = c.tokens[0][0];
  EXPECT_NEAR(first.logprob, logits[size_t(first.token)] - max - std::log(sum), 1e-4);
}

TEST(ContinuousBatcher, BadRequestsAreRefusedBeforeTheyAreQueued) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer, {.n_parallel = 2, .n_seq_ctx = 64});
  Collected c;
  auto kind = [&](BatcherRequest r) {
    try {
      batcher.submit(std::move(r));
    } catch (const Error& e) {
      return std::make_pair(e.kind(), std::string(e.what()));
    }
    return std::make_pair(ErrorKind::Internal, std::string("no error"));
  };
  const auto too_long = kind(c.request(std::vector<int32_t>(64, 300), sampled(1, 4)));
  EXPECT_EQ(too_long.first, ErrorKind::ContextFull);
  EXPECT_NE(too_long.second.find("64"), std::string::npos) << too_long.second;
  EXPECT_EQ(kind(c.request({}, sampled(1, 4))).first, ErrorKind::InvalidArgument);
  EXPECT_EQ(kind(c.request({1, 99999}, sampled(1, 4))).first, ErrorKind::InvalidArgument);
  EXPECT_EQ(kind(c.request({1, 2}, sampled(1, 4), 3)).first, ErrorKind::InvalidArgument);
  EXPECT_EQ(kind(c.request({1, 2}, sampled(1, 4), 0)).first, ErrorKind::InvalidArgument);
  GenerateParams bad = sampled(1, 4);
  bad.sampling.top_p = 2;
  EXPECT_EQ(kind(c.request({1, 2}, bad)).first, ErrorKind::InvalidArgument);
  EXPECT_EQ(batcher.stats().requests, 0u);
}

TEST(ContinuousBatcher, ALongPromptGoesInChunksBetweenTheOthersDecodeSteps) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer,
                            {.n_parallel = 2, .n_seq_ctx = 1024, .prompt_chunk = 32});
  Collected a, b;
  GenerateParams p = sampled(11, 300);
  p.ignore_eos = true;
  BatcherRequest ra = a.request(encode("Once upon a time"), p);
  std::atomic<int> a_tokens{0};
  ra.on_token = [&](const GeneratedToken&) { ++a_tokens; };
  ra.logprobs = true;
  batcher.submit(std::move(ra));
  while (a_tokens < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  std::vector<int32_t> long_prompt = {1};
  for (int i = 0; i < 399; ++i) long_prompt.push_back(int32_t(3 + (i * 37) % 400));
  BatcherRequest rb = b.request(long_prompt, sampled(12, 4));
  std::atomic<int> a_at_b_first{-1}, a_at_submit{int(a_tokens)};
  rb.on_token = [&](const GeneratedToken&) {
    int expected = -1;
    a_at_b_first.compare_exchange_strong(expected, a_tokens.load());
  };
  rb.logprobs = true;
  batcher.submit(std::move(rb));
  b.wait();
  // 400 prompt tokens in chunks of 32: 13 passes, each also decoding a token of A.
  EXPECT_GE(a_at_b_first - a_at_submit, 12);
  EXPECT_EQ(b.text[0], alone(long_prompt, sampled(12, 4)));
  a.wait();
  EXPECT_EQ(a.text[0], alone(encode("Once upon a time"), p));
}

TEST(ContinuousBatcher, AnAnswerStopsWhereTheContextIsFull) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer, {.n_parallel = 1, .n_seq_ctx = 32});
  Collected c;
  GenerateParams p = sampled(9, -1);
  p.ignore_eos = true;
  batcher.submit(c.request(encode("Once upon a time"), p));
  c.wait();
  EXPECT_EQ(c.results[0].stop, StopReason::ContextFull);
  EXPECT_EQ(c.results[0].tokens.size() + encode("Once upon a time").size(), 33u);
}

TEST(ContinuousBatcher, AnIdleBatcherUsesNoCpu) {
  ContinuousBatcher batcher(demo().model, demo().tokenizer, {.n_parallel = 2, .n_seq_ctx = 64});
  Collected c;
  batcher.submit(c.request(encode("Tom"), sampled(1, 3)));
  c.wait();
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  const double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(cpu_seconds() - before, 0.02);
}

}  // namespace
}  // namespace minillm
