// Loading rejects models whose hyperparameters contradict each other or the tensors, with an
// error naming what is wrong; valid variants (tied output, GQA, "none" special ids) load.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "gguf_split_writer.h"
#include "kernels/matmul/matmul.h"
#include "kernels/matmul/packed_rows.h"
#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "model/load_hf.h"
#include "model/model_impl.h"
#include "model/pack_weights.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

// A tiny random llama-architecture GGUF (dim 16, 2 layers, 4 heads, 2 KV heads, FFN 24, vocab 32)
// that a test can alter before writing.
struct TinyModel {
  uint32_t dim = 16, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 24, n_vocab = 32;
  std::map<std::string, GGUFValue> metadata;
  std::map<std::string, std::vector<uint64_t>> shapes;
  std::set<std::string> omitted;
  std::map<std::string, float> constant;  // tensors filled with one value

  TinyModel() {
    metadata["general.architecture"] = std::string("llama");
    metadata["llama.context_length"] = uint32_t(64);
    metadata["llama.embedding_length"] = dim;
    metadata["llama.block_count"] = n_layer;
    metadata["llama.feed_forward_length"] = n_ff;
    metadata["llama.attention.head_count"] = n_head;
    metadata["llama.attention.head_count_kv"] = n_head_kv;
    metadata["llama.attention.layer_norm_rms_epsilon"] = 1e-5f;
    metadata["tokenizer.ggml.bos_token_id"] = uint32_t(1);
    metadata["tokenizer.ggml.eos_token_id"] = uint32_t(2);
    metadata["tokenizer.ggml.padding_token_id"] = uint32_t(0xFFFFFFFF);
    const uint32_t hd = dim / n_head;
    shapes["token_embd.weight"] = {dim, n_vocab};
    shapes["output_norm.weight"] = {dim};
    shapes["output.weight"] = {dim, n_vocab};
    for (uint32_t l = 0; l < n_layer; ++l) {
      const std::string b = "blk." + std::to_string(l) + ".";
      shapes[b + "attn_norm.weight"] = {dim};
      shapes[b + "attn_q.weight"] = {dim, n_head * hd};
      shapes[b + "attn_k.weight"] = {dim, n_head_kv * hd};
      shapes[b + "attn_v.weight"] = {dim, n_head_kv * hd};
      shapes[b + "attn_output.weight"] = {n_head * hd, dim};
      shapes[b + "ffn_norm.weight"] = {dim};
      shapes[b + "ffn_gate.weight"] = {dim, n_ff};
      shapes[b + "ffn_up.weight"] = {dim, n_ff};
      shapes[b + "ffn_down.weight"] = {n_ff, dim};
    }
  }

  std::filesystem::path write(const std::string& name) const {
    GGUFWriter w;
    for (const auto& [k, v] : metadata) w.set(k, v);
    std::normal_distribution<float> normal(0.0f, 0.2f);
    for (const auto& [name, shape] : shapes) {
      if (omitted.count(name)) continue;
      std::mt19937 rng(uint32_t(std::hash<std::string>{}(name)));  // independent of other tensors
      uint64_t n = 1;
      for (uint64_t d : shape) n *= d;
      std::vector<float> values(n);
      for (float& x : values) x = name.find("norm") != std::string::npos ? 1.0f : normal(rng);
      if (constant.count(name)) std::fill(values.begin(), values.end(), constant.at(name));
      std::vector<uint8_t> bytes(n * 4);
      std::memcpy(bytes.data(), values.data(), bytes.size());
      w.add_tensor(name, TensorType::F32, shape, std::move(bytes));
    }
    const auto path = std::filesystem::temp_directory_path() /
                      ("minillm_model_load_" + std::to_string(::getpid()) + "_" + name + ".gguf");
    w.write(path);
    return path;
  }
};

