// Rotary position embedding: rotate pairs of elements of each head by position-dependent angles.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minillm::kernels {

// Angles for one position: angle[i] = position * inv_freq[i]; computed in double and stored as
// cos/sin so every head and layer of a token reuses them.
void rope_cos_sin(int64_t position, const float* inv_freq, size_t n_pairs, float* cos_out,
                  float* sin_out);

// Rotates the adjacent pairs (x[2i], x[2i+1]), i < n_pairs, of each of n_heads heads of width
// head_dim laid out back to back: (a, b) -> (a cos - b sin, a sin + b cos). Elements past
// 2 * n_pairs in a head are left alone (partial rotary).
void rope_rotate_pairs(float* x, size_t n_heads, size_t head_dim, const float* cos_v,
                       const float* sin_v, size_t n_pairs);

}  // namespace minillm::kernels
