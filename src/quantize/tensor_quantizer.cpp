#include "quantize/tensor_quantizer.h"

#include <cmath>
#include <vector>

#include "kernels/quant/quant.h"
#include "minillm/error.h"

namespace minillm {

QuantizedTensor quantize_rows(TensorType type, uint64_t n_rows, uint64_t row_length,
                              const std::function<void(uint64_t, float*)>& fill_row,
                              int n_threads) {
  if (!kernels::can_quantize(type))
    throw Error(ErrorKind::Unsupported,
                "quantizing to " + std::string(type_name(type)) + " is not supported");
  const uint64_t rb = row_bytes(type, row_length);
  QuantizedTensor out;
  out.bytes.resize(rb * n_rows);
  double total_sq = 0;
#pragma omp parallel num_threads(n_threads) reduction(+ : total_sq)
  {
    std::vector<float> row(row_length), back(row_length);
#pragma omp for schedule(dynamic, 16)
    for (int64_t r = 0; r < int64_t(n_rows); ++r) {
      fill_row(uint64_t(r), row.data());
      uint8_t* dst = out.bytes.data() + uint64_t(r) * rb;
      kernels::quantize_row(type, row.data(), dst, row_length);
      kernels::dequantize_row(type, dst, back.data(), row_length);
      double sq = 0;
      for (uint64_t i = 0; i < row_length; ++i) {
        const double d = double(back[i]) - double(row[i]);
        sq += d * d;
      }
      total_sq += sq;
    }
  }
  out.rmse = (n_rows * row_length != 0) ? std::sqrt(total_sq / double(n_rows * row_length)) : 0.0;
  return out;
}

}  // namespace minillm
