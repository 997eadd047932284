// Whole-model quantization and synthetic models: which tensor gets which type, that quantized
// models stay close to the exact reference, and that synthetic models are reproducible.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "cli_runner.h"
#include "formats/gguf_file_type.h"
#include "kernels/quant/quant.h"
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
      {"f32", 0},   {"f16", 1},     {"q4_0", 2},    {"q4_1", 3},    {"q8_0", 7},   {"q5_0", 8},
      {"q5_1", 9},  {"q2_k", 10},   {"q3_k", 11},   {"q4_k", 14},   {"q5_k", 16},  {"q6_k", 18},
      {"bf16", 32}, {"q4_k_m", 15}, {"q5_k_m", 17}, {"iq4_nl", 25}, {"IQ4_XS", 30}};
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
  // IQ4: output at 6 bits as for the other quantized targets; IQ4_XS rows of 32-blocks that are
  // not whole super-blocks take IQ4_NL (the same 4-bit levels with a scale per 32).
  EXPECT_EQ(type_of("iq4_xs", "blk.3.ffn_down.weight", 2, 5632, 22), TensorType::IQ4_XS);
  EXPECT_EQ(type_of("iq4_nl", "blk.3.ffn_down.weight", 2, 5632, 22), TensorType::IQ4_NL);
  EXPECT_EQ(type_of("iq4_xs", "output.weight", 2, 2048, 22), TensorType::Q6_K);
  EXPECT_EQ(type_of("iq4_xs", "token_embd.weight", 2, 2048, 22), TensorType::IQ4_XS);
  EXPECT_EQ(type_of("iq4_xs", "blk.0.attn_q.weight", 2, 96, 5), TensorType::IQ4_NL);
  EXPECT_EQ(type_of("iq4_nl", "blk.0.ffn_down.weight", 2, 172, 5), TensorType::F16);
  EXPECT_FALSE(parse_quant_target("q4_z").has_value());
}

// Mixtures of experts as llama.cpp's mixes treat them: the router stays F32, the experts' down
// projections (3-D or one tensor per expert) count as ffn_down, and with 8 experts attn_k and
// attn_v take Q8_0 (and attn_output Q5_K in Q4_K_M).
TEST(QuantMix, ExpertTensors) {
  for (const char* t : {"q4_0", "q4_k_m", "q8_0", "iq4_xs"})
    EXPECT_EQ(tensor_type_for(*parse_quant_target(t), "blk.3.ffn_gate_inp.weight", 2, 4096, 32, 8),
              TensorType::F32)
        << t;
  const QuantTarget km = *parse_quant_target("q4_k_m");
  EXPECT_EQ(tensor_type_for(km, "blk.0.ffn_down_exps.weight", 3, 14336, 32, 8), TensorType::Q6_K);
  EXPECT_EQ(tensor_type_for(km, "blk.5.ffn_down_exps.weight", 3, 14336, 32, 8), TensorType::Q4_K);
  EXPECT_EQ(tensor_type_for(km, "blk.0.ffn_down.5.weight", 2, 14336, 32, 8), TensorType::Q6_K);
  EXPECT_EQ(tensor_type_for(km, "blk.0.ffn_up_exps.weight", 3, 4096, 32, 8), TensorType::Q4_K);
  // llama-quantize (c392e509, llama-quant.cpp) raises attn_output to Q5_K in Q4_K_M files with 8
  // experts, not with other expert counts, and not in Q5_K_M.
  EXPECT_EQ(tensor_type_for(km, "blk.7.attn_output.weight", 2, 4096, 32, 8), TensorType::Q5_K);
  EXPECT_EQ(tensor_type_for(km, "blk.7.attn_output.weight", 2, 4096, 32, 4), TensorType::Q4_K);
  EXPECT_EQ(
      tensor_type_for(*parse_quant_target("q5_k_m"), "blk.7.attn_output.weight", 2, 4096, 32, 8),
      TensorType::Q5_K);
  EXPECT_EQ(
      tensor_type_for(*parse_quant_target("q5_k_m"), "blk.7.attn_output.weight", 2, 4096, 32, 4),
      TensorType::Q5_K);
  const QuantTarget q4 = *parse_quant_target("q4_0");
  EXPECT_EQ(tensor_type_for(q4, "blk.5.attn_k.weight", 2, 4096, 32, 8), TensorType::Q8_0);
  EXPECT_EQ(tensor_type_for(q4, "blk.5.attn_v.weight", 2, 4096, 32, 8), TensorType::Q8_0);
  EXPECT_EQ(tensor_type_for(q4, "blk.5.attn_q.weight", 2, 4096, 32, 8), TensorType::Q4_0);
  EXPECT_EQ(tensor_type_for(q4, "blk.5.attn_v.weight", 2, 4096, 32, 4), TensorType::Q4_0);
  EXPECT_EQ(tensor_type_for(*parse_quant_target("f16"), "blk.5.attn_v.weight", 2, 4096, 32, 8),
            TensorType::F16);
}