// Expects Model::load to throw an Error whose message contains `needle`.
void expect_rejected(const TinyModel& m, const std::string& name, const std::string& needle) {
  const auto path = m.write(name);
  try {
    Model::load(path);
    ADD_FAILURE() << name << ": loaded, expected an error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << name << ": message was: " << e.what();
  }
  std::filesystem::remove(path);
}

TEST(ModelLoad, ValidTinyModelLoadsAndRuns) {
  const TinyModel m;
  const auto path = m.write("valid");
  const auto model = Model::load(path);
  std::filesystem::remove(path);  // weights stay mapped after the file is unlinked
  const ModelConfig& c = model->config();
  EXPECT_EQ(c.n_embd, 16u);
  EXPECT_EQ(c.head_dim, 4u);
  EXPECT_EQ(c.n_rot, 4u);
  EXPECT_EQ(c.n_head_kv, 2u);
  EXPECT_EQ(c.n_vocab, 32u);  // from the embedding: this file has no token list
  EXPECT_EQ(c.bos_token, 1);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  Session s(model, {.n_ctx = 8, .n_batch = 512, .kv_type = KvCacheType::F32, .n_threads = 1});
  const std::vector<int32_t> ids = {1, 5, 9};
  const auto logits = s.eval(ids);
  ASSERT_EQ(logits.size(), 32u);
  for (float x : logits) EXPECT_TRUE(std::isfinite(x));
}

