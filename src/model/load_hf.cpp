// Binds a Hugging Face Llama/Mistral/Mixtral folder to ModelConfig + ModelWeights. This is the only
// place that knows Hugging Face tensor names; the result is exactly what load_gguf gives for the
// same weights converted to GGUF.
#include "model/load_hf.h"

#include <cmath>
#include <cstring>

#include "formats/hf_config.h"
#include "formats/json_file.h"
#include "kernels/quant/quant.h"
#include "minillm/error.h"
#include "minillm/safetensors.h"
#include "model/arch/llama_tensors.h"
#include "model/config_check.h"

namespace minillm {
namespace {

class Binder {
 public:
  Binder(const SafetensorsSet& set, Model::Impl& impl) : set_(set), impl_(impl) {}

  // A projection with `rows` outputs and `cols` inputs: safetensors shape [rows, cols].
  // rope_heads > 0 reorders the rows of that many heads for the graph's RoPE pairing.
  MatrixView matrix(const std::string& name, uint32_t rows, uint32_t cols,
                    uint32_t rope_heads = 0) {
    const SafetensorsTensor& t = set_.at(name);
    expect_shape(t, {rows, cols});
    const TensorType type = t.require_type();
    require_matmul_kernel(t.source, name, type);
    const size_t rb = row_bytes(type, cols);
    const void* data = t.data.data();
    if (rope_heads > 0) {
      std::vector<uint8_t>& buf = own(t.data.size());
      unpermute_rope_rows(t.data.data(), buf.data(), rope_heads, rows / rope_heads, rb);
      data = buf.data();
    } else if (reinterpret_cast<uintptr_t>(data) % element_bytes(type) != 0) {
      // safetensors does not align its data; the kernels read whole elements.
      std::vector<uint8_t>& buf = own(t.data.size());
      std::memcpy(buf.data(), t.data.data(), t.data.size());
      data = buf.data();
    }
    return MatrixView{type, data, rows, cols, nullptr};
  }

  // A vector (norm weights), as float.
  std::vector<float> vector(const std::string& name, uint32_t n) const {
    const SafetensorsTensor& t = set_.at(name);
    expect_shape(t, {n});
    const TensorType type = t.require_type();
    std::vector<uint8_t> aligned(t.data.begin(), t.data.end());  // see matrix(): unaligned data
    std::vector<float> out(n);
    kernels::dequantize_row(type, aligned.data(), out.data(), n);
    for (float x : out)
      if (!std::isfinite(x))
        throw Error(ErrorKind::BadFile,
                    t.source + ": tensor '" + name + "' holds a non-finite value");
    return out;
  }

 private:
  static size_t element_bytes(TensorType type) { return traits(type).block_bytes; }

  static void expect_shape(const SafetensorsTensor& t, const std::vector<uint64_t>& want) {
    if (t.shape != want)
      throw Error(ErrorKind::BadFile, t.source + ": tensor '" + t.name + "' has shape " +
                                          shape_text(t.shape) + ", expected " + shape_text(want));
  }

  std::vector<uint8_t>& own(size_t bytes) {
    impl_.owned.emplace_back(bytes);
    return impl_.owned.back();
  }

  const SafetensorsSet& set_;
  Model::Impl& impl_;
};

// A token id field: a number, a list whose first entry is used, or null/absent (-1).
int32_t token_id_field(const nlohmann::json& j, const char* key, const std::string& src) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null() || (it->is_array() && it->empty())) return -1;
  const nlohmann::json& v = it->is_array() ? it->front() : *it;
  uint64_t id = 0;
  if (!json_uint(v, id) || id > 0x7FFFFFFF)
    throw Error(ErrorKind::BadFile, src + ": '" + key + "' is not a token id");
  return int32_t(id);
}

// generation_config.json holds the ids generation uses when config.json leaves them out.
void fill_special_ids(const std::filesystem::path& folder, ModelConfig& c) {
  const auto path = folder / "generation_config.json";
  if ((c.bos_token >= 0 && c.eos_token >= 0) || !std::filesystem::exists(path)) return;
  const nlohmann::json j = read_json_file(path, 16 << 20);
  if (!j.is_object()) throw Error(ErrorKind::BadFile, path.string() + ": not a JSON object");
  if (c.bos_token < 0) c.bos_token = token_id_field(j, "bos_token_id", path.string());
  if (c.eos_token < 0) c.eos_token = token_id_field(j, "eos_token_id", path.string());
}

}  // namespace