// synth writes a mixture of experts that loads and runs; quantize keeps its router F32.
TEST(SyntheticModel, MixtureOfExperts) {
  const auto f32 = test::temp_path("synth_moe.gguf"), q = test::temp_path("synth_moe_q.gguf");
  write_synthetic_model(
      {*find_model_shape("moe-tiny"), *parse_quant_target("f32"), 1, std::nullopt, 2}, f32);
  quantize_model(f32, q, *parse_quant_target("q8_0"), 2);
  const GGUFFile file = GGUFFile::open(q);
  EXPECT_EQ(file.find_tensor("blk.1.ffn_gate_inp.weight")->type, TensorType::F32);
  EXPECT_EQ(file.find_tensor("blk.1.ffn_up_exps.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(file.find_tensor("blk.1.ffn_up_exps.weight")->shape,
            (std::vector<uint64_t>{64, 128, 4}));
  for (const auto& path : {f32, q}) {
    const auto model = Model::load(path);
    EXPECT_EQ(model->config().n_expert, 4u);
    EXPECT_EQ(model->config().n_expert_used, 2u);
    Session s(model, {.n_ctx = 16, .n_threads = 2});
    const auto logits = s.eval(std::vector<int32_t>{1, 2, 3, 4, 5});
    for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  }
  std::filesystem::remove(f32);
  std::filesystem::remove(q);
  const auto mixtral = find_model_shape("mixtral-8x7b");
  ASSERT_TRUE(mixtral);
  EXPECT_EQ(mixtral->n_expert, 8u);
  EXPECT_EQ(mixtral->n_ff, 14336u);
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

// Our IQ4 quantizer against llama.cpp's on the same weights: the gqa model's IQ4 files of
// manifest-iq.json were made by llama-quantize --pure from the F32 weights of gqa-F32.gguf. Every
// tensor quantized by quantize_row has a squared error no larger than llama.cpp's (whose search
// minimizes an error weighted by x^2, not the plain one).
TEST(QuantizeModel, IQ4ErrorNoLargerThanLlamaCppsOnTheSameWeights) {
  const auto f32_path = test::shared_file("reference/models/gqa-F32.gguf");
  REQUIRE_SHARED_FILE(f32_path);
  const GGUFFile src = GGUFFile::open(f32_path);
  for (TensorType type : {TensorType::IQ4_NL, TensorType::IQ4_XS}) {
    const auto path =
        test::shared_file("reference/more-models/gqa-" + std::string(type_name(type)) + ".gguf");
    REQUIRE_SHARED_FILE(path);
    const GGUFFile theirs = GGUFFile::open(path);
    double sq_ours = 0, sq_theirs = 0;
    size_t n_total = 0, n_tensors = 0;
    for (const GGUFTensorInfo& t : theirs.tensors()) {
      if (t.type != type) continue;
      const GGUFTensorInfo* s = src.find_tensor(t.name);
      ASSERT_NE(s, nullptr) << t.name;
      ASSERT_EQ(s->type, TensorType::F32);
      ASSERT_EQ(s->shape, t.shape);
      const size_t row = t.shape[0], n = t.n_elements;
      std::vector<float> x(n), y(n), z(n);
      std::memcpy(x.data(), s->data.data(), n * sizeof(float));
      for (size_t r = 0; r < n / row; ++r)
        kernels::dequantize_row(type, t.data.data() + r * row_bytes(type, row), y.data() + r * row,
                                row);
      std::vector<uint8_t> q(row_bytes(type, row));
      double e_ours = 0, e_theirs = 0;
      for (size_t r = 0; r < n / row; ++r) {
        kernels::quantize_row(type, x.data() + r * row, q.data(), row);
        kernels::dequantize_row(type, q.data(), z.data() + r * row, row);
      }
      for (size_t i = 0; i < n; ++i) {
        e_ours += (double(z[i]) - x[i]) * (double(z[i]) - x[i]);
        e_theirs += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
      }
      std::printf("%-7s %-26s rmse ours %.4e llama.cpp %.4e\n",
                  std::string(type_name(type)).c_str(), t.name.c_str(), std::sqrt(e_ours / n),
                  std::sqrt(e_theirs / n));
      // llama.cpp's error is of the same magnitude (the files hold these weights) ...
      EXPECT_LT(
          e_theirs, 0.02 *
                        [&] {
                          double sq = 0;
                          for (float v : x) sq += double(v) * v;
                          return sq;
                        }())
          << t.name;
      // ... and ours no larger.
      EXPECT_LE(e_ours, e_theirs) << t.name;
      sq_ours += e_ours, sq_theirs += e_theirs, n_total += n, ++n_tensors;
    }
    EXPECT_GE(n_tensors, 29u);  // 7 matrices x 4 layers, embedding, output
    std::printf("%-7s all %zu tensors: rmse ours %.4e llama.cpp %.4e\n",
                std::string(type_name(type)).c_str(), n_tensors, std::sqrt(sq_ours / n_total),
                std::sqrt(sq_theirs / n_total));
  }
}

// Whole models: quantize to IQ4_NL / IQ4_XS writes the IQ4 types and llama.cpp's file type
// numbers, and the result stays as close to the float64 truth of the original F32 weights as
// llama.cpp's own IQ4 files of those weights (which are IQ4 through and through; ours keep the
// output at Q6_K, so the comparison favours ours by that much).
TEST(QuantizeModel, IQ4GqaStaysAsCloseToTheTruthAsLlamaCppsFiles) {
  const auto in = test::shared_file("reference/models/gqa-F32.gguf");
  const auto manifest_path = test::shared_file("reference/manifest.json");
  REQUIRE_SHARED_FILE(in);
  REQUIRE_SHARED_FILE(manifest_path);
  std::ifstream mf(manifest_path);
  const auto manifest = nlohmann::json::parse(mf);
  std::vector<float> truth;
  std::vector<int32_t> ids;
  for (const auto& c : manifest.at("cases"))
    if (c.at("id") == "gqa-F32__s1_story64") {
      truth = read_f32(test::shared_file("reference") / c.at("truth").get<std::string>());
      ids = c.at("tokens").get<std::vector<int32_t>>();
    }
  ASSERT_FALSE(ids.empty());
  auto kld_of = [&](const std::filesystem::path& model) {
    Session s(Model::load(model), {.n_ctx = 64, .kv_type = KvCacheType::F32, .n_threads = 2});
    const auto logits = s.eval(ids, true);
    return test::compare_logits(truth, {logits.begin(), logits.end()}, 512, 0.02);
  };
  for (const auto& [target, number, type] : {std::tuple{"iq4_nl", 25u, TensorType::IQ4_NL},
                                             std::tuple{"iq4_xs", 30u, TensorType::IQ4_XS}}) {
    SCOPED_TRACE(target);
    const auto out = test::temp_path(std::string("gqa_") + target + ".gguf");
    quantize_model(in, out, *parse_quant_target(target), 2);
    const GGUFFile q = GGUFFile::open(out);
    EXPECT_EQ(q.get<uint32_t>("general.file_type"), number);
    for (const GGUFTensorInfo& t : q.tensors())
      EXPECT_EQ(t.type, t.shape.size() == 1         ? TensorType::F32
                        : t.name == "output.weight" ? TensorType::Q6_K
                                                    : type)
          << t.name;
    const auto ours = kld_of(out);
    const auto theirs_path =
        test::shared_file("reference/more-models/gqa-" + std::string(type_name(type)) + ".gguf");
    REQUIRE_SHARED_FILE(theirs_path);
    const auto theirs = kld_of(theirs_path);
    std::printf("%s: mean KL from the F32 truth: ours %.3e, llama.cpp's file %.3e\n", target,
                ours.mean_kld, theirs.mean_kld);
    EXPECT_LE(ours.mean_kld, theirs.mean_kld);
    EXPECT_LE(ours.top1_fail_positions.size(), theirs.top1_fail_positions.size() + 1);
    std::filesystem::remove(out);
  }
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

// synth --type iq4_nl / iq4_xs: the 64-wide tiny shape takes IQ4_NL everywhere (no whole
// super-blocks), gqa-small IQ4_XS; both run.
TEST(SyntheticModel, IQ4Targets) {
  for (const auto& [shape, target, type] :
       {std::tuple{"tiny", "iq4_nl", TensorType::IQ4_NL},
        std::tuple{"tiny", "iq4_xs", TensorType::IQ4_NL},
        std::tuple{"gqa-small", "iq4_xs", TensorType::IQ4_XS}}) {
    SCOPED_TRACE(std::string(shape) + " " + target);
    const auto out = test::temp_path("synth_iq4.gguf");
    SynthOptions o{*find_model_shape(shape), *parse_quant_target(target), 5, std::nullopt, 2};
    write_synthetic_model(o, out);
    const GGUFFile f = GGUFFile::open(out);
    EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, type);
    EXPECT_EQ(f.find_tensor("token_embd.weight")->type, type);
    Session s(Model::load(out), {.n_ctx = 16, .n_threads = 2});
    const auto logits = s.eval(std::vector<int32_t>{1, 2, 3});
    for (float x : logits) ASSERT_TRUE(std::isfinite(x));
    std::filesystem::remove(out);
  }
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
