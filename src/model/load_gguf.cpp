// Binds a GGUF file of architecture "llama" to ModelConfig + ModelWeights. This is the only
// place that knows GGUF key and tensor names for the graph.
#include <cmath>
#include <string>

#include "kernels/quant/quant.h"
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

// Mixtral-style routing only: k of n experts by softmax, weights renormalised over the k.
void check_experts(const GGUFFile& f, const std::string& p, const ModelConfig& c) {
  const std::string count = p + "expert_count", used = p + "expert_used_count";
  auto bad = [&](const std::string& what) {
    throw Error(ErrorKind::BadFile, f.source_name() + ": " + what);
  };
  if (f.has(count) && c.n_expert == 0) bad("metadata '" + count + "' is 0");
  if (c.n_expert > 0 && c.n_expert_used == 0)
    bad("metadata '" + used + "' is " + (f.has(used) ? "0" : "missing") + " (" + count + " is " +
        std::to_string(c.n_expert) + ")");
  if (c.n_expert_used > c.n_expert)
    bad("metadata '" + used + "' (" + std::to_string(c.n_expert_used) + ") exceeds '" + count +
        "' (" + std::to_string(c.n_expert) + ")");
  for (const auto& [suffix, mixtral] : kMoeVariantKeys)
    if (const GGUFValue* v = f.find(p + suffix)) {
      const double x = v->type() == GGUFType::BOOL      ? double(v->as<bool>(suffix))
                       : v->type() == GGUFType::FLOAT32 ? v->as_float(suffix)
                       : v->type() == GGUFType::FLOAT64 ? v->as_float(suffix)
                                                        : double(v->as_int(suffix));
      if (x != mixtral)
        throw Error(ErrorKind::Unsupported,
                    f.source_name() + ": metadata '" + p + suffix +
                        "' asks for a mixture-of-experts variant mini-llm does not run (it runs "
                        "Mixtral's: softmax routing, no shared experts, no expert bias)");
    }
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

  // Every expert's matrix of `t` in block `layer`: slices of one 3-D tensor [cols, rows,
  // n_expert], or (older files) one 2-D tensor per expert.
  std::vector<MatrixView> experts(const ExpertTensor& et, uint32_t layer, uint32_t n_expert,
                                  uint32_t rows, uint32_t cols) const {
    std::vector<MatrixView> out;
    const std::string stacked = gguf_block_prefix(layer) + et.gguf_stacked;
    if (!f_.find_tensor(stacked) && f_.find_tensor(et.gguf_single_name(layer, 0))) {
      for (uint32_t e = 0; e < n_expert; ++e)
        out.push_back(matrix(et.gguf_single_name(layer, e), rows, cols));
      if (f_.find_tensor(et.gguf_single_name(layer, n_expert)))
        throw Error(ErrorKind::BadFile, f_.source_name() + ": tensor '" +
                                            et.gguf_single_name(layer, n_expert) +
                                            "' is beyond expert_count " + std::to_string(n_expert));
      return out;
    }
    const GGUFTensorInfo& t = tensor(stacked);
    const std::vector<uint64_t> want = {cols, rows, n_expert};
    if (t.shape != want)
      throw Error(ErrorKind::BadFile, f_.source_name() + ": tensor '" + stacked + "' has shape " +
                                          shape_text(t.shape) + ", expected " + shape_text(want) +
                                          " (one slice per expert)");
    require_matmul_kernel(f_.source_name(), stacked, t.type);
    const size_t slice = row_bytes(t.type, cols) * rows;
    for (uint32_t e = 0; e < n_expert; ++e)
      out.push_back(MatrixView{t.type, t.data.data() + e * slice, rows, cols, nullptr});
    return out;
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

void bind_block(const GGUFFile& f, const Binder& b, const ModelConfig& c, uint32_t i,
                LayerWeights& layer) {
  for (const LlamaLayerTensor& t : kLlamaLayerTensors) {
    if (!t.in(c)) continue;
    const std::string name = gguf_block_prefix(i) + t.gguf;
    if (t.vector)
      layer.*t.vector = b.vector(name, llama_dim(c, t.rows));
    else
      layer.*t.matrix = b.matrix(name, llama_dim(c, t.rows), llama_dim(c, t.cols));
  }
  if (c.n_expert == 0) return;
  for (const char* other :
       {"ffn_gate_shexp.weight", "ffn_gate_inp_shexp.weight", "exp_probs_b.bias"})
    if (f.find_tensor(gguf_block_prefix(i) + other))
      throw Error(ErrorKind::Unsupported,
                  f.source_name() + ": tensor '" + gguf_block_prefix(i) + other +
                      "' belongs to a mixture-of-experts variant mini-llm does not run (shared "
                      "experts or expert bias)");
  layer.experts.resize(c.n_expert);
  for (const ExpertTensor& et : kExpertTensors) {
    const auto slices = b.experts(et, i, c.n_expert, llama_dim(c, et.rows), llama_dim(c, et.cols));
    for (uint32_t e = 0; e < c.n_expert; ++e) layer.experts[e].*et.matrix = slices[e];
  }
}

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

  check_experts(f, p, c);

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
  for (uint32_t i = 0; i < c.n_layer; ++i) bind_block(f, b, c, i, w.layers[i]);
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
