// Hugging Face model folders: config.json fields, the Q/K row reordering (checked against the
// ggml project's GGUF of the same trained model), sharded folders, quantize-on-load, convert's
// output, and clear errors for broken folders. The reference logits of the hf-* cases are checked
// in reference_logits_test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "formats/hf_config.h"
#include "logit_metrics.h"
#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/safetensors.h"
#include "minillm/session.h"
#include "model/convert_gguf.h"
#include "model/load_hf.h"
#include "model/model_impl.h"
#include "safetensors_build.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using test::error_of;
using test::TempDir;

std::vector<float> logits_of(const std::shared_ptr<const Model>& m,
                             const std::vector<int32_t>& ids) {
  Session s(m, {.n_ctx = uint32_t(ids.size()), .kv_type = KvCacheType::F32, .n_threads = 2});
  const auto l = s.eval(ids, true);
  return {l.begin(), l.end()};
}

const std::vector<int32_t> kStory = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421};

// ---- config.json ----

TEST(HFConfig, Llama3RopeFactors) {
  // Llama 3.1 8B: theta 500000, head 128, factor 8, low 1, high 4, original context 8192.
  // Expected divisors from the Llama 3.1 definition evaluated separately (Python, float64).
  const auto f = llama3_rope_factors(500000.0f, 128, 8.0f, 1.0f, 4.0f, 8192.0f);
  ASSERT_EQ(f.size(), 64u);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[28], 1.0f);  // wavelength 1956 < 8192 / 4
  EXPECT_NEAR(f[29], 1.207483871283662, 1e-5);
  EXPECT_NEAR(f[30], 1.5534146285049255, 1e-5);
  EXPECT_NEAR(f[34], 5.257326588708467, 1e-5);
  EXPECT_EQ(f[35], 8.0f);  // wavelength > 8192
  EXPECT_EQ(f[63], 8.0f);
  EXPECT_TRUE(std::is_sorted(f.begin(), f.end()));
}

TEST(HFConfig, MistralAndScalingFields) {
  const json mistral = {{"architectures", {"MistralForCausalLM"}},
                        {"hidden_size", 4096},
                        {"intermediate_size", 14336},
                        {"num_hidden_layers", 32},
                        {"num_attention_heads", 32},
                        {"num_key_value_heads", 8},
                        {"rms_norm_eps", 1e-5},
                        {"rope_theta", 1000000.0},
                        {"sliding_window", 4096},
                        {"max_position_embeddings", 32768},
                        {"vocab_size", 32000},
                        {"bos_token_id", 1},
                        {"eos_token_id", 2},
                        {"tie_word_embeddings", false},
                        {"torch_dtype", "bfloat16"}};
  const HFModelConfig m = parse_hf_config(mistral, "config.json");
  EXPECT_EQ(m.config.architecture, "llama");
  EXPECT_EQ(m.config.n_head_kv, 8u);
  EXPECT_EQ(m.config.head_dim, 128u);
  EXPECT_EQ(m.config.sliding_window, 4096u);
  EXPECT_EQ(m.config.rope_theta, 1e6f);
  EXPECT_EQ(m.config.n_ctx_train, 32768u);
  EXPECT_EQ(m.torch_dtype, "bfloat16");
  EXPECT_TRUE(m.rope_freq_factors.empty());

  json linear = mistral;
  linear["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  linear["sliding_window"] = nullptr;
  linear["head_dim"] = 64;
  const HFModelConfig l = parse_hf_config(linear, "config.json");
  EXPECT_EQ(l.config.rope_freq_scale, 0.25f);
  EXPECT_EQ(l.config.sliding_window, 0u);
  EXPECT_EQ(l.config.head_dim, 64u);

  json llama3 = mistral;
  llama3["architectures"] = {"LlamaForCausalLM"};
  llama3["rope_scaling"] = {{"rope_type", "llama3"},
                            {"factor", 8.0},
                            {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 8192}};
  llama3["eos_token_id"] = {128001, 128008, 128009};
  const HFModelConfig l3 = parse_hf_config(llama3, "config.json");
  EXPECT_TRUE(l3.config.has_rope_freq_factors);
  EXPECT_EQ(l3.rope_freq_factors.size(), 64u);
  EXPECT_EQ(l3.config.eos_token, 128001);
}

TEST(HFModel, FolderConfigMatchesTheGGUFOfTheSameModel) {
  const auto folder = test::shared_file("hf/stories260K");
  const auto gguf = test::shared_file("models/stories260K.gguf");
  for (const fs::path& path : {folder, gguf}) REQUIRE_SHARED_FILE(path);
  const ModelConfig a = Model::load(folder)->config();
  const ModelConfig b = Model::load(gguf)->config();
  EXPECT_EQ(a.n_vocab, b.n_vocab);
  EXPECT_EQ(a.n_embd, b.n_embd);
  EXPECT_EQ(a.n_layer, b.n_layer);
  EXPECT_EQ(a.n_head, b.n_head);
  EXPECT_EQ(a.n_head_kv, b.n_head_kv);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.n_ff, b.n_ff);
  EXPECT_EQ(a.n_rot, b.n_rot);
  EXPECT_EQ(a.rms_eps, b.rms_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.bos_token, b.bos_token);
  EXPECT_EQ(a.eos_token, b.eos_token);
  EXPECT_TRUE(a.tied_embeddings);
  EXPECT_EQ(a.n_ctx_train, 512u);  // the GGUF says 2048, but the model was trained at 512
}

