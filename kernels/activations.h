// Elementwise activations.
#pragma once

#include <cstddef>

namespace minillm::kernels {

// SwiGLU: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)). out may alias gate.
void swiglu(const float* gate, const float* up, float* out, size_t n);

// In-place softmax over n values (max-subtracted, so large logits do not overflow).
void softmax(float* x, size_t n);

}  // namespace minillm::kernels
