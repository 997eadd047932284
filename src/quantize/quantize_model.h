// Re-encodes the tensors of a GGUF model (F32/F16/BF16) to a quantized target such as Q4_K_M.
#pragma once

#include <filesystem>

#include "quantize/quant_mix.h"
#include "quantize/synthetic_model.h"

namespace minillm {

// Copies every metadata key (general.file_type set to the target) and every tensor, quantized as
// tensor_type_for() decides. Throws Error for quantized inputs (re-quantizing compounds errors).
void quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                    const QuantTarget& target, int n_threads, const TensorProgress& progress = {});

}  // namespace minillm