TEST(ModelLoad, TiedEmbeddingsWhenOutputIsAbsent) {
  TinyModel m;
  m.omitted.insert("output.weight");
  const auto path = m.write("tied");
  const auto model = Model::load(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(model->config().tied_embeddings);
}

TEST(ModelLoad, RejectsContradictions) {
  {
    TinyModel m;
    m.metadata["llama.attention.head_count"] = uint32_t(0);
    expect_rejected(m, "zero_heads", "head count is 0");
  }
  {
    TinyModel m;
    m.metadata["llama.attention.head_count_kv"] = uint32_t(3);
    expect_rejected(m, "kv_not_dividing", "not a multiple of the KV head count");
  }
  {
    TinyModel m;
    m.metadata["llama.attention.head_count"] = uint32_t(3);
    m.metadata["llama.attention.head_count_kv"] = uint32_t(1);
    expect_rejected(m, "dim_not_dividing", "not divisible by head count");
  }
  {
    TinyModel m;
    m.metadata["llama.block_count"] = uint32_t(3);
    expect_rejected(m, "too_many_blocks", "missing tensor 'blk.2.");
  }
  {
    TinyModel m;
    m.metadata["llama.block_count"] = uint32_t(1);
    expect_rejected(m, "too_few_blocks", "more blocks than block_count");
  }
  {
    TinyModel m;
    m.shapes["blk.1.ffn_up.weight"] = {16, 25};
    expect_rejected(m, "wrong_shape",
                    "'blk.1.ffn_up.weight' has shape [16, 25], expected [16, 24]");
  }
  {
    TinyModel m;
    m.omitted.insert("blk.0.attn_v.weight");
    expect_rejected(m, "missing_tensor", "missing tensor 'blk.0.attn_v.weight'");
  }
  {
    TinyModel m;
    m.metadata["tokenizer.ggml.eos_token_id"] = uint32_t(32);
    expect_rejected(m, "eos_out_of_vocab", "EOS token id 32 is outside the vocabulary");
  }
  {
    TinyModel m;
    m.metadata["general.architecture"] = std::string("gpt2");
    expect_rejected(m, "unknown_arch", "unsupported architecture 'gpt2'");
  }
  {
    TinyModel m;
    m.metadata["llama.embedding_length"] = 1.5f;
    expect_rejected(m, "wrong_key_type", "llama.embedding_length");
  }
  {
    TinyModel m;
    m.metadata.erase("llama.feed_forward_length");
    expect_rejected(m, "missing_key", "missing metadata key 'llama.feed_forward_length'");
  }
}

TEST(ModelLoad, NoneSpecialIdsAreAccepted) {
  TinyModel m;
  m.metadata["tokenizer.ggml.bos_token_id"] = int32_t(-1);
  m.metadata["tokenizer.ggml.eos_token_id"] = uint32_t(0xFFFFFFFF);
  const auto path = m.write("none_ids");
  const auto model = Model::load(path);
  std::filesystem::remove(path);
  EXPECT_EQ(model->config().bos_token, -1);
  EXPECT_EQ(model->config().eos_token, -1);
}

TEST(ModelLoad, RealModelPaddingIdIsNone) {
  const auto path = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED_FILE(path);
  const auto model = Model::load(path);
  const ModelConfig& c = model->config();
  EXPECT_EQ(c.n_layer, 5u);
  EXPECT_EQ(c.n_head, 8u);
  EXPECT_EQ(c.n_head_kv, 4u);
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(c.n_ff, 172u);
  EXPECT_EQ(c.n_vocab, 512u);
  EXPECT_EQ(c.bos_token, 1);
  EXPECT_EQ(c.eos_token, 2);
}

// A model split over three files loads as one and gives the logits of the whole file.
TEST(ModelLoad, SplitFilesLoadAsOneModel) {
  const auto path = test::shared_file("models/stories260K.gguf");
  const test::TempDir dir;
  const GGUFFile whole = GGUFFile::open(path);
  const auto parts = test::write_split_gguf(whole, dir.path, "stories", 3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_LT(GGUFFile::open(parts[0]).tensors().size(), whole.tensors().size());
  EXPECT_EQ(GGUFFile::open_model(parts[0]).tensors().size(), whole.tensors().size());

  const std::vector<int32_t> ids = {1, 403, 407, 261, 378};
  auto logits_of = [&](const std::filesystem::path& p) {
    Session s(Model::load(p), {.n_ctx = 16, .kv_type = KvCacheType::F32, .n_threads = 1});
    const auto logits = s.eval(ids);
    return std::vector<float>(logits.begin(), logits.end());
  };
  EXPECT_EQ(logits_of(parts[0]), logits_of(path));
}

TEST(ModelLoad, BrokenSplitSetsAreErrors) {
  const test::TempDir dir;
  const GGUFFile whole = GGUFFile::open(test::shared_file("models/stories260K.gguf"));
  const auto parts = test::write_split_gguf(whole, dir.path, "m", 2);
  EXPECT_HAS(test::error_of([&] { Model::load(parts[1]); }), "give part 00001");
  const auto renamed = dir.path / "renamed.gguf";
  std::filesystem::copy_file(parts[0], renamed);
  EXPECT_HAS(test::error_of([&] { Model::load(renamed); }), "-0000K-of-NNNNN.gguf");
  std::filesystem::remove(parts[1]);
  EXPECT_HAS(test::error_of([&] { Model::load(parts[0]); }), "is missing");
  // A part that holds a tensor twice.
  const auto twice = test::write_split_gguf(whole, dir.path, "t", 2);
  std::filesystem::copy_file(twice[0], twice[1], std::filesystem::copy_options::overwrite_existing);
  EXPECT_HAS(test::error_of([&] { Model::load(twice[0]); }), "split.no");
}

TEST(Session, ContextOverflowIsAnErrorAndLeavesTheCacheUnchanged) {
  const TinyModel m;
  const auto path = m.write("overflow");
  const auto model = Model::load(path);
  std::filesystem::remove(path);
  Session s(model, {.n_ctx = 4, .n_batch = 512, .kv_type = KvCacheType::F16, .n_threads = 1});
  const std::vector<int32_t> three = {1, 2, 3};
  s.eval(three);
  EXPECT_THROW(s.eval(three), Error);
  EXPECT_EQ(s.n_past(), 3u);
  const std::vector<int32_t> out_of_vocab = {1, 32};
  EXPECT_THROW(s.eval(out_of_vocab), Error);
  EXPECT_THROW(s.eval(std::vector<int32_t>{-1}), Error);
  EXPECT_EQ(s.n_past(), 3u);
  EXPECT_THROW(s.truncate(4), Error);
}

// Dropping positions and evaluating other tokens gives what a fresh session gives.
TEST(Session, TruncateThenRegenerateMatchesAFreshSession) {
  const TinyModel m;
  const auto path = m.write("truncate");
  const auto model = Model::load(path);
  std::filesystem::remove(path);
  const SessionOptions o{.n_ctx = 16, .n_batch = 512, .kv_type = KvCacheType::F32, .n_threads = 1};
  Session a(model, o);
  a.eval(std::vector<int32_t>{1, 4, 5, 6});
  a.truncate(2);
  const auto reused = a.eval(std::vector<int32_t>{7, 8});
  const std::vector<float> got(reused.begin(), reused.end());
  Session b(model, o);
  const auto fresh = b.eval(std::vector<int32_t>{1, 4, 7, 8});
  ASSERT_EQ(got.size(), fresh.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], fresh[i]) << i;
  EXPECT_EQ(a.n_past(), 4u);
  EXPECT_EQ(a.tokens_evaluated(), 6u);
}

std::vector<float> logits_of(const TinyModel& m, const std::string& name) {
  const auto path = m.write(name);
  const auto model = Model::load(path);
  std::filesystem::remove(path);
  Session s(model, {.n_ctx = 16, .kv_type = KvCacheType::F32, .n_threads = 1});
  const auto l = s.eval(std::vector<int32_t>{1, 7, 3, 9, 4, 12, 5, 30}, true);
  return {l.begin(), l.end()};
}

// Per-dimension RoPE divisors (Llama 3.1's rope_freqs tensor) of 2 everywhere rotate exactly as
// linear RoPE scaling by a factor of 2; factors of 1 change nothing.
TEST(ModelLoad, RopeFrequencyFactorsActAsPerDimensionScaling) {
  TinyModel plain;
  const auto base = logits_of(plain, "rope_plain");
  TinyModel ones = plain;
  ones.shapes["rope_freqs.weight"] = {2};  // head_dim 4 -> 2 rotated pairs
  ones.constant["rope_freqs.weight"] = 1.0f;
  EXPECT_EQ(logits_of(ones, "rope_ones"), base);

  TinyModel twos = ones;
  twos.constant["rope_freqs.weight"] = 2.0f;
  TinyModel linear = plain;
  linear.metadata["llama.rope.scaling.type"] = std::string("linear");
  linear.metadata["llama.rope.scaling.factor"] = 2.0f;
  const auto a = logits_of(twos, "rope_twos"), b = logits_of(linear, "rope_linear");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f) << i;
  EXPECT_NE(a, base);

  TinyModel bad = ones;
  bad.constant["rope_freqs.weight"] = 0.0f;
  expect_rejected(bad, "rope_zero", "rope_freqs.weight holds a non-positive factor");
}

}  // namespace
}  // namespace minillm

