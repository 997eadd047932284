// Random-weight Llama models at the shapes of real ones, so benchmarks and tests need no
// download. Weights are small (activations stay sane); the same seed gives the same file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "quantize/quant_mix.h"

namespace minillm {

struct ModelShape {
  std::string name;
  uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
  float rope_theta;
  uint32_t sliding_window;                   // 0 = none
  uint32_t n_expert = 0, n_expert_used = 0;  // a mixture of experts of FFN n_ff each; 0 = dense
};

std::optional<ModelShape> find_model_shape(std::string_view name);
std::string model_shape_names();

struct SynthOptions {
  ModelShape shape;
  QuantTarget target;
  uint64_t seed = 1;
  std::optional<std::filesystem::path> vocab;  // copy tokenizer.* keys (and vocab size) from here
  int n_threads = 1;
};

// Called after each tensor: its name, type, index and the tensor count.
using TensorProgress = std::function<void(const std::string& name, TensorType type, double rmse,
                                          size_t index, size_t count)>;

void write_synthetic_model(const SynthOptions& options, const std::filesystem::path& out,
                           const TensorProgress& progress = {});

}  // namespace minillm
