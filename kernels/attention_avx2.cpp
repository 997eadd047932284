// AVX2 attention of one query head (see attention.h; compiled with -mavx2 -mfma -mf16c), a row at
// a time like attention_avx512.cpp's pieces for large heads, with 8-float vectors; partial
// vectors (F16, F32) go through a small zero-padded buffer.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/isa_entry.h"
#include "kernels/isa_local.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kW = 8;
constexpr size_t kMaxChunks = 8;  // 64 output dims in registers per pass

// Elements at..at+7 of a row (fewer when `left` < 8). Q8_0 rows are whole blocks: 8 values are
// always there, a quarter of a block.
template <KvElement E>
inline __m256 load(const void* base, size_t at, size_t left) {
  if constexpr (E == KvElement::Q8_0) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(base) + at / kQK;
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + at % kQK));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)),
                         _mm256_set1_ps(_cvtsh_ss(b->d)));
  }
  constexpr bool kF16 = E == KvElement::F16;
  if (left >= kW) {
    if constexpr (kF16)
      return _mm256_cvtph_ps(_mm_loadu_si128(
          reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + at)));
    else
      return _mm256_loadu_ps(static_cast<const float*>(base) + at);
  }
  alignas(32) float tmp[kW] = {};
  if constexpr (kF16) {
    alignas(16) uint16_t h[kW] = {};
    std::memcpy(h, static_cast<const uint16_t*>(base) + at, left * sizeof(uint16_t));
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
  } else {
    std::memcpy(tmp, static_cast<const float*>(base) + at, left * sizeof(float));
    return _mm256_load_ps(tmp);
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <KvElement E>
void scores(const float* q, const KvRows& rows, size_t first, size_t n, size_t hd, float scale,
            float* out) {
  const void* k = rows.base;
  for (size_t j = 0; j < n; ++j) {
    const size_t row = row_offset(rows, first + j);
    __m256 acc = _mm256_setzero_ps();
    for (size_t d = 0; d < hd; d += kW)
      acc = _mm256_fmadd_ps(load<KvElement::F32>(q, d, hd - d), load<E>(k, row + d, hd - d), acc);
    out[j] = hsum(acc) * scale;
  }
}

template <KvElement E>
void weighted_sum(const float* p, const KvRows& rows, size_t first, size_t n, size_t hd,
                  float* out) {
  const void* v = rows.base;
  for (size_t d0 = 0; d0 < hd; d0 += kMaxChunks * kW) {
    const size_t chunks = min_size(kMaxChunks, (hd - d0 + kW - 1) / kW);
    __m256 acc[kMaxChunks];
    for (size_t c = 0; c < chunks; ++c) acc[c] = _mm256_setzero_ps();
    for (size_t j = 0; j < n; ++j) {
      const __m256 pj = _mm256_set1_ps(p[j]);
      const size_t row = row_offset(rows, first + j) + d0;
      for (size_t c = 0; c < chunks; ++c)
        acc[c] = _mm256_fmadd_ps(pj, load<E>(v, row + c * kW, hd - d0 - c * kW), acc[c]);
    }
    for (size_t c = 0; c < chunks; ++c) {
      alignas(32) float tmp[kW];
      _mm256_store_ps(tmp, acc[c]);
      std::memcpy(out + d0 + c * kW, tmp, std::min(kW, hd - d0 - c * kW) * sizeof(float));
    }
  }
}

}  // namespace

void attention_scores_avx2(const float* q, const KvRows& k, size_t first, size_t n, size_t head_dim,
                           float scale, float* out) {
  with_element(k.type,
               [&](auto e) { scores<decltype(e)::value>(q, k, first, n, head_dim, scale, out); });
}

void attention_values_avx2(const float* p, const KvRows& v, size_t first, size_t n, size_t head_dim,
                           float* out) {
  with_element(v.type,
               [&](auto e) { weighted_sum<decltype(e)::value>(p, v, first, n, head_dim, out); });
}

}  // namespace minillm::kernels::isa