namespace minillm {
namespace {

// Packing at load (the default) changes no logit, for a batch and for single tokens, in both
// matmul modes. Q4_K_M mixes Q4_K and Q6_K (its output matrix); F16 matrices are copied.
TEST(ModelLoad, PackingAtLoadChangesNoLogit) {
  for (const char* name : {"gqa-Q4_K_M.gguf", "gqa-Q8_0.gguf", "gqa-Q5_1.gguf", "gqa-F16.gguf"}) {
    SCOPED_TRACE(name);
    const auto path = test::shared_file(std::filesystem::path("reference/models") / name);
    REQUIRE_SHARED_FILE(path);
    const auto packed = Model::load(path);
    const auto plain = Model::load(path, {.quantize = std::nullopt, .pack = false});
    // Packed only where the CPU gains from it (AVX-512); elsewhere this compares two plain loads.
    EXPECT_EQ(packed->impl().weights.layers[0].w_up.packed != nullptr,
              kernels::packing_pays(packed->impl().weights.layers[0].w_up.type));
    ASSERT_EQ(plain->impl().weights.layers[0].w_up.packed, nullptr);
    const SessionOptions o{.n_ctx = 16, .kv_type = KvCacheType::F32, .n_threads = 2};
    for (auto mode : {kernels::MatmulMode::Fast, kernels::MatmulMode::Exact}) {
      kernels::set_matmul_mode_for_testing(mode);
      Session a(packed, o), b(plain, o);
      const std::vector<int32_t> batch{1, 7, 3, 9, 4, 12}, one{30};
      for (const auto& ids : {batch, one}) {
        const auto la = a.eval(ids, true);
        const auto lb = b.eval(ids, true);
        ASSERT_EQ(la.size(), lb.size());
        EXPECT_EQ(std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)), 0);
      }
    }
    kernels::set_matmul_mode_for_testing(std::nullopt);
  }
}

