// Many sequences in one forward pass (BatchSession, generate_batch), caller-owned runtimes and
// cancellation: every result is compared bit for bit with the same sequence evaluated alone in a
// Session, the independent path.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "minillm/batch_session.h"
#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/generate_batch.h"
#include "minillm/runtime.h"
#include "minillm/session.h"
#include "minillm/tokenizer.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

using Logits = std::vector<float>;

std::shared_ptr<const Model> demo_model(std::optional<TensorType> quantize = std::nullopt) {
  LoadOptions o;
  o.quantize = quantize;
  return Model::load(test::shared_file("models/stories260K.gguf"), o);
}

std::vector<int32_t> random_tokens(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids = {1};
  while (ids.size() < n) ids.push_back(int32_t(3 + rng() % 500));
  return ids;
}

// Logits after every token of `ids`, evaluated alone: the prompt part in one eval, the rest one
// token at a time (as decoding does).
std::vector<Logits> alone(const std::shared_ptr<const Model>& model,
                          const std::vector<int32_t>& ids, size_t prompt_len, int threads = 2) {
  Session s(model,
            {.n_ctx = 256, .n_batch = 512, .kv_type = KvCacheType::F16, .n_threads = threads});
  std::vector<Logits> out;
  const uint32_t n_vocab = model->config().n_vocab;
  const auto all = s.eval(std::span(ids).first(prompt_len), true);
  for (size_t t = 0; t < prompt_len; ++t)
    out.emplace_back(all.begin() + t * n_vocab, all.begin() + (t + 1) * n_vocab);
  for (size_t t = prompt_len; t < ids.size(); ++t) {
    const auto l = s.eval(std::span(ids).subspan(t, 1));
    out.emplace_back(l.begin(), l.end());
  }
  return out;
}

template <class F>
ErrorKind kind_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::Internal;
}

Logits copy(std::span<const float> s) {
  return Logits(s.begin(), s.end());
}

class BatchBitwise : public ::testing::TestWithParam<int> {};

