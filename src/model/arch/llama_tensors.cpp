#include "model/arch/llama_tensors.h"

#include "kernels/matmul/matmul.h"
#include "minillm/error.h"
#include "minillm/gguf.h"
#include "model/arch/gguf_keys.h"

namespace minillm {

uint32_t llama_dim(const ModelConfig& c, LlamaDim d) {
  switch (d) {
    case LlamaDim::Embd:
      return c.n_embd;
    case LlamaDim::QWidth:
      return c.n_head * c.head_dim;
    case LlamaDim::KVWidth:
      return c.n_head_kv * c.head_dim;
    case LlamaDim::FF:
      return c.n_ff;
    case LlamaDim::Heads:
      return c.n_head;
    case LlamaDim::KVHeads:
      return c.n_head_kv;
    case LlamaDim::Experts:
      return c.n_expert;
    case LlamaDim::None:
      break;
  }
  return 0;
}

using D = LlamaDim;
using L = LayerWeights;
using F = LlamaLayerTensor::Ffn;
const LlamaLayerTensor kLlamaLayerTensors[10] = {
    {"attn_norm.weight", "input_layernorm.weight", D::Embd, D::None, nullptr, &L::attn_norm,
     D::None},
    {"attn_q.weight", "self_attn.q_proj.weight", D::QWidth, D::Embd, &L::wq, nullptr, D::Heads},
    {"attn_k.weight", "self_attn.k_proj.weight", D::KVWidth, D::Embd, &L::wk, nullptr, D::KVHeads},
    {"attn_v.weight", "self_attn.v_proj.weight", D::KVWidth, D::Embd, &L::wv, nullptr, D::None},
    {"attn_output.weight", "self_attn.o_proj.weight", D::Embd, D::QWidth, &L::wo, nullptr, D::None},
    {"ffn_norm.weight", "post_attention_layernorm.weight", D::Embd, D::None, nullptr, &L::ffn_norm,
     D::None},
    {"ffn_gate.weight", "mlp.gate_proj.weight", D::FF, D::Embd, &L::w_gate, nullptr, D::None,
     F::Dense},
    {"ffn_up.weight", "mlp.up_proj.weight", D::FF, D::Embd, &L::w_up, nullptr, D::None, F::Dense},
    {"ffn_down.weight", "mlp.down_proj.weight", D::Embd, D::FF, &L::w_down, nullptr, D::None,
     F::Dense},
    {"ffn_gate_inp.weight", "block_sparse_moe.gate.weight", D::Experts, D::Embd, &L::router,
     nullptr, D::None, F::Moe},
};

const ExpertTensor kExpertTensors[3] = {
    {"ffn_gate_exps.weight", "ffn_gate", "w1", D::FF, D::Embd, &ExpertWeights::gate},
    {"ffn_down_exps.weight", "ffn_down", "w2", D::Embd, D::FF, &ExpertWeights::down},
    {"ffn_up_exps.weight", "ffn_up", "w3", D::FF, D::Embd, &ExpertWeights::up},
};

std::string ExpertTensor::gguf_single_name(uint32_t layer, uint32_t expert) const {
  return gguf_block_prefix(layer) + gguf_single + "." + std::to_string(expert) + ".weight";
}
std::string ExpertTensor::hf_name(uint32_t layer, uint32_t expert) const {
  return hf_layer_prefix(layer) + "block_sparse_moe.experts." + std::to_string(expert) + "." + hf +
         ".weight";
}

std::string gguf_block_prefix(uint32_t layer) {
  return "blk." + std::to_string(layer) + ".";
}
std::string hf_layer_prefix(uint32_t layer) {
  return "model.layers." + std::to_string(layer) + ".";
}

void write_llama_metadata(GGUFWriter& w, const ModelConfig& c) {
  w.set("general.architecture", "llama");
  w.set("general.name", c.name.c_str());
  const std::string p = "llama.";
  w.set(p + gguf_key::kVocabSize, c.n_vocab);
  for (const HParamKey& k : kHParamKeys) {
    const std::string key = p + k.suffix;
    if (k.f32) {
      w.set(key, c.*k.f32);
      continue;
    }
    const uint32_t v = c.*k.u32;
    if (k.written == KeyWritten::UnlessZero && v == 0) continue;
    if (k.written == KeyWritten::UnlessDerived && v == c.n_embd / c.n_head) continue;
    w.set(key, v);
    // mini-llm's heads have equal key and value widths.
    if (k.written == KeyWritten::UnlessDerived) w.set(p + gguf_key::kValueLength, v);
  }
  if (c.rope_freq_scale != 1.0f) {
    w.set(p + gguf_key::kRopeScalingType, "linear");
    w.set(p + gguf_key::kRopeScalingFactor, 1.0f / c.rope_freq_scale);
  }
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void require_matmul_kernel(const std::string& source, const std::string& tensor, TensorType type) {
  if (!kernels::matmul_supported(type))
    throw Error(ErrorKind::Unsupported, source + ": tensor '" + tensor + "' has type " +
                                            std::string(type_name(type)) +
                                            ", which mini-llm has no kernel for yet");
}

}  // namespace minillm
