// What a loaded Model holds: its configuration, weight views, and whatever keeps them alive.
#pragma once

#include <memory>

#include "minillm/model.h"
#include "model/weights.h"

namespace minillm {

struct Model::Impl {
  ModelConfig config;
  ModelWeights weights;
  std::shared_ptr<const void> storage;  // the file mapping(s) the weight views point into
  uint64_t weight_bytes = 0;            // bytes of the matrices read per token
};

}  // namespace minillm
