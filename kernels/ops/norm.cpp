#include "kernels/ops/norm.h"

#include <cmath>

namespace minillm::kernels {

void rms_norm(const float* x, const float* weight, float* y, size_t n, float eps) {
  double sum_sq = 0.0;
  for (size_t i = 0; i < n; ++i) sum_sq += double(x[i]) * double(x[i]);
  const float scale = static_cast<float>(1.0 / std::sqrt(sum_sq / double(n) + double(eps)));
  for (size_t i = 0; i < n; ++i) y[i] = x[i] * scale * weight[i];
}

}  // namespace minillm::kernels
