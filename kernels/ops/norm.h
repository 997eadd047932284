// RMS normalization.
#pragma once

#include <cstddef>

namespace minillm::kernels {

// y[i] = x[i] / sqrt(mean(x²) + eps) * weight[i]. The mean is accumulated in double so the
// result does not drift with the width. y may alias x.
void rms_norm(const float* x, const float* weight, float* y, size_t n, float eps);

}  // namespace minillm::kernels
