// Writes a loaded Hugging Face model as GGUF. The model is loaded with the same code that runs it
// (so Q/K rows are already in GGUF's adjacent-pair RoPE order); this file only names things the
// way GGUF readers (mini-llm, llama.cpp) expect.
#include "model/convert_gguf.h"

#include <cstring>
#include <string>
#include <vector>

#include "kernels/quant.h"
#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/tokenizer.h"
#include "model/model_impl.h"
#include "model/quantize_weights.h"

namespace minillm {
namespace {

// llama.cpp's general.file_type numbers (informational for readers).
std::optional<uint32_t> file_type_of(TensorType t) {
  switch (t) {
    case TensorType::F32:
      return 0;
    case TensorType::F16:
      return 1;
    case TensorType::Q4_0:
      return 2;
    case TensorType::Q4_1:
      return 3;
    case TensorType::Q8_0:
      return 7;
    case TensorType::Q5_0:
      return 8;
    case TensorType::Q5_1:
      return 9;
    case TensorType::Q2_K:
      return 10;
    case TensorType::Q3_K:
      return 11;
    case TensorType::Q4_K:
      return 14;
    case TensorType::Q5_K:
      return 16;
    case TensorType::Q6_K:
      return 18;
    case TensorType::BF16:
      return 32;
    default:
      return std::nullopt;
  }
}

bool is_quantized(TensorType t) {
  return t != TensorType::F32 && t != TensorType::F16 && t != TensorType::BF16;
}

class TensorAdder {
 public:
  TensorAdder(GGUFWriter& w, std::optional<TensorType> type, ConvertResult& r)
      : w_(w), type_(type), r_(r) {}

  // GGUF shapes list the contiguous dimension first: [cols, rows].
  void matrix(const std::string& name, const MatrixView& m) {
    const size_t bytes = row_bytes(m.type, m.cols) * m.rows;
    ++r_.n_tensors;
    if (!type_ || *type_ == m.type) {
      w_.add_tensor_view(name, m.type, {m.cols, m.rows},
                         {static_cast<const uint8_t*>(m.data), bytes});
      return;
    }
    if (m.cols % traits(*type_).block_size != 0) {
      ++r_.n_kept_type;
      w_.add_tensor_view(name, m.type, {m.cols, m.rows},
                         {static_cast<const uint8_t*>(m.data), bytes});
      return;
    }
    std::vector<uint8_t> buf;
    requantize_matrix(m, *type_, buf);
    w_.add_tensor(name, *type_, {m.cols, m.rows}, std::move(buf));
  }

