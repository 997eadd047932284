// What a loaded Model holds: its configuration, weight views, and whatever keeps them alive.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "minillm/model.h"
#include "model/weights.h"

namespace minillm {

// Hears (done, total) matrices as a long pass over the weights goes on (for progress displays).
using WeightProgress = std::function<void(size_t done, size_t total)>;

struct Model::Impl {
  ModelConfig config;
  ModelWeights weights;
  std::shared_ptr<const void> storage;  // the file mapping(s) the weight views point into
  uint64_t weight_bytes = 0;            // bytes of the matrices read per token
  // Weights made at load time (reordered Q/K rows, quantized or realigned copies) that views in
  // `weights` point into. An inner vector keeps its buffer when the outer one grows.
  std::vector<std::vector<uint8_t>> owned;
  // The projection matrices moved at load into one large-page region, in forward-pass order
  // (pack_weights.h); packed matrices and the views of copied ones point into it.
  std::shared_ptr<uint8_t> region;
};

}  // namespace minillm