// ---- Q/K layout ----

TEST(HFModel, UnpermuteMovesRowsIntoAdjacentPairs) {
  // One head of 4 rows [r0 r1 | r2 r3]: pairs (r0, r2) and (r1, r3) become adjacent.
  const uint8_t src[8] = {0, 0, 1, 1, 2, 2, 3, 3};
  uint8_t dst[8], back[8];
  unpermute_rope_rows(src, dst, 1, 4, 2);
  EXPECT_EQ(std::vector<uint8_t>(dst, dst + 8), (std::vector<uint8_t>{0, 0, 2, 2, 1, 1, 3, 3}));
  unpermute_rope_rows(dst, back, 1, 4, 2, true);
  EXPECT_EQ(0, std::memcmp(src, back, 8));
}

// convert's tensors equal those of the ggml project's own GGUF of this model, bit for bit: the
// independent check that Q and K rows end up where GGUF readers expect them.
TEST(HFModel, ConvertedTensorsEqualTheReferenceGGUF) {
  const auto folder = test::shared_file("hf/stories260K");
  const auto gguf = test::shared_file("models/stories260K.gguf");
  for (const fs::path& path : {folder, gguf}) REQUIRE_SHARED_FILE(path);
  TempDir dir("conv");
  const auto out = dir.path / "out.gguf";
  convert_hf_to_gguf(folder, out, {});
  const GGUFFile ours = GGUFFile::open(out), ref = GGUFFile::open(gguf);
  size_t compared = 0;
  for (const GGUFTensorInfo& t : ours.tensors()) {
    const GGUFTensorInfo* r = ref.find_tensor(t.name);
    ASSERT_NE(r, nullptr) << t.name;
    EXPECT_EQ(t.shape, r->shape) << t.name;
    EXPECT_EQ(t.type, r->type) << t.name;
    ASSERT_EQ(t.n_bytes, r->n_bytes) << t.name;
    EXPECT_EQ(0, std::memcmp(t.data.data(), r->data.data(), t.n_bytes)) << t.name;
    ++compared;
  }
  EXPECT_EQ(compared, 47u);  // the reference also has output.weight (= token_embd): tied here
  EXPECT_EQ(ours.get<std::string>("general.architecture"), "llama");
  EXPECT_EQ(ours.get<std::string>("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(ours.get_string_array("tokenizer.ggml.tokens"),
            ref.get_string_array("tokenizer.ggml.tokens"));
  EXPECT_EQ(ours.get<uint32_t>("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(ours.get<uint32_t>("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(ours.get<uint32_t>("tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_TRUE(ours.get<bool>("tokenizer.ggml.add_bos_token"));
  EXPECT_TRUE(ours.get<bool>("tokenizer.ggml.add_space_prefix"));
  EXPECT_EQ(ours.get<uint32_t>("llama.attention.head_count_kv"), 4u);
}

TEST(HFModel, FolderAndConvertedGGUFGiveTheSameLogits) {
  for (const char* name : {"hf/stories260K", "hf/stories260K-f16", "hf/stories260K-bf16"}) {
    SCOPED_TRACE(name);
    const auto folder = test::shared_file(name);
    REQUIRE_SHARED_FILE(folder);
    TempDir dir("same");
    convert_hf_to_gguf(folder, dir.path / "m.gguf", {});
    const auto a = logits_of(Model::load(folder), kStory);
    const auto b = logits_of(Model::load(dir.path / "m.gguf"), kStory);
    ASSERT_EQ(a.size(), b.size());
    const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
    double max_diff = 0;
    for (size_t i = 0; i < a.size(); ++i)
      max_diff = std::max(max_diff, double(std::abs(a[i] - b[i])));
    EXPECT_LE(max_diff, 1e-5 * (*hi - *lo));
  }
}

TEST(HFModel, ConvertCarriesTheChatTemplate) {
  const auto folder = test::shared_file("hf/stories260K");
  REQUIRE_SHARED_FILE(folder);
  TempDir dir("template");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
    fs::copy_file(folder / f, dir.path / f);
  const std::string tmpl = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
  std::ofstream(dir.path / "tokenizer_config.json")
      << json{{"chat_template", tmpl}, {"add_bos_token", false}}.dump();
  convert_hf_to_gguf(dir.path, dir.path / "m.gguf", {.type = TensorType::F16});
  const GGUFFile g = GGUFFile::open(dir.path / "m.gguf");
  EXPECT_EQ(g.get<std::string>("tokenizer.chat_template"), tmpl);
  EXPECT_FALSE(g.get<bool>("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->type, TensorType::F16);
  EXPECT_EQ(g.find_tensor("blk.0.attn_norm.weight")->type, TensorType::F32);  // norms stay F32
  EXPECT_EQ(g.get<uint32_t>("general.file_type"), 1u);
}

// ---- shards, quantization ----

TEST(HFModel, ShardedFolderEqualsSingleFile) {
  const auto folder = test::shared_file("hf/stories260K");
  REQUIRE_SHARED_FILE(folder);
  TempDir dir("sharded");
  fs::copy_file(folder / "config.json", dir.path / "config.json");
  const SafetensorsFile whole = SafetensorsFile::open(folder / "model.safetensors");
  test::SafetensorsBuilder shard[2];
  json map = json::object();
  size_t i = 0;
  for (const SafetensorsTensor& t : whole.tensors()) {
    const int s = i++ % 2;
    shard[s].add(t.name, t.dtype, t.shape, t.data.data(), t.data.size());
    map[t.name] = "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
  }
  for (int s = 0; s < 2; ++s)
    shard[s].write(dir.path / ("model-0000" + std::to_string(s + 1) + "-of-00002.safetensors"));
  std::ofstream(dir.path / "model.safetensors.index.json")
      << json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump();
  EXPECT_EQ(logits_of(Model::load(dir.path), kStory), logits_of(Model::load(folder), kStory));
}

TEST(HFModel, QuantizeWhileLoading) {
  const auto folder = test::shared_file("hf/stories260K-bf16");
  const auto f32 = test::shared_file("hf/stories260K");
  for (const fs::path& path : {folder, f32}) REQUIRE_SHARED_FILE(path);
  LoadOptions o;
  o.quantize = TensorType::Q8_0;
  const auto q = Model::load(folder, o);
  const ModelWeights& w = q->impl().weights;
  EXPECT_EQ(w.token_embd.type, TensorType::Q8_0);
  EXPECT_EQ(w.layers[0].wq.type, TensorType::Q8_0);
  EXPECT_EQ(w.layers[0].w_down.type, TensorType::BF16);  // 172 columns: not whole Q8_0 blocks
  EXPECT_LT(q->weight_bytes(), Model::load(folder)->weight_bytes());
  // Q8_0 of a BF16 model stays close to the F32 model: a loose bound far below a broken model's.
  const auto truth = logits_of(Model::load(f32), kStory);
  const auto r = test::compare_logits(truth, logits_of(q, kStory), 512, 0.02);
  EXPECT_LT(r.mean_kld, 1e-3);
  EXPECT_TRUE(r.top1_fail_positions.empty());
  // GGUF files can be quantized on load too; types without a quantizer are refused.
  const auto gguf = test::shared_file("models/stories260K.gguf");
  EXPECT_EQ(Model::load(gguf, o)->impl().weights.layers[0].wk.type, TensorType::Q8_0);
  o.quantize = TensorType::IQ2_XXS;
  EXPECT_HAS(error_of([&] { Model::load(folder, o); }), "IQ2_XXS");
}

// ---- broken folders ----

// A tiny valid untied model: 8 wide, 1 layer, 2 heads of 4, FFN 32, 4 tokens.
struct TinyModel {
  json config = {{"architectures", {"LlamaForCausalLM"}},
                 {"hidden_size", 8},
                 {"intermediate_size", 32},
                 {"num_hidden_layers", 1},
                 {"num_attention_heads", 2},
                 {"num_key_value_heads", 2},
                 {"vocab_size", 4},
                 {"tie_word_embeddings", false}};
  std::map<std::string, std::vector<uint64_t>> shapes = {
      {"model.embed_tokens.weight", {4, 8}},
      {"lm_head.weight", {4, 8}},
      {"model.norm.weight", {8}},
      {"model.layers.0.input_layernorm.weight", {8}},
      {"model.layers.0.post_attention_layernorm.weight", {8}},
      {"model.layers.0.self_attn.q_proj.weight", {8, 8}},
      {"model.layers.0.self_attn.k_proj.weight", {8, 8}},
      {"model.layers.0.self_attn.v_proj.weight", {8, 8}},
      {"model.layers.0.self_attn.o_proj.weight", {8, 8}},
      {"model.layers.0.mlp.gate_proj.weight", {32, 8}},
      {"model.layers.0.mlp.up_proj.weight", {32, 8}},
      {"model.layers.0.mlp.down_proj.weight", {8, 32}}};
  std::map<std::string, std::string> dtypes;  // overrides of F32

  void write(const fs::path& dir) const {
    std::ofstream(dir / "config.json") << config.dump();
    test::SafetensorsBuilder b;
    for (const auto& [name, shape] : shapes) {
      size_t n = 1;
      for (uint64_t d : shape) n *= d;
      std::vector<float> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = 0.01f * float((i * 7 + name.size()) % 13) + 0.5f;
      const auto it = dtypes.find(name);
      if (it == dtypes.end())
        b.add_f32(name, shape, v);
      else
        b.add(name, it->second, shape, v.data(), n * 4);  // I32 and U32: 4 bytes too
    }
    b.write(dir / "model.safetensors");
  }
};

TEST(HFModel, TinyUntiedModelRunsAndConverts) {
  TempDir dir("tiny");
  TinyModel().write(dir.path);
  const auto m = Model::load(dir.path);
  EXPECT_FALSE(m->config().tied_embeddings);
  const auto l = logits_of(m, {0, 1, 2, 3});
  for (float x : l) ASSERT_TRUE(std::isfinite(x));
  // No tokenizer in the folder: convert says so.
  EXPECT_HAS(error_of([&] { convert_hf_to_gguf(dir.path, dir.path / "o.gguf", {}); }),
             "no tokenizer.json or tokenizer.model");
  EXPECT_FALSE(fs::exists(dir.path / "o.gguf"));
}

TEST(HFModel, BrokenFoldersGiveClearErrors) {
  auto load_error = [](const TinyModel& t) {
    TempDir dir("broken");
    t.write(dir.path);
    return error_of([&] { Model::load(dir.path); });
  };
  TinyModel t;
  t.shapes.erase("model.layers.0.mlp.up_proj.weight");
  EXPECT_HAS(load_error(t), "missing tensor 'model.layers.0.mlp.up_proj.weight'");
  t = TinyModel();
  t.shapes["model.layers.0.self_attn.k_proj.weight"] = {4, 8};
  EXPECT_HAS(load_error(t),
             "'model.layers.0.self_attn.k_proj.weight' has shape [4, 8], expected [8, 8]");
  t = TinyModel();
  t.dtypes["model.layers.0.self_attn.o_proj.weight"] = "I32";
  EXPECT_HAS(load_error(t), "'model.layers.0.self_attn.o_proj.weight' has dtype I32");
  t = TinyModel();
  t.shapes.erase("lm_head.weight");
  EXPECT_HAS(load_error(t), "lm_head.weight");
  t = TinyModel();
  t.shapes["model.layers.1.self_attn.q_proj.weight"] = {8, 8};
  EXPECT_HAS(load_error(t), "more layers than num_hidden_layers");
  t = TinyModel();
  t.config["num_attention_heads"] = 3;
  EXPECT_HAS(load_error(t), "not divisible by head count");
  t = TinyModel();
  t.config["architectures"] = {"Qwen2ForCausalLM"};
  EXPECT_HAS(load_error(t), "'Qwen2ForCausalLM' is not supported");

  TempDir empty("empty");
  EXPECT_HAS(error_of([&] { Model::load(empty.path); }), "no config.json");
  std::ofstream(empty.path / "config.json") << TinyModel().config.dump();
  EXPECT_HAS(error_of([&] { Model::load(empty.path); }), "no model.safetensors");
  std::ofstream(empty.path / "model.safetensors") << "garbage";
  EXPECT_HAS(error_of([&] { Model::load(empty.path / "model.safetensors"); }),
             "give the model folder");
  EXPECT_HAS(error_of([&] { Model::load(empty.path); }), "model.safetensors");
}

}  // namespace
}  // namespace minillm
