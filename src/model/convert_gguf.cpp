// Writes a loaded Hugging Face model as GGUF. The model is loaded with the same code that runs it
// (so Q/K rows are already in GGUF's adjacent-pair RoPE order); this file only names things the
// way GGUF readers (mini-llm, llama.cpp) expect.
#include "model/convert_gguf.h"

#include <cstring>
#include <string>
#include <vector>

#include "formats/gguf_file_type.h"
#include "kernels/quant/quant.h"
#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/tokenizer.h"
#include "model/arch/llama_tensors.h"
#include "model/load_hf.h"
#include "model/model_impl.h"
#include "model/quantize_weights.h"

namespace minillm {
namespace {

bool is_quantized(TensorType t) {
  return t != TensorType::F32 && t != TensorType::F16 && t != TensorType::BF16;
}

// Adds tensors under their GGUF names, counting them. GGUF shapes list the contiguous dimension
// first: [cols, rows].
class TensorAdder {
 public:
  TensorAdder(GGUFWriter& w, ConvertResult& r) : w_(w), r_(r) {}

  void matrix(const std::string& name, const MatrixView& m) {
    ++r_.n_tensors;
    w_.add_tensor_view(name, m.type, {m.cols, m.rows},
                       {static_cast<const uint8_t*>(m.data), row_bytes(m.type, m.cols) * m.rows});
  }

  // Every expert's matrix `which` as one 3-D tensor [cols, rows, n_expert], as current GGUF files
  // hold them (the slices are copied together).
  void experts(const std::string& name, const std::vector<ExpertWeights>& experts,
               MatrixView ExpertWeights::*which) {
    const MatrixView& first = experts[0].*which;
    const size_t bytes = row_bytes(first.type, first.cols) * first.rows;
    std::vector<uint8_t> all(bytes * experts.size());
    for (size_t e = 0; e < experts.size(); ++e) {
      const MatrixView& m = experts[e].*which;
      if (m.type != first.type)
        throw Error(ErrorKind::Unsupported,
                    "convert: the experts of '" + name + "' have different types");
      std::memcpy(all.data() + e * bytes, m.data, bytes);
    }
    ++r_.n_tensors;
    w_.add_tensor(name, first.type, {first.cols, first.rows, experts.size()}, std::move(all));
  }

