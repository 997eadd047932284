// general.file_type: what most matrices of a GGUF file are, in the numbering llama.cpp gives its
// file types (informational for readers; loaders look at each tensor's own type).
#pragma once

#include <cstdint>
#include <optional>

#include "minillm/tensor_type.h"

namespace minillm {

// The number for a file whose matrices are mostly of type `main_type`; `k_medium_mix` for the
// Q3_K_M / Q4_K_M / Q5_K_M mixes (quantize/quant_mix.h), whose numbers differ from the plain
// types' (a plain K type counts as its "_S" mix). nullopt for a type without a number.
std::optional<uint32_t> gguf_file_type(TensorType main_type, bool k_medium_mix = false);

}  // namespace minillm
