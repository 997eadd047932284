#include "kernels/ops/rope.h"

#include <cmath>

namespace minillm::kernels {

void rope_cos_sin(int64_t position, const float* inv_freq, size_t n_pairs, float* cos_out,
                  float* sin_out) {
  for (size_t i = 0; i < n_pairs; ++i) {
    const double angle = double(position) * double(inv_freq[i]);
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

void rope_rotate_pairs(float* x, size_t n_heads, size_t head_dim, const float* cos_v,
                       const float* sin_v, size_t n_pairs) {
  for (size_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (size_t i = 0; i < n_pairs; ++i) {
      const float a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * cos_v[i] - b * sin_v[i];
      v[2 * i + 1] = a * sin_v[i] + b * cos_v[i];
    }
  }
}

}  // namespace minillm::kernels
