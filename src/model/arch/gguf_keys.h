// The GGUF metadata keys of the hyperparameters, in one table that the reader (load_gguf.cpp) and
// the writers (write_llama_metadata: convert, synth) both walk, so a key is spelled once.
#pragma once

#include <cstdint>

#include "minillm/model.h"

namespace minillm {

// When a writer leaves a key out (readers then fall back to its default).
enum class KeyWritten {
  Always,
  UnlessZero,     // 0 means "not set" (sliding window, expert counts)
  UnlessDerived,  // head width: only when it is not n_embd / n_head
};

// A hyperparameter key "<architecture>.<suffix>" and the ModelConfig field it holds. Exactly one
// of u32 and f32 is set.
struct HParamKey {
  const char* suffix;
  uint32_t ModelConfig::*u32;
  float ModelConfig::*f32;
  bool required;  // reading fails without it
  KeyWritten written;
  uint32_t ModelConfig::*default_from = nullptr;  // absent: this (earlier) field's value
};

extern const HParamKey kHParamKeys[13];

// Keys with more to them than one field (read and written by hand next to the table's loop).
namespace gguf_key {
inline constexpr char kVocabSize[] = "vocab_size";  // written only: readers count the tokens
inline constexpr char kValueLength[] = "attention.value_length";     // must equal key_length
inline constexpr char kRopeScalingType[] = "rope.scaling.type";      // "none" or "linear"
inline constexpr char kRopeScalingFactor[] = "rope.scaling.factor";  // 1 / rope_freq_scale
inline constexpr char kRopeScaleLinear[] = "rope.scale_linear";      // the older spelling
}  // namespace gguf_key

// Keys of mixture-of-experts variants other than Mixtral's, with the value that means "as
// Mixtral" (softmax gating, no shared experts, no scaling, weights renormalised); any other value
// is an error.
struct MoeVariantKey {
  const char* suffix;
  double mixtral;
};
extern const MoeVariantKey kMoeVariantKeys[5];

}  // namespace minillm