// Three sequences, prompts and decode steps mixed in the same passes, with one or two threads and
// with F32 and Q8_0 weights: every logit row equals the sequence's own, evaluated alone.
TEST_P(BatchBitwise, MixedPromptAndDecodePassesEqualSessionsAlone) {
  const int threads = GetParam();
  for (auto type : {std::optional<TensorType>{}, std::optional<TensorType>{TensorType::Q8_0}}) {
    SCOPED_TRACE(type ? "Q8_0" : "F32");
    const auto model = demo_model(type);
    const uint32_t n_vocab = model->config().n_vocab;
    const std::vector<std::vector<int32_t>> ids = {random_tokens(30, 1), random_tokens(45, 2),
                                                   random_tokens(20, 3)};
    const std::vector<size_t> prompt = {12, 17, 9};
    std::vector<std::vector<Logits>> want;
    for (size_t i = 0; i < ids.size(); ++i) want.push_back(alone(model, ids[i], prompt[i], 1));

    BatchSession b(model, {.n_ctx = 512, .n_seq_ctx = 64, .n_batch = 64, .n_threads = threads});
    const SeqId s0 = b.add(), s1 = b.add(), s2 = b.add();
    const SeqId seq[] = {s0, s1, s2};
    // Pass 1: prompts of 0 and 1 (all logits of 0). Then sequence 2's prompt joins while the
    // others decode, and all three decode together until each is done.
    b.eval(
        {{s0, std::span(ids[0]).first(prompt[0]), true}, {s1, std::span(ids[1]).first(prompt[1])}});
    for (size_t t = 0; t < prompt[0]; ++t)
      ASSERT_EQ(copy(b.logits(0).subspan(t * n_vocab, n_vocab)), want[0][t]) << "prompt row " << t;
    ASSERT_EQ(copy(b.logits(1)), want[1][prompt[1] - 1]);
    std::vector<size_t> at = {prompt[0], prompt[1], 0};
    for (int step = 0;; ++step) {
      std::vector<SequenceInput> in;
      std::vector<size_t> who;
      for (size_t i = 0; i < 3; ++i) {
        if (at[i] >= ids[i].size()) continue;
        const size_t n = at[i] == 0 ? prompt[i] : 1;
        in.push_back({seq[i], std::span(ids[i]).subspan(at[i], n)});
        who.push_back(i);
      }
      if (in.empty()) break;
      b.eval(in);
      for (size_t k = 0; k < in.size(); ++k) {
        const size_t i = who[k];
        at[i] += in[k].tokens.size();
        ASSERT_EQ(copy(b.logits(k)), want[i][at[i] - 1])
            << "sequence " << i << " position " << at[i] - 1;
      }
    }
    EXPECT_EQ(b.n_past(s1), ids[1].size());
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, BatchBitwise, ::testing::Values(1, 2));

TEST(BatchSession, ForksShareThePrefixAndContinueAsAlone) {
  const auto model = demo_model();
  const auto base = random_tokens(40, 7);
  for (uint32_t keep : {32u, 37u, 0u, 40u}) {  // on a block boundary, inside a block, none, all
    SCOPED_TRACE(keep);
    BatchSession b(model, {.n_ctx = 256, .n_seq_ctx = 64, .n_batch = 64, .n_threads = 2});
    const SeqId a = b.add();
    b.eval({{a, base}});
    const uint32_t free_before = b.free_positions();
    const SeqId c = b.fork(a, keep);
    EXPECT_EQ(b.free_positions(), free_before) << "a fork copies nothing";
    EXPECT_EQ(b.n_past(c), keep);
    // Both go on with different tokens in the same passes.
    std::vector<int32_t> a_ids = base, c_ids(base.begin(), base.begin() + keep);
    const auto more_a = random_tokens(6, 100 + keep), more_c = random_tokens(6, 200 + keep);
    for (size_t t = 1; t < 6; ++t) {
      b.eval({{a, std::span(more_a).subspan(t, 1)}, {c, std::span(more_c).subspan(t, 1)}});
      a_ids.push_back(more_a[t]);
      c_ids.push_back(more_c[t]);
      EXPECT_EQ(copy(b.logits(0)), alone(model, a_ids, a_ids.size()).back());
      EXPECT_EQ(copy(b.logits(1)), alone(model, c_ids, c_ids.size()).back());
    }
  }
}

TEST(BatchSession, RemovedSequencesGiveTheirBlocksBackForReuse) {
  const auto model = demo_model();
  BatchSession b(model, {.n_ctx = 160, .n_seq_ctx = 100, .n_batch = 128, .n_threads = 2});
  const uint32_t all = b.free_positions();
  EXPECT_EQ(all, 160u);
  for (int round = 0; round < 3; ++round) {
    const auto ids = random_tokens(70, 10 + round);
    const SeqId s = b.add(), f = b.fork(s, 0);
    b.eval({{s, std::span(ids).first(70)}, {f, std::span(ids).first(50)}});
    EXPECT_EQ(b.free_positions(), all - 80 - 64);
    // The blocks hold the last round's keys: results must not depend on that.
    EXPECT_EQ(copy(b.logits(0)), alone(model, ids, 70).back());
    b.remove(s);
    b.remove(f);
    EXPECT_EQ(b.free_positions(), all);
    EXPECT_EQ(b.n_sequences(), 0u);
  }
}

TEST(BatchSession, ASequenceAtItsLimitFailsAloneAndOthersGoOn) {
  const auto model = demo_model();
  BatchSession b(model, {.n_ctx = 256, .n_seq_ctx = 20, .n_batch = 64, .n_threads = 2});
  const auto ids = random_tokens(25, 5);
  const SeqId full = b.add(), other = b.add();
  b.eval({{full, std::span(ids).first(18)}, {other, std::span(ids).first(4)}});
  const uint32_t free_before = b.free_positions();
  const std::string e = test::error_of([&] {
    b.eval({{other, std::span(ids).subspan(4, 1)}, {full, std::span(ids).subspan(18, 3)}});
  });
  EXPECT_HAS(e, "context full: sequence 0");
  EXPECT_EQ(b.n_past(full), 18u);
  EXPECT_EQ(b.n_past(other), 4u);
  EXPECT_EQ(b.free_positions(), free_before);
  b.eval({{other, std::span(ids).subspan(4, 1)}, {full, std::span(ids).subspan(18, 2)}});
  EXPECT_EQ(copy(b.logits(1)),
            alone(model, std::vector<int32_t>(ids.begin(), ids.begin() + 20), 20).back());
  EXPECT_HAS(test::error_of([&] { b.eval({{full, std::span(ids).first(1)}}); }), "context full");
  EXPECT_EQ(kind_of([&] { b.eval({{full, std::span(ids).first(1)}}); }), ErrorKind::ContextFull);
}

TEST(BatchSession, BadInputIsAnErrorAndChangesNothing) {
  const auto model = demo_model();
  BatchSession b(model, {.n_ctx = 64, .n_seq_ctx = 64, .n_batch = 8, .n_threads = 1});
  const auto ids = random_tokens(10, 9);
  const SeqId s = b.add();
  b.eval({{s, std::span(ids).first(3)}});
  const uint32_t free_before = b.free_positions();
  const int32_t bad_id = 512, negative = -1;
  auto unchanged = [&] {
    EXPECT_EQ(b.n_past(s), 3u);
    EXPECT_EQ(b.free_positions(), free_before);
  };
  for (const auto& [what, f] : std::vector<std::pair<std::string, std::function<void()>>>{
           {"no sequence 7",
            [&] {
              b.eval({{7, std::span(ids).first(1)}});
            }},
           {"appears twice",
            [&] {
              b.eval({{s, std::span(ids).first(1)}, {s, std::span(ids).first(1)}});
            }},
           {"has no tokens",
            [&] {
              b.eval({{s, {}}});
            }},
           {"outside the vocabulary",
            [&] {
              b.eval({{s, std::span(&bad_id, 1)}});
            }},
           {"outside the vocabulary",
            [&] {
              b.eval({{s, std::span(&negative, 1)}});
            }},
           {"exceed the batch limit of 8",
            [&] {
              b.eval({{s, std::span(ids).first(9)}});
            }},
           {"at least one sequence", [&] { b.eval(std::span<const SequenceInput>{}); }},
           {"holds 3 positions, not 4", [&] { b.fork(s, 4); }},
           {"holds only 3", [&] { b.truncate(s, 4); }},
           {"no sequence 9", [&] { b.remove(9); }},
           {"last eval had 1 inputs", [&] { b.logits(1); }},
       }) {
    EXPECT_HAS(test::error_of(f), what);
    unchanged();
  }
  const SeqId gone = b.add();
  b.remove(gone);
  EXPECT_HAS(test::error_of([&] { b.remove(gone); }), "removed");
  EXPECT_HAS(test::error_of([&] { b.eval({{gone, std::span(ids).first(1)}}); }), "removed");
  unchanged();
  // A cache without room: 64 positions = 4 blocks, 3 of them free.
  const SeqId big = b.add();
  b.eval({{big, std::span(ids).first(8)}});
  const SeqId big2 = b.add();
  b.eval({{big2, std::span(ids).first(8)}});
  const SeqId big3 = b.add();
  b.eval({{big3, std::span(ids).first(8)}});
  EXPECT_HAS(test::error_of([&] {
               b.eval({{b.add(), std::span(ids).first(8)}});
             }),
             "KV cache full");
  EXPECT_EQ(kind_of([&] { b.eval({{b.add(), std::span(ids).first(1)}}); }), ErrorKind::ContextFull);
  EXPECT_EQ(kind_of([&] { b.eval({{99, std::span(ids).first(1)}}); }), ErrorKind::InvalidArgument);
  EXPECT_EQ(b.free_positions(), 0u);
}

// A cancel callback abandons an evaluation between layers; the cache is as it was.
TEST(Cancellation, AbandonedEvaluationsLeaveTheCacheAsItWas) {
  const auto model = demo_model();
  std::atomic<int> calls{0}, cancel_at{-1};
  auto cancel = [&] { return ++calls == cancel_at.load(); };
  const auto ids = random_tokens(120, 3);
  Session s(model, {.n_ctx = 256,
                    .n_batch = 32,
                    .kv_type = KvCacheType::F16,
                    .n_threads = 2,
                    .runtime = {},
                    .cancel = cancel});
  s.eval(std::span(ids).first(10));
  for (int at : {1, 3, 11}) {  // before the first batch, inside the first, in the second batch
    calls = 0;
    cancel_at = at;
    EXPECT_EQ(kind_of([&] { s.eval(std::span(ids).subspan(10, 100)); }), ErrorKind::Cancelled);
    EXPECT_EQ(s.n_past(), 10u);
  }
  cancel_at = -1;
  const auto l = copy(s.eval(std::span(ids).subspan(10, 100)));
  EXPECT_EQ(l, alone(model, std::vector<int32_t>(ids.begin(), ids.begin() + 110), 110).back());

  BatchSession b(model, {.n_ctx = 256,
                         .n_seq_ctx = 200,
                         .n_batch = 128,
                         .n_threads = 2,
                         .runtime = {},
                         .cancel = cancel});
  const SeqId a = b.add();
  const uint32_t free_before = b.free_positions();
  calls = 0;
  cancel_at = 2;
  EXPECT_HAS(test::error_of([&] { b.eval({{a, std::span(ids).first(100)}}); }), "cancelled");
  EXPECT_EQ(b.n_past(a), 0u);
  EXPECT_EQ(b.free_positions(), free_before);
}

// Sessions on runtimes of their own run at the same time, each on its own threads, with the
// results they give alone.
TEST(Runtime, SessionsOnSeparateRuntimesRunSideBySide) {
  const auto model = demo_model();
  const auto ids_a = random_tokens(60, 11), ids_b = random_tokens(60, 12);
  const auto want_a = alone(model, ids_a, 20), want_b = alone(model, ids_b, 20);
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    auto ra = std::make_shared<Runtime>(RuntimeOptions{.n_threads = threads, .cpus = {0}});
    auto rb = std::make_shared<Runtime>(RuntimeOptions{.n_threads = threads, .cpus = {1}});
    std::vector<Logits> got_a, got_b;
    auto run = [&](const std::shared_ptr<Runtime>& rt, const std::vector<int32_t>& ids,
                   std::vector<Logits>& got) {
      Session s(model, {.n_ctx = 128, .runtime = rt});
      for (int rep = 0; rep < 20; ++rep) {
        s.reset();
        got.clear();
        got.push_back(copy(s.eval(std::span(ids).first(20))));
        for (size_t t = 20; t < ids.size(); ++t)
          got.push_back(copy(s.eval(std::span(ids).subspan(t, 1))));
      }
    };
    std::thread ta([&] { run(ra, ids_a, got_a); }), tb([&] { run(rb, ids_b, got_b); });
    ta.join();
    tb.join();
    ASSERT_EQ(got_a.size(), 41u);
    for (size_t i = 0; i < got_a.size(); ++i) {
      ASSERT_EQ(got_a[i], want_a[19 + i]) << i;
      ASSERT_EQ(got_b[i], want_b[19 + i]) << i;
    }
    if (threads == 2) {  // each runtime's own worker took part, although both ran at once
      EXPECT_GT(ra->chunks_run_by_workers(), 0u);
      EXPECT_GT(rb->chunks_run_by_workers(), 0u);
    }
  }
  EXPECT_THROW(Runtime(RuntimeOptions{.n_threads = -1}), Error);
  EXPECT_THROW(Runtime(RuntimeOptions{.n_threads = 1, .cpus = {-3}}), Error);
}

