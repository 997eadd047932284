// Which tensor gets which type when a whole model is quantized to a target such as Q4_K_M, the
// way users of GGUF files expect the usual mixes to look.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "minillm/tensor_type.h"

namespace minillm {

// A whole-model target: one tensor type, or a mix named after its main type.
struct QuantTarget {
  std::string name;         // as the user spells it: "q4_0", "Q4_K_M", "f16"
  TensorType base;          // the type most matrices get
  uint32_t gguf_file_type;  // value of general.file_type
  enum class Mix { None, KMedium } mix = Mix::None;
};

// Parses "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k" … "q6_k",
// "iq4_nl", "iq4_xs", "q4_k_m", "q5_k_m" (case-insensitive); nullopt for anything else.
std::optional<QuantTarget> parse_quant_target(std::string_view name);
std::string quant_target_names();  // for help texts and errors

// The type of one tensor of a Llama model under `target`. `gguf_name` is the GGUF tensor name
// ("blk.3.ffn_down.weight"), `n_dims` its rank and `row_length` its shape[0]; 1-D tensors (norms)
// stay F32, and rows that do not fit a type's block size fall back to a type whose block fits
// (IQ4_XS to IQ4_NL, the others to Q8_0, then F16). Of a mixture of experts (n_expert > 0),
// the router (ffn_gate_inp) stays F32 and the experts' down projections are treated as
// ffn_down; with 8 experts, attn_k and attn_v get Q8_0 (they are a small part of such a model),
// as llama.cpp's mixes do.
TensorType tensor_type_for(const QuantTarget& target, const std::string& gguf_name, uint32_t n_dims,
                           uint64_t row_length, uint32_t n_layer, uint32_t n_expert = 0);

}  // namespace minillm
