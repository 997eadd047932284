// GGUF → ModelConfig / ModelWeights.
#pragma once

#include "minillm/gguf.h"
#include "minillm/model.h"
#include "model/weights.h"

namespace minillm {

ModelConfig read_gguf_config(const GGUFFile& file);
// Views into `file`'s mapping; the caller keeps file.owner() alive.
ModelWeights bind_gguf_weights(const GGUFFile& file, const ModelConfig& config);

}  // namespace minillm