// One Model shared by many threads, each with sessions of its own on the default pool: the
// results are those of one thread alone (run under ThreadSanitizer too).
TEST(Concurrency, OneModelManyThreads) {
  const auto model = demo_model();
  const auto ids = random_tokens(40, 21);
  const auto want = alone(model, ids, 24);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int rep = 0; rep < 5; ++rep)
        if (alone(model, ids, 24) != want) ++mismatches;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// Two batches on two runtimes at once.
TEST(Concurrency, BatchesOnSeparateRuntimes) {
  const auto model = demo_model();
  const Tokenizer tok = Tokenizer::from_path(test::shared_file("models/stories260K.gguf"));
  std::vector<BatchRequest> requests(3);
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].prompt = tok.encode("Once upon a time");
    requests[i].params.max_tokens = 24;
    requests[i].params.sampling.seed = 7 + i;
  }
  std::vector<GenerateResult> want;
  {
    BatchSession b(model, {.n_ctx = 512, .n_seq_ctx = 128, .n_threads = 1});
    want = generate_batch(b, tok, requests);
  }
  auto run = [&](std::vector<GenerateResult>& got) {
    auto rt = std::make_shared<Runtime>(RuntimeOptions{.n_threads = 2});
    BatchSession b(model, {.n_ctx = 512, .n_seq_ctx = 128, .runtime = rt});
    for (int rep = 0; rep < 3; ++rep) got = generate_batch(b, tok, requests);
  };
  std::vector<GenerateResult> got_a, got_b;
  std::thread ta([&] { run(got_a); }), tb([&] { run(got_b); });
  ta.join();
  tb.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(got_a[i].tokens, want[i].tokens);
    EXPECT_EQ(got_b[i].tokens, want[i].tokens);
  }
}

