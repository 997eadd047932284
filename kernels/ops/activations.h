// Elementwise activations.
#pragma once

#include <cstddef>

namespace minillm::kernels {

// SwiGLU: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)). out may alias gate.
// The active ISA's path: AVX-512 has a vector e^x (tested against std::exp), others the reference.
void swiglu(const float* gate, const float* up, float* out, size_t n);

// In-place softmax over n values (max-subtracted, so large logits do not overflow); same paths.
void softmax(float* x, size_t n);

// The scalar references (std::exp; the softmax sum in double).
void swiglu_reference(const float* gate, const float* up, float* out, size_t n);
void softmax_reference(float* x, size_t n);

}  // namespace minillm::kernels
