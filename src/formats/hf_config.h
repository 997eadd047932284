// Hugging Face config.json (LlamaForCausalLM / MistralForCausalLM) -> ModelConfig.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minillm/model.h"

namespace minillm {

struct HFModelConfig {
  ModelConfig config;                    // not yet checked; n_vocab is 0 when config.json lacks it
  std::vector<float> rope_freq_factors;  // per RoPE pair divisors (rope_scaling "llama3"), or empty
  std::string torch_dtype;               // informational: "float32", "bfloat16", ...
};

// Throws Error naming `source` and the field for a field of the wrong type, an architecture other
// than Llama/Mistral, or a feature mini-llm does not implement (biases, other activations, RoPE
// scaling kinds other than linear and llama3, partial rotary embeddings).
HFModelConfig parse_hf_config(const nlohmann::json& config, const std::string& source);
HFModelConfig read_hf_config(const std::filesystem::path& config_json);

// Llama 3.1's RoPE frequency adjustment as divisors of each pair's base frequency
// theta^(-2i/n_rot): 1 for short wavelengths, `factor` for long ones, a smooth blend between.
std::vector<float> llama3_rope_factors(float theta, uint32_t n_rot, float factor,
                                       float low_freq_factor, float high_freq_factor,
                                       float original_max_positions);

}  // namespace minillm
