// The building blocks a forward pass runs over a batch of rows: projections by weight matrices
// (packed or as loaded) and the SwiGLU activation, spread over the kernels' thread pool.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "kernels/aligned.h"
#include "kernels/matmul/matmul.h"
#include "kernels/matmul/packed_rows.h"
#include "kernels/ops/activations.h"
#include "kernels/thread_pool.h"
#include "model/weights.h"

namespace minillm {

// y (n_tok × m.rows) = x (n_tok × m.cols) · mᵀ
inline void project(const MatrixView& m, const float* x, uint32_t n_tok, float* y, int n_threads) {
  if (m.packed)
    kernels::matmul(*m.packed, x, n_tok, y, n_threads, kernels::model_matmul_mode());
  else
    kernels::matmul(m.type, m.data, m.rows, m.cols, x, n_tok, y, n_threads,
                    kernels::model_matmul_mode());
}

// Projections of the same input x, each into its own y: packed matrices share one pass of the
// thread pool (kernels::matmul over PackedProducts), with the same bits as one by one.
template <size_t N>
void project_all(const std::array<std::pair<const MatrixView*, float*>, N>& products,
                 const float* x, uint32_t n_tok, int n_threads) {
  std::array<kernels::PackedProduct, N> packed;
  for (size_t i = 0; i < N; ++i) {
    if (!products[i].first->packed) {
      for (const auto& [m, y] : products) project(*m, x, n_tok, y, n_threads);
      return;
    }
    packed[i] = {products[i].first->packed.get(), products[i].second};
  }
  kernels::matmul(packed, x, n_tok, n_threads, kernels::model_matmul_mode());
}

// gate[i] = silu(gate[i]) · up[i] for n elements; elementwise, so split over the pool in any way
// without changing a bit.
inline void swiglu_parallel(float* gate, const float* up, size_t n, int n_threads) {
  constexpr size_t kChunk = 16384;
  auto chunk = [&](size_t i) {
    const size_t b = i * kChunk, e = std::min(n, b + kChunk);
    kernels::swiglu(&gate[b], &up[b], &gate[b], e - b);
  };
  kernels::run_chunks(n_threads, (n + kChunk - 1) / kChunk, chunk);
}

// Grows a scratch buffer to at least n floats (never shrinks: reused between batches).
inline void grow(kernels::AlignedVector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace minillm