void unpermute_rope_rows(const uint8_t* src, uint8_t* dst, uint32_t n_heads, uint32_t head_dim,
                         size_t row_bytes, bool inverse) {
  const uint32_t half = head_dim / 2;
  for (uint32_t h = 0; h < n_heads; ++h)
    for (uint32_t i = 0; i < half; ++i)
      for (uint32_t j = 0; j < 2; ++j) {
        const size_t split_row = size_t(h) * head_dim + j * half + i;  // Hugging Face
        const size_t pair_row = size_t(h) * head_dim + 2 * i + j;      // GGUF / graph
        const size_t from = inverse ? pair_row : split_row, to = inverse ? split_row : pair_row;
        std::memcpy(dst + to * row_bytes, src + from * row_bytes, row_bytes);
      }
}

std::unique_ptr<Model::Impl> load_hf_folder(const std::filesystem::path& folder) {
  const auto config_path = folder / "config.json";
  if (!std::filesystem::exists(config_path))
    throw Error(ErrorKind::BadFile, folder.string() + ": no config.json in the model folder");
  HFModelConfig hf = read_hf_config(config_path);
  const SafetensorsSet set = SafetensorsSet::open_folder(folder);

  auto impl = std::make_unique<Model::Impl>();
  ModelConfig& c = impl->config;
  c = hf.config;
  if (c.name.empty()) c.name = folder.filename().string();
  if (c.n_vocab == 0)
    if (const SafetensorsTensor* e = set.find("model.embed_tokens.weight");
        e && e->shape.size() == 2)
      c.n_vocab = uint32_t(std::min<uint64_t>(e->shape[0], 0x7FFFFFFF));
  fill_special_ids(folder, c);
  check_config(c, config_path.string());
  if (c.n_rot != c.head_dim || c.head_dim % 2 != 0)
    throw Error(ErrorKind::Unsupported,
                config_path.string() + ": RoPE over part of a head is not supported yet");

  Binder b(set, *impl);
  ModelWeights& w = impl->weights;
  w.token_embd = b.matrix("model.embed_tokens.weight", c.n_vocab, c.n_embd);
  w.layers.resize(c.n_layer);
  for (uint32_t i = 0; i < c.n_layer; ++i) {
    for (const LlamaLayerTensor& t : kLlamaLayerTensors) {
      if (!t.in(c)) continue;
      const std::string name = hf_layer_prefix(i) + t.hf;
      if (t.vector)
        w.layers[i].*t.vector = b.vector(name, llama_dim(c, t.rows));
      else
        w.layers[i].*t.matrix =
            b.matrix(name, llama_dim(c, t.rows), llama_dim(c, t.cols), llama_dim(c, t.rope_heads));
    }
    w.layers[i].experts.resize(c.n_expert);
    for (const ExpertTensor& et : kExpertTensors)
      for (uint32_t e = 0; e < c.n_expert; ++e)
        w.layers[i].experts[e].*et.matrix =
            b.matrix(et.hf_name(i, e), llama_dim(c, et.rows), llama_dim(c, et.cols));
    if (c.n_expert > 0 && set.find(kExpertTensors[0].hf_name(i, c.n_expert)))
      throw Error(ErrorKind::BadFile, config_path.string() +
                                          ": the checkpoint has more experts than "
                                          "num_local_experts " +
                                          std::to_string(c.n_expert));
  }
  // A layer count smaller than the tensors present is as wrong as a larger one.
  if (set.find(hf_layer_prefix(c.n_layer) + "self_attn.q_proj.weight"))
    throw Error(ErrorKind::BadFile, config_path.string() +
                                        ": the checkpoint has more layers than num_hidden_layers " +
                                        std::to_string(c.n_layer));
  w.output_norm = b.vector("model.norm.weight", c.n_embd);
  if (c.tied_embeddings) {
    w.output = w.token_embd;
  } else if (set.find("lm_head.weight")) {
    w.output = b.matrix("lm_head.weight", c.n_vocab, c.n_embd);
  } else {
    throw Error(ErrorKind::BadFile, set.source_name() +
                                        ": missing tensor 'lm_head.weight' (config.json says "
                                        "tie_word_embeddings is false)");
  }
  w.rope_freq_factors = std::move(hf.rope_freq_factors);
  impl->storage = set.owner();
  return impl;
}

}  // namespace minillm
