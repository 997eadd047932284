// Quantizes whole tensors (rows of floats) in parallel, measuring the error it introduces.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "minillm/tensor_type.h"

namespace minillm {

struct QuantizedTensor {
  std::vector<uint8_t> bytes;  // (n_rows, row_bytes(type, row_length))
  double rmse = 0;             // sqrt(mean((dequantized - original)²)) over all elements
};

// `fill_row(row, out)` writes the row_length floats of row `row`; it is called from several
// threads at once (each row exactly once), so it must only read shared state.
QuantizedTensor quantize_rows(TensorType type, uint64_t n_rows, uint64_t row_length,
                              const std::function<void(uint64_t row, float* out)>& fill_row,
                              int n_threads);

}  // namespace minillm