  void vector(const std::string& name, const std::vector<float>& v) {
    std::vector<uint8_t> bytes(v.size() * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    ++r_.n_tensors;
    w_.add_tensor(name, TensorType::F32, {v.size()}, std::move(bytes));
  }

 private:
  GGUFWriter& w_;
  ConvertResult& r_;
};

void set_model_keys(GGUFWriter& w, const ModelConfig& c, TensorType main_type) {
  write_llama_metadata(w, c);
  if (const auto ft = gguf_file_type(main_type)) w.set("general.file_type", *ft);
  if (is_quantized(main_type)) w.set("general.quantization_version", uint32_t(2));
}

// Returns how many placeholder tokens were appended to reach the embedding's row count.
size_t set_tokenizer_keys(GGUFWriter& w, const Vocab& vocab_in, uint32_t n_vocab) {
  if (vocab_in.model != "llama")
    throw Error(ErrorKind::Unsupported,
                "convert: tokenizer kind '" + vocab_in.model + "' cannot be written yet");
  Vocab v = vocab_in;
  if (v.tokens.size() > n_vocab)
    throw Error(ErrorKind::BadFile,
                "convert: the tokenizer has " + std::to_string(v.tokens.size()) +
                    " tokens but the model's embedding only " + std::to_string(n_vocab) + " rows");
  // Checkpoints often pad the embedding beyond the vocabulary; GGUF wants one token per row.
  const size_t padding = n_vocab - v.tokens.size();
  if (v.types.empty()) v.types.assign(v.tokens.size(), TokenType::Normal);
  const bool has_scores = !v.scores.empty();
  for (size_t i = v.tokens.size(); i < n_vocab; ++i) {
    v.tokens.push_back("[PAD" + std::to_string(i) + "]");
    if (has_scores) v.scores.push_back(0.0f);
    v.types.push_back(TokenType::Unused);
  }
  std::vector<int32_t> types;
  for (TokenType t : v.types) types.push_back(int32_t(t));
  // "llama" (SentencePiece) or "gpt2" (byte-level BPE, which also needs merges and the name of
  // its pre-tokenizer).
  w.set("tokenizer.ggml.model", v.model);
  if (v.model == "gpt2") {
    w.set("tokenizer.ggml.pre", v.pre_tokenizer);
    w.set("tokenizer.ggml.merges", GGUFValue::string_array(v.merges));
  }
  w.set("tokenizer.ggml.tokens", GGUFValue::string_array(v.tokens));
  if (!v.scores.empty()) w.set("tokenizer.ggml.scores", GGUFValue::array_of(v.scores));
  w.set("tokenizer.ggml.token_type", GGUFValue::array_of(types));
  const std::pair<const char*, int32_t> ids[] = {
      {"tokenizer.ggml.bos_token_id", v.bos_id},     {"tokenizer.ggml.eos_token_id", v.eos_id},
      {"tokenizer.ggml.unknown_token_id", v.unk_id}, {"tokenizer.ggml.padding_token_id", v.pad_id},
      {"tokenizer.ggml.eot_token_id", v.eot_id},     {"tokenizer.ggml.eom_token_id", v.eom_id}};
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
    throw Error(ErrorKind::InvalidArgument,
                folder.string() + ": not a folder (convert reads a Hugging Face model folder)");
  if (options.type && !kernels::can_quantize(*options.type))
    throw Error(
        ErrorKind::Unsupported,
        "convert: writing " + std::string(type_name(*options.type)) + " tensors is not supported");
  // Loaded as Model::load loads a folder; --type re-encodes the matrices as quantize-on-load does.
  const std::unique_ptr<Model::Impl> m = load_hf_folder(folder);
  const Tokenizer tokenizer = Tokenizer::from_path(folder);
  const ModelConfig& c = m->config;
  const ModelWeights& wt = m->weights;
  const TensorType main_type = options.type.value_or(wt.token_embd.type);

  ConvertResult result;
  if (options.type) result.n_kept_type = requantize_weights(*m, *options.type, options.progress);
  // Routers are written as F32, as llama.cpp writes them: small, and they decide the routing.
  for (LayerWeights& l : m->weights.layers)
    if (l.router.data && l.router.type != TensorType::F32) {
      m->owned.emplace_back();
      l.router = requantize_matrix(l.router, TensorType::F32, m->owned.back());
    }
  GGUFWriter w;
  set_model_keys(w, c, main_type);
  result.n_vocab_padding = set_tokenizer_keys(w, tokenizer.vocab(), c.n_vocab);

  TensorAdder add(w, result);
  add.matrix("token_embd.weight", wt.token_embd);
  for (uint32_t i = 0; i < c.n_layer; ++i) {
    for (const LlamaLayerTensor& t : kLlamaLayerTensors) {
      if (!t.in(c)) continue;
      const std::string name = gguf_block_prefix(i) + t.gguf;
      if (t.vector)
        add.vector(name, wt.layers[i].*t.vector);
      else
        add.matrix(name, wt.layers[i].*t.matrix);
    }
    for (const ExpertTensor& et : kExpertTensors)
      if (!wt.layers[i].experts.empty())
        add.experts(gguf_block_prefix(i) + et.gguf_stacked, wt.layers[i].experts, et.matrix);
  }
  add.vector("output_norm.weight", wt.output_norm);
  // A tied output is written as no output tensor: readers then reuse token_embd.
  if (!c.tied_embeddings) add.matrix("output.weight", wt.output);
  if (!wt.rope_freq_factors.empty()) add.vector("rope_freqs.weight", wt.rope_freq_factors);
  w.write(out);
  return result;
}

}  // namespace minillm