// Every projection matrix and the output matrix move into one region, in the order a forward
// pass reads them (packed where packing pays, copied otherwise); without packing they stay where
// the loader put them.
TEST(ModelLoad, PackingPlacesTheMatricesInOneRegionInForwardOrder) {
  for (const char* name : {"gqa-Q4_K_M.gguf", "gqa-F32.gguf"}) {
    SCOPED_TRACE(name);
    const auto path = test::shared_file(std::filesystem::path("reference/models") / name);
    REQUIRE_SHARED_FILE(path);
    const auto packed = Model::load(path);
    const Model::Impl& impl = packed->impl();
    ASSERT_NE(impl.region, nullptr);
    std::vector<const MatrixView*> order;
    for (const LayerWeights& l : impl.weights.layers)
      for (const MatrixView* m : l.matrices()) order.push_back(m);
    order.push_back(&impl.weights.output);
    const uint8_t* last = impl.region.get();
    for (size_t i = 0; i < order.size(); ++i) {
      const MatrixView& m = *order[i];
      const auto* at = static_cast<const uint8_t*>(m.packed ? m.packed->group(0) : m.data);
      const size_t bytes = row_bytes(m.type, m.cols) * ((m.rows + 15) / 16 * 16);
      EXPECT_EQ(m.packed != nullptr, kernels::packing_pays(m.type)) << i;
      EXPECT_GE(at, last) << i;  // after the previous matrix, within 63 bytes of padding
      EXPECT_LT(at, last + 64) << i;
      last = at + (m.packed ? bytes : row_bytes(m.type, m.cols) * m.rows);
    }
    const auto plain = Model::load(path, {.quantize = std::nullopt, .pack = false});
    EXPECT_EQ(plain->impl().region, nullptr);
    EXPECT_EQ(plain->impl().weights.layers[0].wq.packed, nullptr);
  }
}

// A model whose matrices would not fit under the limit stays in place (anonymous memory cannot
// be dropped and re-read like a file's pages); under it, every matrix moves.
TEST(ModelLoad, PackingLeavesAModelAboveTheMemoryLimitInPlace) {
  const auto folder = test::shared_file("hf/stories260K-f16");
  REQUIRE_SHARED_FILE(folder);
  const auto big = load_hf_folder(folder);
  const void* before = big->weights.layers[0].wq.data;
  size_t bytes = 0;  // of the matrices that would move
  for (const LayerWeights& l : big->weights.layers)
    for (const MatrixView* m : l.matrices()) bytes += row_bytes(m->type, m->cols) * m->rows;
  bytes += row_bytes(big->weights.output.type, big->weights.output.cols) * big->weights.output.rows;
  EXPECT_EQ(pack_weights(*big, 1, bytes / 2), 0u);
  EXPECT_EQ(big->region, nullptr);
  EXPECT_EQ(big->weights.layers[0].wq.data, before);

  const auto fits = load_hf_folder(folder);
  pack_weights(*fits, 1, 2 * bytes + (size_t(1) << 20));
  ASSERT_NE(fits->region, nullptr);
  EXPECT_EQ(fits->weights.layers[0].wq.data, fits->region.get());  // the first matrix read
}

}  // namespace
}  // namespace minillm
