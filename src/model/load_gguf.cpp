// Binds a GGUF file of architecture "llama" to ModelConfig + ModelWeights. This is the only
// place that knows GGUF key and tensor names for the graph.
#include <cmath>
#include <string>

#include "kernels/quant.h"
#include "minillm/error.h"
#include "minillm/gguf.h"
#include "model/arch/gguf_keys.h"
#include "model/arch/llama_tensors.h"
#include "model/config_check.h"
#include "model/load_gguf.h"

namespace minillm {
namespace {

uint32_t read_u32(const GGUFFile& f, const std::string& key) {
  const uint64_t v = f.at(key).as_uint(key);
  if (v > 0xFFFFFFFFu)
    throw Error(ErrorKind::BadFile, f.source_name() + ": metadata '" + key + "' is out of range");
  return static_cast<uint32_t>(v);
}
uint32_t read_u32_or(const GGUFFile& f, const std::string& key, uint32_t fallback) {
  return f.has(key) ? read_u32(f, key) : fallback;
}
float read_f32_or(const GGUFFile& f, const std::string& key, float fallback) {
  const GGUFValue* v = f.find(key);
  return v ? static_cast<float>(v->as_float(key)) : fallback;
}
// Special token ids: absent, 0xFFFFFFFF and -1 all mean "none".
int32_t read_token_id(const GGUFFile& f, const std::string& key) {
  const GGUFValue* v = f.find(key);
  if (!v) return -1;
  const int64_t id = v->as_int(key);
  if (id < 0 || id >= 0xFFFFFFFFll) return -1;
  if (id > 0x7FFFFFFF)
    throw Error(ErrorKind::BadFile, f.source_name() + ": '" + key + "' is out of range");
  return static_cast<int32_t>(id);
}

class Binder {
 public:
  explicit Binder(const GGUFFile& f) : f_(f) {}

  const GGUFTensorInfo& tensor(const std::string& name) const {
    const GGUFTensorInfo* t = f_.find_tensor(name);
    if (!t) throw Error(ErrorKind::BadFile, f_.source_name() + ": missing tensor '" + name + "'");
    return *t;
  }

  // A projection with `rows` outputs and `cols` inputs: GGUF shape [cols, rows].
  MatrixView matrix(const std::string& name, uint32_t rows, uint32_t cols) const {
    return matrix_of(tensor(name), rows, cols);
  }
  MatrixView matrix_of(const GGUFTensorInfo& t, uint32_t rows, uint32_t cols) const {
    if (t.shape.size() != 2 || t.shape[0] != cols || t.shape[1] != rows)
      throw Error(ErrorKind::BadFile, f_.source_name() + ": tensor '" + t.name + "' has shape " +
                                          shape_text(t.shape) + ", expected [" +
                                          std::to_string(cols) + ", " + std::to_string(rows) + "]");
    require_matmul_kernel(f_.source_name(), t.name, t.type);
    return MatrixView{t.type, t.data.data(), rows, cols, nullptr};
  }

  // A vector (norm weights, RoPE factors), dequantized to float: small, read every token.
  std::vector<float> vector(const std::string& name, uint32_t n) const {
    const GGUFTensorInfo& t = tensor(name);
    if (t.shape.size() != 1 || t.shape[0] != n)
      throw Error(ErrorKind::BadFile, f_.source_name() + ": tensor '" + name + "' has shape " +
                                          shape_text(t.shape) + ", expected [" + std::to_string(n) +
                                          "]");
    if (!kernels::can_dequantize(t.type))
      throw Error(ErrorKind::Unsupported, f_.source_name() + ": tensor '" + name +
                                              "' has unsupported type " +
                                              std::string(type_name(t.type)));
    std::vector<float> out(n);
    kernels::dequantize_row(t.type, t.data.data(), out.data(), n);
    return out;
  }

