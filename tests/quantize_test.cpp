// Whole-model quantization and synthetic models: which tensor gets which type, that quantized
// models stay close to the exact reference, and that synthetic models are reproducible.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_runner.h"
#include "formats/gguf_file_type.h"
#include "logit_metrics.h"
#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "quantize/quant_mix.h"
#include "quantize/quantize_model.h"
#include "quantize/synthetic_model.h"
#include "test_data.h"

namespace minillm {
namespace {

TensorType type_of(const char* target, const std::string& name, uint32_t n_dims, uint64_t row,
                   uint32_t n_layer) {
  return tensor_type_for(*parse_quant_target(target), name, n_dims, row, n_layer);
}

// general.file_type follows llama.cpp's llama_ftype numbering (LLAMA_FTYPE_MOSTLY_*; a plain K
// type is numbered as its _S mix), the same for `quantize` targets and `convert` outputs.
TEST(QuantMix, FileTypesFollowLlamaCppNumbering) {
  const std::pair<const char*, uint32_t> expected[] = {
      {"f32", 0},   {"f16", 1},   {"q4_0", 2},  {"q4_1", 3},    {"q8_0", 7},
      {"q5_0", 8},  {"q5_1", 9},  {"q2_k", 10}, {"q3_k", 11},   {"q4_k", 14},
      {"q5_k", 16}, {"q6_k", 18}, {"bf16", 32}, {"q4_k_m", 15}, {"q5_k_m", 17}};
  for (const auto& [name, number] : expected) {
    const auto target = parse_quant_target(name);
    ASSERT_TRUE(target) << name;
    EXPECT_EQ(target->gguf_file_type, number) << name;
    if (target->mix == QuantTarget::Mix::None) {
      EXPECT_EQ(gguf_file_type(target->base), number) << name;  // what convert writes
    }
  }
  EXPECT_EQ(gguf_file_type(TensorType::Q3_K, true), 12u);  // Q3_K_M
  EXPECT_FALSE(gguf_file_type(TensorType::Q8_0, true));    // no such mix
}

TEST(QuantMix, MediumKMixGivesMoreBitsToTheDocumentedLayers) {
  // 22 layers: the first eighth (0, 1), the last eighth (19, 20, 21) and every third layer in
  // between (4, 7, 10, 13, 16) keep attn_v and ffn_down at Q6_K.
  const std::set<uint32_t> more = {0, 1, 4, 7, 10, 13, 16, 19, 20, 21};
  for (uint32_t l = 0; l < 22; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const TensorType want = more.count(l) ? TensorType::Q6_K : TensorType::Q4_K;
    EXPECT_EQ(type_of("Q4_K_M", b + "attn_v.weight", 2, 2048, 22), want) << l;
    EXPECT_EQ(type_of("q4_k_m", b + "ffn_down.weight", 2, 5632, 22), want) << l;
    EXPECT_EQ(type_of("q4_k_m", b + "attn_q.weight", 2, 2048, 22), TensorType::Q4_K) << l;
    EXPECT_EQ(type_of("q5_k_m", b + "ffn_up.weight", 2, 2048, 22), TensorType::Q5_K) << l;
  }
  EXPECT_EQ(type_of("q4_k_m", "output.weight", 2, 2048, 22), TensorType::Q6_K);
  EXPECT_EQ(type_of("q4_0", "output.weight", 2, 2048, 22), TensorType::Q6_K);
  EXPECT_EQ(type_of("f16", "output.weight", 2, 2048, 22), TensorType::F16);
  EXPECT_EQ(type_of("q4_k_m", "blk.0.attn_norm.weight", 1, 2048, 22), TensorType::F32);
  // Rows that are not whole blocks fall back: 64 is not a multiple of 256, 172 not of 32.
  EXPECT_EQ(type_of("q4_k", "blk.0.attn_q.weight", 2, 64, 5), TensorType::Q8_0);
  EXPECT_EQ(type_of("q4_0", "blk.0.ffn_down.weight", 2, 172, 5), TensorType::F16);
  EXPECT_FALSE(parse_quant_target("q4_z").has_value());
}

std::vector<float> read_f32(const std::filesystem::path& path) {
  const std::string bytes = test::read_file_bytes(path);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

TEST(QuantizeModel, Q8_0StoriesStaysCloseToTheExactReference) {
  const auto in = test::shared_file("models/stories260K.gguf");
  const auto manifest_path = test::shared_file("reference/manifest.json");
  REQUIRE_SHARED_FILE(in);
  REQUIRE_SHARED_FILE(manifest_path);
  const auto out = test::temp_path("stories_q8_0.gguf");
  std::vector<std::string> logged;
  quantize_model(in, out, *parse_quant_target("q8_0"), 2,
                 [&](const std::string& name, TensorType, double rmse, size_t, size_t) {
                   logged.push_back(name);
                   EXPECT_GE(rmse, 0.0);
                 });
  const GGUFFile src = GGUFFile::open(in), q = GGUFFile::open(out);
  EXPECT_EQ(logged.size(), src.tensors().size());
  EXPECT_EQ(q.get<uint32_t>("general.file_type"), 7u);
  EXPECT_EQ(q.get_string_array("tokenizer.ggml.tokens"),
            src.get_string_array("tokenizer.ggml.tokens"));
  for (const GGUFTensorInfo& t : q.tensors()) {
    if (t.shape.size() == 1)
      EXPECT_EQ(t.type, TensorType::F32) << t.name;
    else if (t.shape[0] % 32 == 0)
      EXPECT_EQ(t.type, TensorType::Q8_0) << t.name;
    else
      EXPECT_EQ(t.type, TensorType::F16) << t.name;  // ffn_down rows of 172
  }

  // Against the float64 truth of the original weights: 8-bit weights move the distribution only
  // slightly.
  std::ifstream mf(manifest_path);
  const auto manifest = nlohmann::json::parse(mf);
  for (const auto& c : manifest.at("cases")) {
    if (c.at("id") != "stories260K__s1_story64") continue;
    const auto truth = read_f32(test::shared_file("reference") / c.at("truth").get<std::string>());
    Session s(Model::load(out), {.n_ctx = 64, .kv_type = KvCacheType::F32, .n_threads = 2});
    const auto ids = c.at("tokens").get<std::vector<int32_t>>();
    const auto logits = s.eval(ids, true);
    const auto m = test::compare_logits(truth, {logits.begin(), logits.end()}, 512, 0.02);
    EXPECT_LT(m.mean_kld, 2e-3);
    EXPECT_LE(m.top1_fail_positions.size(), 2u);
  }
  std::filesystem::remove(out);
}

TEST(QuantizeModel, RefusesAlreadyQuantizedInput) {
  SynthOptions o{*find_model_shape("tiny"), *parse_quant_target("q8_0"), 3, std::nullopt, 1};
  const auto q = test::temp_path("tiny_q8.gguf"), out = test::temp_path("tiny_q4.gguf");
  write_synthetic_model(o, q);
  EXPECT_THROW(quantize_model(q, out, *parse_quant_target("q4_0"), 1), Error);
  EXPECT_FALSE(std::filesystem::exists(out));
  std::filesystem::remove(q);
}

TEST(SyntheticModel, SameSeedSameBytesOtherSeedOtherWeights) {
  const auto a = test::temp_path("synth_a.gguf"), b = test::temp_path("synth_b.gguf"),
             c = test::temp_path("synth_c.gguf");
  SynthOptions o{*find_model_shape("tiny"), *parse_quant_target("q4_0"), 42, std::nullopt, 2};
  write_synthetic_model(o, a);
  o.n_threads = 1;  // the bytes must not depend on threads
  write_synthetic_model(o, b);
  o.seed = 43;
  write_synthetic_model(o, c);
  EXPECT_EQ(test::read_file_bytes(a), test::read_file_bytes(b));
  EXPECT_NE(test::read_file_bytes(a), test::read_file_bytes(c));

  const auto model = Model::load(a);
  const ModelConfig& cfg = model->config();
  EXPECT_EQ(cfg.n_embd, 64u);
  EXPECT_EQ(cfg.n_layer, 2u);
  EXPECT_EQ(cfg.n_head_kv, 2u);
  Session s(model, {.n_ctx = 16, .n_threads = 1});
  const auto logits = s.eval(std::vector<int32_t>{1, 2, 3});
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  for (const auto& p : {a, b, c}) std::filesystem::remove(p);
}

TEST(SyntheticModel, CopiesTheTokenizerFromAVocabulary) {
  const auto vocab = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED_FILE(vocab);
  const auto out = test::temp_path("synth_vocab.gguf");
  SynthOptions o{*find_model_shape("tiny"), *parse_quant_target("f16"), 1, vocab, 1};
  write_synthetic_model(o, out);
  const GGUFFile f = GGUFFile::open(out), v = GGUFFile::open(vocab);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens"),
            v.get_string_array("tokenizer.ggml.tokens"));
  EXPECT_EQ(f.find_tensor("token_embd.weight")->shape[1], 512u);
  EXPECT_EQ(f.get<uint32_t>("general.file_type"), 1u);
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace minillm
