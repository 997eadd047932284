// Re-encoding a loaded model's matrices in another tensor type (quantize while loading).
#pragma once

#include "minillm/tensor_type.h"
#include "model/model_impl.h"

namespace minillm {

// Converts every weight matrix to `type` (into impl.owned), except those already of that type
// and those whose row length is not a multiple of the type's block size, which stay as they are.
// Returns how many matrices stayed for the second reason. Throws Error when mini-llm cannot
// quantize to `type` or has no matmul kernel for it.
size_t quantize_weights(Model::Impl& impl, TensorType type, const WeightProgress& progress = {});

// quantize_weights without the kernel check, for writing files (convert): the caller checks
// that mini-llm can quantize to `type`.
size_t requantize_weights(Model::Impl& impl, TensorType type, const WeightProgress& progress = {});

// One matrix re-encoded as `type` into `buf` (resized); the view points into buf. m.cols must be
// a multiple of the type's block size.
MatrixView requantize_matrix(const MatrixView& m, TensorType type, std::vector<uint8_t>& buf);

}  // namespace minillm
