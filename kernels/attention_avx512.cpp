// AVX-512 attention of one query head (see attention.h; compiled with -mavx512*). The key and
// value rows are converted from F16 in registers (VCVTPH2PS); q.k is one FMA chain per row,
// p.v keeps the output head in registers while it walks the rows.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/isa_entry.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kW = 16;
constexpr size_t kMaxChunks = 8;  // output dims held in registers per pass: 128

inline __mmask16 mask_for(size_t left) {
  return left >= kW ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

template <bool kF16>
inline __m512 load(const void* base, size_t at, __mmask16 m) {
  if constexpr (kF16)
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + at));
  else
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(base) + at);
}

template <bool kF16>
void scores(const float* q, const void* k, size_t stride, size_t first, size_t n, size_t hd,
            float scale, float* out) {
  for (size_t j = 0; j < n; ++j) {
    const size_t row = (first + j) * stride;
    __m512 acc = _mm512_setzero_ps();
    for (size_t d = 0; d < hd; d += kW) {
      const __mmask16 m = mask_for(hd - d);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), load<kF16>(k, row + d, m), acc);
    }
    out[j] = _mm512_reduce_add_ps(acc) * scale;
  }
}

template <bool kF16>
void weighted_sum(const float* p, const void* v, size_t stride, size_t first, size_t n, size_t hd,
                  float* out) {
  for (size_t d0 = 0; d0 < hd; d0 += kMaxChunks * kW) {
    const size_t chunks = std::min(kMaxChunks, (hd - d0 + kW - 1) / kW);
    __m512 acc[kMaxChunks];
    for (size_t c = 0; c < chunks; ++c) acc[c] = _mm512_setzero_ps();
    for (size_t j = 0; j < n; ++j) {
      const __m512 pj = _mm512_set1_ps(p[j]);
      const size_t row = (first + j) * stride + d0;
      for (size_t c = 0; c < chunks; ++c)
        acc[c] =
            _mm512_fmadd_ps(pj, load<kF16>(v, row + c * kW, mask_for(hd - d0 - c * kW)), acc[c]);
    }
    for (size_t c = 0; c < chunks; ++c)
      _mm512_mask_storeu_ps(out + d0 + c * kW, mask_for(hd - d0 - c * kW), acc[c]);
  }
}

}  // namespace

void attention_scores_avx512(const float* q, const void* k, bool f16, size_t stride, size_t first,
                             size_t n, size_t head_dim, float scale, float* out) {
  f16 ? scores<true>(q, k, stride, first, n, head_dim, scale, out)
      : scores<false>(q, k, stride, first, n, head_dim, scale, out);
}

void attention_values_avx512(const float* p, const void* v, bool f16, size_t stride, size_t first,
                             size_t n, size_t head_dim, float* out) {
  f16 ? weighted_sum<true>(p, v, stride, first, n, head_dim, out)
      : weighted_sum<false>(p, v, stride, first, n, head_dim, out);
}

}  // namespace minillm::kernels::isa
