#include "quantize/quant_mix.h"

#include <cctype>

#include "formats/gguf_file_type.h"

namespace minillm {
namespace {

struct Named {
  const char* name;
  TensorType base;
  QuantTarget::Mix mix;
};

constexpr Named kTargets[] = {
    {"f32", TensorType::F32, QuantTarget::Mix::None},
    {"f16", TensorType::F16, QuantTarget::Mix::None},
    {"bf16", TensorType::BF16, QuantTarget::Mix::None},
    {"q4_0", TensorType::Q4_0, QuantTarget::Mix::None},
    {"q4_1", TensorType::Q4_1, QuantTarget::Mix::None},
    {"q8_0", TensorType::Q8_0, QuantTarget::Mix::None},
    {"q5_0", TensorType::Q5_0, QuantTarget::Mix::None},
    {"q5_1", TensorType::Q5_1, QuantTarget::Mix::None},
    {"q2_k", TensorType::Q2_K, QuantTarget::Mix::None},
    {"q3_k", TensorType::Q3_K, QuantTarget::Mix::None},
    {"q4_k", TensorType::Q4_K, QuantTarget::Mix::None},
    {"q5_k", TensorType::Q5_K, QuantTarget::Mix::None},
    {"q6_k", TensorType::Q6_K, QuantTarget::Mix::None},
    {"iq4_nl", TensorType::IQ4_NL, QuantTarget::Mix::None},
    {"iq4_xs", TensorType::IQ4_XS, QuantTarget::Mix::None},
    {"q4_k_m", TensorType::Q4_K, QuantTarget::Mix::KMedium},
    {"q5_k_m", TensorType::Q5_K, QuantTarget::Mix::KMedium},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Layers that get more bits in the "medium" K mixes: the first and last eighth, and every third
// layer in between.
bool more_bits_layer(uint32_t layer, uint32_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int layer = 0;
  size_t i = 4;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])))
    layer = layer * 10 + (name[i++] - '0');
  return layer;
}

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

std::optional<QuantTarget> parse_quant_target(std::string_view name) {
  const std::string n = lower(name);
  for (const Named& t : kTargets)
    if (n == t.name)
      return QuantTarget{t.name, t.base,
                         gguf_file_type(t.base, t.mix == QuantTarget::Mix::KMedium).value(), t.mix};
  return std::nullopt;
}

std::string quant_target_names() {
  std::string s;
  for (const Named& t : kTargets) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

TensorType tensor_type_for(const QuantTarget& target, const std::string& name, uint32_t n_dims,
                           uint64_t row_length, uint32_t n_layer, uint32_t n_expert) {
  if (n_dims < 2) return TensorType::F32;  // norms and RoPE factors are tiny and precision-bound
  if (contains(name, "ffn_gate_inp.")) return TensorType::F32;  // the router decides routing
  TensorType t = target.base;
  const bool quantized = traits(t).block_size > 1;
  // The output projection decides every logit: quantized targets keep it at 6 bits.
  if (quantized && name == "output.weight") t = TensorType::Q6_K;
  if (target.mix == QuantTarget::Mix::KMedium) {
    const int layer = layer_of(name);
    const bool down = contains(name, "ffn_down.") || contains(name, "ffn_down_exps.");
    if (layer >= 0 && (contains(name, "attn_v.") || down) &&
        more_bits_layer(uint32_t(layer), n_layer))
      t = TensorType::Q6_K;
  }
  // 8-expert (Mixtral-style) files, as llama-quantize makes them: K and V at Q8_0 in every
  // quantized target, and in the Q4_K medium mix the attention output at Q5_K.
  if (quantized && n_expert == 8 && (contains(name, "attn_k.") || contains(name, "attn_v.")))
    t = TensorType::Q8_0;
  if (target.mix == QuantTarget::Mix::KMedium && target.base == TensorType::Q4_K && n_expert == 8 &&
      contains(name, "attn_output."))
    t = TensorType::Q5_K;
  // Rows that are not whole super-blocks cannot use K types or IQ4_XS (which falls back to its
  // 32-element twin IQ4_NL); nor whole blocks, the 32-types.
  if (t == TensorType::IQ4_XS && row_length % traits(t).block_size != 0) t = TensorType::IQ4_NL;
  if (row_length % traits(t).block_size != 0) t = TensorType::Q8_0;
  if (row_length % traits(t).block_size != 0) t = TensorType::F16;
  return t;
}

}  // namespace minillm
