#include "kernels/ops/activations.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu.h"
#include "kernels/isa_entry.h"

namespace minillm::kernels {

void swiglu_reference(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void softmax_reference(float* x, size_t n) {
  if (n == 0) return;
  const float max = *std::max_element(x, x + n);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (size_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* gate, const float* up, float* out, size_t n) {
  if (active_isa() == Isa::Avx512) return isa::swiglu_avx512(gate, up, out, n);
  swiglu_reference(gate, up, out, n);
}

void softmax(float* x, size_t n) {
  if (active_isa() == Isa::Avx512) return isa::softmax_avx512(x, n);
  softmax_reference(x, n);
}

}  // namespace minillm::kernels
