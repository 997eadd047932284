// Session::eval against the float64 Eigen forward pass (eigen_reference.h) on small models the
// tests write themselves: dense Llama blocks, wide heads (head width × heads ≠ model width, as
// Mistral Nemo), and Mixtral-style mixtures of experts in both GGUF expert layouts; plus the
// routing rule itself and the errors for bad mixture-of-experts files. Needs no ../shared.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "eigen_reference.h"
#include "logit_metrics.h"
#include "minillm/batch_session.h"
#include "minillm/error.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "model/arch/moe_ffn.h"
#include "tiny_models.h"

namespace minillm {
namespace {

using test::TinyModelSpec;

const std::vector<int32_t> kTokens = {1,  17, 42, 5,  88, 23, 64, 9,  31, 77, 2,  50,
                                      13, 95, 40, 61, 8,  70, 36, 19, 54, 3,  81, 27};

std::vector<float> eval_all(const std::shared_ptr<const Model>& model, KvCacheType kv) {
  return test::eval_all(model, kTokens, kv);
}

// Positions whose routing is decided by less than `gap` in some layer, left out of the comparison
// (rounding may legitimately route them otherwise); the rest as rows of float.
struct Compared {
  test::LogitComparison r;
  size_t n_kept = 0;
};
Compared compare_with_reference(const std::filesystem::path& path, const std::vector<float>& got,
                                double gap) {
  const test::ReferenceResult ref = test::reference_forward(path, kTokens);
  std::vector<float> truth, mine;
  Compared c;
  for (size_t p = 0; p < kTokens.size(); ++p) {
    if (ref.routing_gap[p] < gap) continue;
    ++c.n_kept;
    for (size_t v = 0; v < ref.n_vocab; ++v) {
      truth.push_back(float(ref.logits[p * ref.n_vocab + v]));
      mine.push_back(got[p * ref.n_vocab + v]);
    }
  }
  c.r = test::compare_logits(truth, mine, ref.n_vocab, 0.02);
  return c;
}

struct Variant {
  const char* name;
  TinyModelSpec spec;
};

void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

class ForwardReference : public ::testing::TestWithParam<Variant> {};

// F32 weights with an F32 KV cache follow the float64 truth to rounding; an F16 cache stays
// within a small KL.
TEST_P(ForwardReference, F32WeightsMatchTheFloat64Forward) {
  const auto path = test::write_tiny_model(GetParam().spec, GetParam().name);
  const auto model = Model::load(path);
  const auto f32 = compare_with_reference(path, eval_all(model, KvCacheType::F32), 1e-3);
  EXPECT_GE(f32.n_kept, kTokens.size() * 3 / 4);
  EXPECT_TRUE(f32.r.all_finite);
  EXPECT_LE(f32.r.max_abs_diff, 1e-4);
  EXPECT_TRUE(f32.r.top1_fail_positions.empty());
  const auto f16 = compare_with_reference(path, eval_all(model, KvCacheType::F16), 1e-3);
  EXPECT_LE(f16.r.mean_kld, 1e-5);
  EXPECT_TRUE(f16.r.top1_fail_positions.empty());
  std::filesystem::remove(path);
}

// Quantized weights (Q8_0 matrices, products with 8-bit activations) against the truth over the
// same dequantized weights.
TEST_P(ForwardReference, Q8WeightsStayCloseToTheFloat64Forward) {
  TinyModelSpec spec = GetParam().spec;
  spec.type = TensorType::Q8_0;
  const auto path = test::write_tiny_model(spec, GetParam().name);
  const auto model = Model::load(path);
  const auto q8 = compare_with_reference(path, eval_all(model, KvCacheType::F16), 0.05);
  EXPECT_GE(q8.n_kept, kTokens.size() / 2);
  EXPECT_LE(q8.r.mean_kld, 1e-3);
  EXPECT_TRUE(q8.r.top1_fail_positions.empty());
  std::filesystem::remove(path);
}

// One batch, token by token and a batch of 5 agree closely; 1 and 2 threads bitwise. F32 weights
// (float products) and Q8_0 (packed, integer products; decoding runs the chosen experts' gate
// and up products as one pass, their down products as another).
TEST_P(ForwardReference, BatchingAndThreadsAgree) {
  for (TensorType type : {TensorType::F32, TensorType::Q8_0}) {
    SCOPED_TRACE(type_name(type));
    TinyModelSpec spec = GetParam().spec;
    spec.type = type;
    const auto path = test::write_tiny_model(spec, GetParam().name);
    const auto model = Model::load(path);
    std::filesystem::remove(path);
    test::expect_batching_and_threads_agree(model, kTokens, KvCacheType::F32, {1u, 5u});
  }
}

// A sequence's logits in a BatchSession beside another sequence (its tokens routed together with
// the other's, expert by expert) are bit for bit those of a Session alone, with the same splits
// of its own tokens. Q8_0 weights: the integer kernels, whose paths depend on the row count.
TEST_P(ForwardReference, BatchSessionEqualsSessionsAlone) {
  TinyModelSpec spec = GetParam().spec;
  spec.type = TensorType::Q8_0;
  const auto path = test::write_tiny_model(spec, GetParam().name);
  const auto model = Model::load(path);
  std::filesystem::remove(path);
  const std::vector<int32_t> other = {5, 6, 7, 8, 9, 10, 11, 12, 13};
  auto alone = [&](const std::vector<int32_t>& ids) {
    Session s(model, {.n_ctx = 64, .kv_type = KvCacheType::F16, .n_threads = 2});
    std::vector<float> out;
    for (size_t at = 0; at < ids.size(); at += 8) {  // the same splits as below
      const size_t n = std::min<size_t>(8, ids.size() - at);
      const auto l = s.eval(std::span<const int32_t>(&ids[at], n), true);
      out.insert(out.end(), l.begin(), l.end());
    }
    return out;
  };
  const auto want_a = alone(kTokens), want_b = alone(other);
  BatchSession batch(model, {.n_seq_ctx = 64, .kv_type = KvCacheType::F16, .n_threads = 2});
  const SeqId a = batch.add(), b = batch.add();
  std::vector<float> got_a, got_b;
  for (size_t at = 0; at < kTokens.size(); at += 8) {
    std::vector<SequenceInput> in = {{a, std::span<const int32_t>(&kTokens[at], 8), true}};
    if (at < other.size())
      in.push_back(
          {b, std::span<const int32_t>(&other[at], std::min<size_t>(8, other.size() - at)), true});
    batch.eval(in);
    const auto la = batch.logits(0);
    got_a.insert(got_a.end(), la.begin(), la.end());
    if (in.size() > 1) {
      const auto lb = batch.logits(1);
      got_b.insert(got_b.end(), lb.begin(), lb.end());
    }
  }
  ASSERT_EQ(got_a.size(), want_a.size());
  ASSERT_EQ(got_b.size(), want_b.size());
  EXPECT_EQ(0, std::memcmp(got_a.data(), want_a.data(), want_a.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(got_b.data(), want_b.data(), want_b.size() * sizeof(float)));
}

TinyModelSpec moe(uint32_t n_expert, uint32_t k, bool split = false) {
  TinyModelSpec s;
  s.n_expert = n_expert;
  s.n_expert_used = k;
  s.split_experts = split;
  return s;
}
TinyModelSpec wide_heads() {
  TinyModelSpec s;
  s.head_dim = 32;  // 4 heads of 32: q width 128 on a model width of 64
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Models, ForwardReference,
    ::testing::Values(Variant{"dense", TinyModelSpec{}}, Variant{"wide_heads", wide_heads()},
                      Variant{"moe4_top2", moe(4, 2)}, Variant{"moe4_top2_split", moe(4, 2, true)},
                      Variant{"moe8_top2", moe(8, 2)}, Variant{"moe3_top1", moe(3, 1)},
                      Variant{"moe4_top4", moe(4, 4)}),
    [](const auto& info) { return std::string(info.param.name); });

// The older per-expert tensors hold the same weights as the 3-D ones here: same logits, bit for
// bit.
TEST(MixtureOfExperts, BothExpertLayoutsGiveTheSameLogits) {
  const auto stacked = test::write_tiny_model(moe(4, 2), "stacked");
  const auto split = test::write_tiny_model(moe(4, 2, true), "split");
  const auto a = eval_all(Model::load(stacked), KvCacheType::F16);
  const auto b = eval_all(Model::load(split), KvCacheType::F16);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  std::filesystem::remove(stacked);
  std::filesystem::remove(split);
}

// Bytes per token: attention, router, output and one embedding row, and k of n experts.
TEST(MixtureOfExperts, WeightBytesCountTheActiveExpertsOnly) {
  const TinyModelSpec s = moe(4, 2);
  const auto path = test::write_tiny_model(s, "bytes");
  const auto model = Model::load(path, {.quantize = std::nullopt, .pack = false});
  std::filesystem::remove(path);
  const uint64_t d = s.n_embd, ff = s.n_ff, f = sizeof(float);
  const uint64_t attention = 4 * d * d * f / 2 + 2 * d * d * f / 2;  // q, o: 64²; k, v: 64 × 32
  const uint64_t router = s.n_expert * d * f, expert = 3 * d * ff * f;
  const uint64_t per_layer = attention + router + s.n_expert_used * expert;
  EXPECT_EQ(model->weight_bytes(), s.n_layer * per_layer + d * f + s.n_vocab * d * f);
}

TEST(MixtureOfExperts, RoutingTakesTheTopKTiesToTheLowestIndex) {
  ExpertChoice c[2];
  const float logits[4] = {0.5f, 2.0f, 0.5f, 1.0f};
  route_token(logits, 4, 2, c);
  const double p1 = std::exp(2.0), p3 = std::exp(1.0);
  EXPECT_EQ(c[0].expert, 1u);
  EXPECT_EQ(c[1].expert, 3u);
  EXPECT_NEAR(c[0].weight, p1 / (p1 + p3), 1e-6);
  EXPECT_NEAR(c[1].weight, p3 / (p1 + p3), 1e-6);
  const float tied[4] = {1.0f, 3.0f, 1.0f, 1.0f};
  route_token(tied, 4, 2, c);
  EXPECT_EQ(c[0].expert, 0u);  // of the three tied at 1.0, the lowest index
  EXPECT_EQ(c[1].expert, 1u);
  const float all_equal[3] = {0.0f, 0.0f, 0.0f};
  ExpertChoice one;
  route_token(all_equal, 3, 1, &one);
  EXPECT_EQ(one.expert, 0u);
  EXPECT_FLOAT_EQ(one.weight, 1.0f);
}

// A bad mixture-of-experts file: an error of the right kind naming the key or tensor.
void expect_load_error(const TinyModelSpec& spec, ErrorKind kind, const std::string& names) {
  const auto path = test::write_tiny_model(spec, "bad");
  try {
    Model::load(path);
    ADD_FAILURE() << "loaded a bad file; expected an error naming " << names;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(MixtureOfExperts, BadFilesAreErrorsNamingTheKeyOrTensor) {
  TinyModelSpec s = moe(4, 2);
  s.tamper = [](GGUFWriter& w) { w.set("llama.expert_count", uint32_t(0)); };
  expect_load_error(s, ErrorKind::BadFile, "llama.expert_count");
  s.tamper = [](GGUFWriter& w) { w.set("llama.expert_used_count", uint32_t(5)); };
  expect_load_error(s, ErrorKind::BadFile, "llama.expert_used_count");
  s.tamper = [](GGUFWriter& w) { w.set("llama.expert_used_count", uint32_t(0)); };
  expect_load_error(s, ErrorKind::BadFile, "llama.expert_used_count");
  s.tamper = {};
  s.reshape = {{"blk.1.ffn_up_exps.weight", {64, 96, 3}}};  // 3 slices for 4 experts
  expect_load_error(s, ErrorKind::BadFile, "blk.1.ffn_up_exps.weight");
  s.reshape = {{"blk.0.ffn_down_exps.weight", {64, 96, 4}}};  // rows and columns swapped
  expect_load_error(s, ErrorKind::BadFile, "blk.0.ffn_down_exps.weight");
  s.reshape = {{"blk.0.ffn_gate_inp.weight", {32, 4}}};  // a router of the wrong width
  expect_load_error(s, ErrorKind::BadFile, "blk.0.ffn_gate_inp.weight");
  s.reshape = {{"blk.0.ffn_gate_inp.weight", {64, 5}}};  // one router row too many
  expect_load_error(s, ErrorKind::BadFile, "blk.0.ffn_gate_inp.weight");
  s.reshape = {};
  s.omit = {"blk.1.ffn_gate_inp.weight"};
  expect_load_error(s, ErrorKind::BadFile, "blk.1.ffn_gate_inp.weight");
  s.omit = {"blk.0.ffn_gate_exps.weight"};
  expect_load_error(s, ErrorKind::BadFile, "blk.0.ffn_gate_exps.weight");
  s.omit = {};
  s.tamper = [](GGUFWriter& w) { w.set("llama.expert_shared_count", uint32_t(1)); };
  expect_load_error(s, ErrorKind::Unsupported, "llama.expert_shared_count");
  s.tamper = [](GGUFWriter& w) { w.set("llama.expert_gating_func", uint32_t(2)); };  // sigmoid
  expect_load_error(s, ErrorKind::Unsupported, "llama.expert_gating_func");
  s.tamper = [](GGUFWriter& w) {
    w.add_tensor("blk.0.exp_probs_b.bias", TensorType::F32, {4}, std::vector<uint8_t>(16));
  };
  expect_load_error(s, ErrorKind::Unsupported, "blk.0.exp_probs_b.bias");

  TinyModelSpec split = moe(4, 2, true);
  split.omit = {"blk.0.ffn_up.3.weight"};
  expect_load_error(split, ErrorKind::BadFile, "blk.0.ffn_up.3.weight");
  split.omit = {};
  split.tamper = [](GGUFWriter& w) { w.set("llama.expert_count", uint32_t(3)); };
  split.reshape = {{"blk.0.ffn_gate_inp.weight", {64, 3}}, {"blk.1.ffn_gate_inp.weight", {64, 3}}};
  expect_load_error(split, ErrorKind::BadFile, "blk.0.ffn_gate.3.weight");  // a 4th expert
}

}  // namespace
}  // namespace minillm
