// The Q8_0 KV cache on models the test writes itself (head dim 32): close to the float64 forward,
// the same bits in a BatchSession (forks sharing blocks, copy on write) as in a Session alone,
// batching- and thread-independent like the float caches, and a clear error for a head dim its
// 32-value blocks do not divide.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "eigen_reference.h"
#include "logit_metrics.h"
#include "minillm/batch_session.h"
#include "minillm/error.h"
#include "minillm/session.h"
#include "model/kv_cache.h"
#include "tiny_models.h"

namespace minillm {
namespace {

using test::TinyModelSpec;

const std::vector<int32_t> kTokens = {1,  17, 42, 5,  88, 23, 64, 9,  31, 77, 2,  50, 13, 95,
                                      40, 61, 8,  70, 36, 19, 54, 3,  81, 27, 11, 66, 45, 90,
                                      7,  58, 33, 84, 20, 72, 14, 49, 6,  93, 38, 25};

// Heads of 32: one Q8_0 block per head row.
TinyModelSpec spec_with_heads_of_32(TensorType type = TensorType::F32) {
  TinyModelSpec s;
  s.n_embd = 128;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.type = type;
  return s;
}

std::shared_ptr<const Model> load(const TinyModelSpec& spec, const char* stem) {
  const auto path = test::write_tiny_model(spec, stem);
  auto model = Model::load(path);  // the mapping stays valid after the file is removed
  std::filesystem::remove(path);
  return model;
}

std::vector<float> eval_all(const std::shared_ptr<const Model>& model, KvCacheType kv) {
  return test::eval_all(model, kTokens, kv);
}

TEST(KvCacheQ8, RowsAreWholeBlocksOf34Bytes) {
  EXPECT_EQ(KvCache::row_bytes(KvCacheType::Q8_0, 256), 8 * 34u);
  EXPECT_EQ(KvCache::row_bytes(KvCacheType::F16, 256), 512u);
  EXPECT_EQ(KvCache::row_bytes(KvCacheType::F32, 256), 1024u);
}

// Within a small KL of the float64 forward and the same top token wherever it is decisive; and
// not the F16 cache's result under another name.
TEST(KvCacheQ8, StaysCloseToTheFloat64Forward) {
  const auto path = test::write_tiny_model(spec_with_heads_of_32(), "q8kv");
  const auto model = Model::load(path);
  const test::ReferenceResult ref = test::reference_forward(path, kTokens);
  std::filesystem::remove(path);
  const std::vector<float> truth(ref.logits.begin(), ref.logits.end());
  const auto q8 = eval_all(model, KvCacheType::Q8_0), f16 = eval_all(model, KvCacheType::F16);
  const auto r = test::compare_logits(truth, q8, ref.n_vocab, 0.02);
  const auto r16 = test::compare_logits(truth, f16, ref.n_vocab, 0.02);
  std::printf("mean KL from the float64 forward: Q8_0 cache %.3e, F16 cache %.3e\n", r.mean_kld,
              r16.mean_kld);
  EXPECT_TRUE(r.all_finite);
  EXPECT_LE(r.mean_kld, 5e-5);
  EXPECT_TRUE(r.top1_fail_positions.empty());
  EXPECT_GT(r.mean_kld, r16.mean_kld);  // 8-bit values are coarser than F16 ones
}

// One batch, token by token and a batch of 7 agree closely (the matrix products take other
// paths); 1 and 2 threads bitwise.
TEST(KvCacheQ8, BatchingAndThreadsAgree) {
  const auto model = load(spec_with_heads_of_32(TensorType::Q8_0), "q8kv_batching");
  test::expect_batching_and_threads_agree(model, kTokens, KvCacheType::Q8_0, {1u, 7u});
}

// Two sequences evaluated together, then a fork of one at a position inside a block (its last
// block is shared until the fork writes into it: copy on write) and one at a block boundary, all
// decoding together: every logit row equals that sequence's own in a Session alone.
TEST(KvCacheQ8, BatchSessionAndForksEqualSessionsAlone) {
  const auto model = load(spec_with_heads_of_32(TensorType::Q8_0), "q8kv_batch");
  const uint32_t n_vocab = model->config().n_vocab;
  auto alone = [&](const std::vector<int32_t>& ids, size_t prompt) {
    Session s(model, {.n_ctx = 64, .kv_type = KvCacheType::Q8_0, .n_threads = 2});
    s.eval(std::span(ids).first(prompt));
    std::vector<float> last;
    for (size_t t = prompt; t < ids.size(); ++t) {
      const auto l = s.eval(std::span(ids).subspan(t, 1));
      last.assign(l.begin(), l.end());
    }
    return last;
  };
  BatchSession b(model,
                 {.n_ctx = 256, .n_seq_ctx = 64, .kv_type = KvCacheType::Q8_0, .n_threads = 2});
  const std::vector<int32_t> pa(kTokens.begin(), kTokens.begin() + 37),
      pb(kTokens.begin() + 5, kTokens.begin() + 25);
  const SeqId a = b.add(), c = b.add();
  b.eval({{a, pa}, {c, pb}});
  const SeqId inside = b.fork(a, 21), boundary = b.fork(a, 32);
  const SeqId seqs[] = {a, c, inside, boundary};
  std::vector<std::vector<int32_t>> ids = {
      pa, pb, {pa.begin(), pa.begin() + 21}, {pa.begin(), pa.begin() + 32}};
  const std::vector<size_t> prompt = {ids[0].size(), ids[1].size(), 21, 32};
  for (int step = 0; step < 6; ++step) {
    std::vector<int32_t> next(4);
    std::vector<SequenceInput> in;
    for (size_t i = 0; i < 4; ++i) {
      next[i] = int32_t(3 + (17 * step + 29 * i) % 90);
      ids[i].push_back(next[i]);
    }
    for (size_t i = 0; i < 4; ++i) in.push_back({seqs[i], std::span(&next[i], 1)});
    b.eval(in);
    for (size_t i = 0; i < 4; ++i) {
      const auto got = b.logits(i);
      ASSERT_EQ(got.size(), n_vocab);
      EXPECT_EQ(std::vector<float>(got.begin(), got.end()), alone(ids[i], prompt[i]))
          << "sequence " << i << " step " << step;
    }
  }
}

TEST(KvCacheQ8, HeadDimNotAMultipleOf32IsUnsupported) {
  TinyModelSpec spec;  // 4 heads of 16
  const auto model = load(spec, "q8kv_heads16");
  for (int which = 0; which < 2; ++which) {
    try {
      if (which == 0)
        Session s(model, {.n_ctx = 16, .kv_type = KvCacheType::Q8_0, .n_threads = 1});
      else
        BatchSession b(model, {.n_seq_ctx = 16, .kv_type = KvCacheType::Q8_0, .n_threads = 1});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
      EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(Session(model, {.n_ctx = 16, .kv_type = KvCacheType::F16, .n_threads = 1}));
}

}  // namespace
}  // namespace minillm