  void vector(const std::string& name, const std::vector<float>& v) {
    std::vector<uint8_t> bytes(v.size() * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    ++r_.n_tensors;
    w_.add_tensor(name, TensorType::F32, {v.size()}, std::move(bytes));
  }

 private:
  GGUFWriter& w_;
  std::optional<TensorType> type_;
  ConvertResult& r_;
};

void set_model_keys(GGUFWriter& w, const ModelConfig& c, TensorType main_type) {
  w.set("general.architecture", "llama");
  w.set("general.name", c.name.c_str());
  if (const auto ft = file_type_of(main_type)) w.set("general.file_type", *ft);
  if (is_quantized(main_type)) w.set("general.quantization_version", uint32_t(2));
  w.set("llama.vocab_size", c.n_vocab);
  w.set("llama.context_length", c.n_ctx_train);
  w.set("llama.embedding_length", c.n_embd);
  w.set("llama.block_count", c.n_layer);
  w.set("llama.feed_forward_length", c.n_ff);
  w.set("llama.attention.head_count", c.n_head);
  w.set("llama.attention.head_count_kv", c.n_head_kv);
  if (c.head_dim != c.n_embd / c.n_head) {
    w.set("llama.attention.key_length", c.head_dim);
    w.set("llama.attention.value_length", c.head_dim);
  }
  w.set("llama.rope.dimension_count", c.n_rot);
  w.set("llama.rope.freq_base", c.rope_theta);
  w.set("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
  if (c.rope_freq_scale != 1.0f) {
    w.set("llama.rope.scaling.type", "linear");
    w.set("llama.rope.scaling.factor", 1.0f / c.rope_freq_scale);
  }
  if (c.sliding_window) w.set("llama.attention.sliding_window", c.sliding_window);
}

// Returns how many placeholder tokens were appended to reach the embedding's row count.
size_t set_tokenizer_keys(GGUFWriter& w, const Vocab& vocab_in, uint32_t n_vocab) {
  if (vocab_in.model != "llama")
    throw Error("convert: tokenizer kind '" + vocab_in.model + "' cannot be written yet");
  Vocab v = vocab_in;
  if (v.tokens.size() > n_vocab)
    throw Error("convert: the tokenizer has " + std::to_string(v.tokens.size()) +
                " tokens but the model's embedding only " + std::to_string(n_vocab) + " rows");
  // Checkpoints often pad the embedding beyond the vocabulary; GGUF wants one token per row.
  const size_t padding = n_vocab - v.tokens.size();
  for (size_t i = v.tokens.size(); i < n_vocab; ++i) {
    v.tokens.push_back("[PAD" + std::to_string(i) + "]");
    v.scores.push_back(0.0f);
    v.types.push_back(TokenType::Unused);
  }
  std::vector<int32_t> types;
  for (TokenType t : v.types) types.push_back(int32_t(t));
  w.set("tokenizer.ggml.model", "llama");
  w.set("tokenizer.ggml.tokens", GGUFValue::string_array(v.tokens));
  w.set("tokenizer.ggml.scores", GGUFValue::array_of(v.scores));
  w.set("tokenizer.ggml.token_type", GGUFValue::array_of(types));
  const std::pair<const char*, int32_t> ids[] = {{"tokenizer.ggml.bos_token_id", v.bos_id},
                                                 {"tokenizer.ggml.eos_token_id", v.eos_id},
                                                 {"tokenizer.ggml.unknown_token_id", v.unk_id},
                                                 {"tokenizer.ggml.padding_token_id", v.pad_id}};
  for (const auto& [key, id] : ids)
    if (id >= 0) w.set(key, uint32_t(id));
  w.set("tokenizer.ggml.add_bos_token", v.add_bos);
  w.set("tokenizer.ggml.add_eos_token", v.add_eos);
  w.set("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  if (!v.chat_template.empty()) w.set("tokenizer.chat_template", v.chat_template.c_str());
  return padding;
}

}  // namespace

ConvertResult convert_hf_to_gguf(const std::filesystem::path& folder,
                                 const std::filesystem::path& out, const ConvertOptions& options) {
  if (!std::filesystem::is_directory(folder))
    throw Error(folder.string() + ": not a folder (convert reads a Hugging Face model folder)");
  if (options.type && !kernels::can_quantize(*options.type))
    throw Error("convert: writing " + std::string(type_name(*options.type)) +
                " tensors is not supported");
  const auto model = Model::load(folder);
  const Tokenizer tokenizer = Tokenizer::from_path(folder);
  const Model::Impl& m = model->impl();
  const ModelConfig& c = m.config;
  const ModelWeights& wt = m.weights;

  ConvertResult result;
  GGUFWriter w;
  set_model_keys(w, c, options.type.value_or(wt.token_embd.type));
  result.n_vocab_padding = set_tokenizer_keys(w, tokenizer.vocab(), c.n_vocab);

  TensorAdder add(w, options.type, result);
  add.matrix("token_embd.weight", wt.token_embd);
  for (uint32_t i = 0; i < c.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const LayerWeights& l = wt.layers[i];
    add.vector(p + "attn_norm.weight", l.attn_norm);
    add.matrix(p + "attn_q.weight", l.wq);
    add.matrix(p + "attn_k.weight", l.wk);
    add.matrix(p + "attn_v.weight", l.wv);
    add.matrix(p + "attn_output.weight", l.wo);
    add.vector(p + "ffn_norm.weight", l.ffn_norm);
    add.matrix(p + "ffn_gate.weight", l.w_gate);
    add.matrix(p + "ffn_up.weight", l.w_up);
    add.matrix(p + "ffn_down.weight", l.w_down);
  }
  add.vector("output_norm.weight", wt.output_norm);
  // A tied output is written as no output tensor: readers then reuse token_embd.
  if (!c.tied_embeddings) add.matrix("output.weight", wt.output);
  if (!wt.rope_freq_factors.empty()) add.vector("rope_freqs.weight", wt.rope_freq_factors);
  w.write(out);
  return result;
}

}  // namespace minillm
