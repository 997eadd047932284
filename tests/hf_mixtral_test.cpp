// Hugging Face MixtralForCausalLM folders: a tiny mixture-of-experts GGUF model rewritten as a
// Mixtral checkpoint (block_sparse_moe.gate, experts.E.w1/w2/w3, Q/K rows in the half-split RoPE
// order) loads to the same logits, directly and through `convert`, and bad folders are errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "model/convert_gguf.h"
#include "model/load_hf.h"
#include "safetensors_build.h"
#include "test_data.h"
#include "tiny_models.h"

namespace minillm {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("minillm_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

test::TinyModelSpec mixtral_spec() {
  test::TinyModelSpec s;
  s.n_vocab = 512;  // the bundled stories260K tokenizer's
  s.n_expert = 4;
  s.n_expert_used = 2;
  return s;
}

nlohmann::json mixtral_config(const test::TinyModelSpec& s) {
  return {{"architectures", {"MixtralForCausalLM"}},
          {"model_type", "mixtral"},
          {"hidden_size", s.n_embd},
          {"intermediate_size", s.n_ff},
          {"num_hidden_layers", s.n_layer},
          {"num_attention_heads", s.n_head},
          {"num_key_value_heads", s.n_head_kv},
          {"vocab_size", s.n_vocab},
          {"max_position_embeddings", 256},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"num_local_experts", s.n_expert},
          {"num_experts_per_tok", s.n_expert_used},
          {"tie_word_embeddings", false}};
}

// The GGUF model's F32 tensors under Mixtral's names and layout (HF shapes are [rows, cols]).
void write_mixtral_folder(const fs::path& gguf, const test::TinyModelSpec& s, const fs::path& dir,
                          const std::vector<std::string>& omit = {}) {
  const GGUFFile f = GGUFFile::open(gguf);
  test::SafetensorsBuilder b;
  auto add = [&](const std::string& name, const GGUFTensorInfo& t, uint64_t slice = 0,
                 uint32_t rope_heads = 0) {
    if (std::find(omit.begin(), omit.end(), name) != omit.end()) return;
    const uint64_t cols = t.shape[0], rows = t.shape.size() > 1 ? t.shape[1] : 1;
    const uint8_t* src = t.data.data() + slice * rows * cols * 4;
    std::vector<uint8_t> bytes(src, src + rows * cols * 4);
    if (rope_heads)  // GGUF's adjacent pairs back to the half-split order
      unpermute_rope_rows(src, bytes.data(), rope_heads, uint32_t(rows / rope_heads), cols * 4,
                          /*inverse=*/true);
    std::vector<uint64_t> shape =
        t.shape.size() > 1 ? std::vector<uint64_t>{rows, cols} : std::vector<uint64_t>{cols};
    b.add(name, "F32", shape, bytes.data(), bytes.size());
  };
  auto t = [&](const std::string& name) { return *f.find_tensor(name); };
  add("model.embed_tokens.weight", t("token_embd.weight"));
  add("lm_head.weight", t("output.weight"));
  add("model.norm.weight", t("output_norm.weight"));
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    const std::string g = "blk." + std::to_string(l) + ".";
    const std::string h = "model.layers." + std::to_string(l) + ".";
    add(h + "input_layernorm.weight", t(g + "attn_norm.weight"));
    add(h + "self_attn.q_proj.weight", t(g + "attn_q.weight"), 0, s.n_head);
    add(h + "self_attn.k_proj.weight", t(g + "attn_k.weight"), 0, s.n_head_kv);
    add(h + "self_attn.v_proj.weight", t(g + "attn_v.weight"));
    add(h + "self_attn.o_proj.weight", t(g + "attn_output.weight"));
    add(h + "post_attention_layernorm.weight", t(g + "ffn_norm.weight"));
    add(h + "block_sparse_moe.gate.weight", t(g + "ffn_gate_inp.weight"));
    for (uint32_t e = 0; e < s.n_expert; ++e) {
      const std::string x = h + "block_sparse_moe.experts." + std::to_string(e) + ".";
      add(x + "w1.weight", t(g + "ffn_gate_exps.weight"), e);
      add(x + "w2.weight", t(g + "ffn_down_exps.weight"), e);
      add(x + "w3.weight", t(g + "ffn_up_exps.weight"), e);
    }
  }
  b.write(dir / "model.safetensors");
  std::ofstream(dir / "config.json") << mixtral_config(s).dump();
  const fs::path tok = test::source_dir() / "tests/data/hf/stories260K";
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(tok / name, dir / name, fs::copy_options::overwrite_existing);
}