 private:
  const GGUFFile& f_;
};

}  // namespace

ModelConfig read_gguf_config(const GGUFFile& f) {
  ModelConfig c;
  c.architecture = f.get_or<std::string>("general.architecture", "");
  if (c.architecture != "llama")
    throw Error(ErrorKind::Unsupported,
                f.source_name() + ": unsupported architecture '" + c.architecture +
                    "' (mini-llm runs 'llama', which Llama 1/2/3 and Mistral files use)");
  if (const GGUFValue* n = f.find("general.name"); n && n->type() == GGUFType::STRING)
    c.name = n->as<std::string>();
  const std::string p = c.architecture + ".";
  for (const HParamKey& k : kHParamKeys) {
    const std::string key = p + k.suffix;
    if (k.required)
      c.*k.u32 = read_u32(f, key);
    else if (k.u32)
      c.*k.u32 = read_u32_or(f, key, k.default_from ? c.*k.default_from : c.*k.u32);
    else
      c.*k.f32 = read_f32_or(f, key, c.*k.f32);
  }
  if (c.head_dim != 0 && read_u32_or(f, p + gguf_key::kValueLength, c.head_dim) != c.head_dim)
    throw Error(ErrorKind::Unsupported,
                f.source_name() + ": different key and value head sizes are not supported");

  const std::string scaling = f.get_or<std::string>(p + gguf_key::kRopeScalingType, "none");
  if (scaling == "linear") {
    const float factor = read_f32_or(f, p + gguf_key::kRopeScalingFactor, 1.0f);
    if (!(factor > 0.0f))
      throw Error(ErrorKind::BadFile, f.source_name() + ": RoPE scaling factor must be positive");
    c.rope_freq_scale = 1.0f / factor;
  } else if (scaling != "none") {
    throw Error(ErrorKind::Unsupported,
                f.source_name() + ": RoPE scaling type '" + scaling + "' is not supported yet");
  } else if (f.has(p + gguf_key::kRopeScaleLinear)) {
    const float factor = read_f32_or(f, p + gguf_key::kRopeScaleLinear, 1.0f);
    if (!(factor > 0.0f))
      throw Error(ErrorKind::BadFile, f.source_name() + ": RoPE scaling factor must be positive");
    c.rope_freq_scale = 1.0f / factor;
  }

  // Vocabulary size: the token list when present, else the embedding's rows.
  if (const GGUFValue* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->is_array())
    c.n_vocab = static_cast<uint32_t>(tokens->array().items.size());
  else if (const GGUFTensorInfo* e = f.find_tensor("token_embd.weight"); e && e->shape.size() == 2)
    c.n_vocab = static_cast<uint32_t>(std::min<uint64_t>(e->shape[1], 0xFFFFFFFFu));
  c.bos_token = read_token_id(f, "tokenizer.ggml.bos_token_id");
  c.eos_token = read_token_id(f, "tokenizer.ggml.eos_token_id");
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  c.has_rope_freq_factors = f.find_tensor("rope_freqs.weight") != nullptr;
  check_config(c, f.source_name());
  return c;
}

ModelWeights bind_gguf_weights(const GGUFFile& f, const ModelConfig& c) {
  const Binder b(f);
  ModelWeights w;
  w.token_embd = b.matrix("token_embd.weight", c.n_vocab, c.n_embd);
  w.layers.resize(c.n_layer);
  for (uint32_t i = 0; i < c.n_layer; ++i)
    for (const LlamaLayerTensor& t : kLlamaLayerTensors) {
      const std::string name = gguf_block_prefix(i) + t.gguf;
      if (t.vector)
        w.layers[i].*t.vector = b.vector(name, llama_dim(c, t.rows));
      else
        w.layers[i].*t.matrix = b.matrix(name, llama_dim(c, t.rows), llama_dim(c, t.cols));
    }
  // A block count smaller than the tensors present is as wrong as a larger one.
  if (f.find_tensor(gguf_block_prefix(c.n_layer) + "attn_q.weight"))
    throw Error(ErrorKind::BadFile, f.source_name() +
                                        ": the file has more blocks than block_count " +
                                        std::to_string(c.n_layer));
  w.output_norm = b.vector("output_norm.weight", c.n_embd);
  w.output = c.tied_embeddings ? w.token_embd : b.matrix("output.weight", c.n_vocab, c.n_embd);
  if (c.has_rope_freq_factors) {
    w.rope_freq_factors = b.vector("rope_freqs.weight", c.n_rot / 2);
    for (float x : w.rope_freq_factors)
      if (!(x > 0.0f) || !std::isfinite(x))
        throw Error(ErrorKind::BadFile,
                    f.source_name() + ": rope_freqs.weight holds a non-positive factor");
  }
  return w;
}

}  // namespace minillm