// generate_batch gives every request what generate() gives it alone.
TEST(GenerateBatch, EachRequestAsGenerateAlone) {
  const auto model = demo_model();
  const Tokenizer tok = Tokenizer::from_path(test::shared_file("models/stories260K.gguf"));
  std::vector<BatchRequest> requests(5);
  const char* prompts[] = {"Once upon a time", "The cat", "Lily and Tom went to the park",
                           "One day", "Once upon a time"};
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].prompt = tok.encode(prompts[i]);
    requests[i].params.max_tokens = 20 + int32_t(i) * 7;
    requests[i].params.sampling.temperature = i == 0 ? 0.0f : 0.8f;
    requests[i].params.sampling.seed = 100 + i;
  }
  requests[3].params.stop_strings = {"."};
  std::vector<std::string> streamed(requests.size());
  BatchSession b(model, {.n_ctx = 1024, .n_seq_ctx = 256, .n_batch = 16, .n_threads = 2});
  const auto results =
      generate_batch(b, tok, requests, [&](size_t r, std::string_view text, int32_t) {
        streamed[r] += text;
        return true;
      });
  ASSERT_EQ(results.size(), requests.size());
  EXPECT_EQ(b.n_sequences(), 0u);
  for (size_t i = 0; i < requests.size(); ++i) {
    Session s(model, {.n_ctx = 256, .n_threads = 2});
    const GenerateResult want = generate(s, tok, requests[i].prompt, requests[i].params);
    EXPECT_EQ(results[i].tokens, want.tokens) << i;
    EXPECT_EQ(results[i].text, want.text) << i;
    EXPECT_EQ(results[i].stop, want.stop) << i;
    EXPECT_EQ(streamed[i], want.text) << i;
  }
  EXPECT_EQ(results[3].stop, StopReason::StopString);
  std::vector<BatchRequest> bad(1);
  EXPECT_HAS(test::error_of([&] { generate_batch(b, tok, bad); }), "the prompt is empty");
}

// Memory: the cache reserves its capacity but costs only the positions written.
size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

TEST(BatchSession, TheCacheCostsTheTokensHeldNotItsCapacity) {
  const auto model = demo_model();
  const size_t per_position = 2 * 5 * (4 * 8) * sizeof(uint16_t);  // K and V, 5 layers, F16
  const size_t before = resident_bytes();
  BatchSession b(model, {.n_ctx = 16 * 8192, .n_seq_ctx = 1024, .n_batch = 512, .n_threads = 2});
  const size_t empty = resident_bytes();
  EXPECT_LT(empty - before, 16 * 8192 * per_position / 10) << "a new cache commits its capacity";
  std::vector<SeqId> seqs;
  for (int i = 0; i < 16; ++i) seqs.push_back(b.add());
  const auto ids = random_tokens(512, 4);
  for (SeqId s : seqs) b.eval({{s, ids}});
  const size_t full = resident_bytes();
  EXPECT_LT(full - empty, 16 * 512 * per_position * 3) << "16 × 512 tokens";
  EXPECT_EQ(b.free_positions(), 16u * 8192 - 16 * 512);
}

}  // namespace
}  // namespace minillm