std::vector<float> logits_of(const fs::path& path) {
  Session s(Model::load(path), {.n_ctx = 32, .kv_type = KvCacheType::F32, .n_threads = 2});
  const std::vector<int32_t> ids = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};
  const auto l = s.eval(ids, true);
  return {l.begin(), l.end()};
}

TEST(HFMixtral, FolderAndConvertedFileGiveTheGGUFModelsLogits) {
  const auto spec = mixtral_spec();
  const fs::path gguf = test::write_tiny_model(spec, "mixtral_src");
  TempDir dir("hf_mixtral");
  write_mixtral_folder(gguf, spec, dir.path);
  const auto want = logits_of(gguf);

  const auto direct = logits_of(dir.path);
  ASSERT_EQ(direct.size(), want.size());
  EXPECT_EQ(0, std::memcmp(direct.data(), want.data(), want.size() * sizeof(float)));
  EXPECT_EQ(Model::load(dir.path)->config().n_expert, 4u);

  const fs::path converted = dir.path / "converted.gguf";
  convert_hf_to_gguf(dir.path, converted, {});
  const auto via_convert = logits_of(converted);
  EXPECT_EQ(0, std::memcmp(via_convert.data(), want.data(), want.size() * sizeof(float)));
  const GGUFFile c = GGUFFile::open(converted);
  EXPECT_EQ(c.at("llama.expert_count").as_uint(), 4u);
  EXPECT_EQ(c.at("llama.expert_used_count").as_uint(), 2u);
  const GGUFTensorInfo* exps = c.find_tensor("blk.1.ffn_down_exps.weight");
  ASSERT_NE(exps, nullptr);
  EXPECT_EQ(exps->shape, (std::vector<uint64_t>{96, 64, 4}));

  // --type q8_0 re-encodes the experts; the router stays F32.
  const fs::path q8 = dir.path / "q8.gguf";
  convert_hf_to_gguf(dir.path, q8, {.type = TensorType::Q8_0});
  const GGUFFile q = GGUFFile::open(q8);
  EXPECT_EQ(q.find_tensor("blk.0.ffn_up_exps.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(q.find_tensor("blk.0.ffn_gate_inp.weight")->type, TensorType::F32);
  EXPECT_NO_THROW(logits_of(q8));
  fs::remove(gguf);
}

std::string load_error(const fs::path& folder) {
  try {
    Model::load(folder);
  } catch (const Error& e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(HFMixtral, BadFoldersAreErrors) {
  const auto spec = mixtral_spec();
  const fs::path gguf = test::write_tiny_model(spec, "mixtral_bad");
  {
    TempDir dir("hf_mixtral_missing");
    write_mixtral_folder(gguf, spec, dir.path,
                         {"model.layers.1.block_sparse_moe.experts.2.w3.weight"});
    EXPECT_NE(load_error(dir.path).find("model.layers.1.block_sparse_moe.experts.2.w3.weight"),
              std::string::npos)
        << load_error(dir.path);
  }
  {
    TempDir dir("hf_mixtral_k");
    write_mixtral_folder(gguf, spec, dir.path);
    auto config = mixtral_config(spec);
    config["num_experts_per_tok"] = 5;
    std::ofstream(dir.path / "config.json") << config.dump();
    EXPECT_NE(load_error(dir.path).find("num_experts_per_tok"), std::string::npos)
        << load_error(dir.path);
    config["num_experts_per_tok"] = 2;
    config["num_local_experts"] = 3;  // the checkpoint has 4
    std::ofstream(dir.path / "config.json") << config.dump();
    EXPECT_NE(load_error(dir.path).find("block_sparse_moe.gate.weight"), std::string::npos)
        << load_error(dir.path);
  }
  fs::remove(gguf);
}

}  // namespace
}  // namespace minillm
