// Consistency checks of hyperparameters, shared by every loader.
#pragma once

#include "minillm/model.h"

namespace minillm {

// Fills derived fields (head_dim, n_rot defaults) and throws Error when the hyperparameters
// contradict each other. `source` names the file in messages.
void check_config(ModelConfig& config, const std::string& source);

}  // namespace minillm
