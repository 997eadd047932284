// AVX-512 attention of one query head (see attention.h; compiled with -mavx512*). The key and
// value rows are converted to floats in registers (F16: VCVTPH2PS; Q8_0: sign-extend, convert,
// times the block scale); q.k is one FMA chain per row, p.v keeps the output head in registers
// while it walks the rows.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/activations.h"
#include "kernels/blocks.h"
#include "kernels/isa_entry.h"
#include "kernels/isa_local.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kW = 16;
constexpr size_t kMaxChunks = 8;  // output dims held in registers per pass: 128

// Elements at..at+15 (those in m) of a row. Q8_0 rows are whole blocks, so m is full for them and
// the 16 values are one half of a block.
template <KvElement E>
inline __m512 load(const void* base, size_t at, __mmask16 m) {
  if constexpr (E == KvElement::F16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + at));
  } else if constexpr (E == KvElement::Q8_0) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(base) + at / kQK;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + at % kQK));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)),
                         _mm512_set1_ps(_cvtsh_ss(b->d)));
  } else {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(base) + at);
  }
}

template <KvElement E>
void scores(const float* q, const KvRows& rows, size_t first, size_t n, size_t hd, float scale,
            float* out) {
  const void* k = rows.base;
  for (size_t j = 0; j < n; ++j) {
    const size_t row = row_offset(rows, first + j);
    __m512 acc = _mm512_setzero_ps();
    for (size_t d = 0; d < hd; d += kW) {
      const __mmask16 m = lanes16(hd - d);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), load<E>(k, row + d, m), acc);
    }
    out[j] = _mm512_reduce_add_ps(acc) * scale;
  }
}

template <KvElement E>
void weighted_sum(const float* p, const KvRows& rows, size_t first, size_t n, size_t hd,
                  float* out) {
  const void* v = rows.base;
  for (size_t d0 = 0; d0 < hd; d0 += kMaxChunks * kW) {
    const size_t chunks = min_size(kMaxChunks, (hd - d0 + kW - 1) / kW);
    __m512 acc[kMaxChunks];
    for (size_t c = 0; c < chunks; ++c) acc[c] = _mm512_setzero_ps();
    for (size_t j = 0; j < n; ++j) {
      const __m512 pj = _mm512_set1_ps(p[j]);
      const size_t row = row_offset(rows, first + j) + d0;
      for (size_t c = 0; c < chunks; ++c)
        acc[c] = _mm512_fmadd_ps(pj, load<E>(v, row + c * kW, lanes16(hd - d0 - c * kW)), acc[c]);
    }
    for (size_t c = 0; c < chunks; ++c)
      _mm512_mask_storeu_ps(out + d0 + c * kW, lanes16(hd - d0 - c * kW), acc[c]);
  }
}

// The g heads of one KV head, each with exactly the operations of scores() / weighted_sum() (so
// the same bits), but every key and value row is loaded and converted once for all g. Head dim
// 16 * kChunks.
template <KvElement E, int kChunks>
void scores_group(const float* q, size_t g, const KvRows& rows, size_t first, size_t n, float scale,
                  float* out) {
  constexpr size_t hd = kChunks * kW;
  const void* k = rows.base;
  for (size_t j = 0; j < n; ++j) {
    const size_t row = row_offset(rows, first + j);
    __m512 kv[kChunks];
    for (int c = 0; c < kChunks; ++c) kv[c] = load<E>(k, row + c * kW, 0xFFFF);
    for (size_t h = 0; h < g; ++h) {
      __m512 acc = _mm512_setzero_ps();
      for (int c = 0; c < kChunks; ++c)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + h * hd + c * kW), kv[c], acc);
      out[h * n + j] = _mm512_reduce_add_ps(acc) * scale;
    }
  }
}

template <KvElement E, int kChunks>
void weighted_sum_group(const float* p, size_t g, const KvRows& rows, size_t first, size_t n,
                        float* out) {
  const void* v = rows.base;
  constexpr size_t hd = kChunks * kW;
  constexpr size_t kHeads = 16 / kChunks;  // heads per pass: 16 accumulators
  for (size_t h0 = 0; h0 < g; h0 += kHeads) {
    const size_t nh = min_size(kHeads, g - h0);
    __m512 acc[kHeads][kChunks];
    for (size_t h = 0; h < kHeads; ++h)
      for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm512_setzero_ps();
    for (size_t j = 0; j < n; ++j) {
      const size_t row = row_offset(rows, first + j);
      __m512 vv[kChunks];
      for (int c = 0; c < kChunks; ++c) vv[c] = load<E>(v, row + c * kW, 0xFFFF);
      for (size_t h = 0; h < kHeads; ++h) {
        if (h >= nh) break;
        const __m512 pj = _mm512_set1_ps(p[(h0 + h) * n + j]);
        for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm512_fmadd_ps(pj, vv[c], acc[h][c]);
      }
    }
    for (size_t h = 0; h < nh; ++h)
      for (int c = 0; c < kChunks; ++c) _mm512_storeu_ps(out + (h0 + h) * hd + c * kW, acc[h][c]);
  }
}

template <int kChunks>
bool group_paths(const float* q, size_t g, const KvRows& k, const KvRows& v, size_t first, size_t n,
                 float scale, float* scores, float* out) {
  with_element(k.type, [&](auto e) {
    scores_group<decltype(e)::value, kChunks>(q, g, k, first, n, scale, scores);
  });
  for (size_t h = 0; h < g; ++h) softmax(scores + h * n, n);
  with_element(v.type, [&](auto e) {
    weighted_sum_group<decltype(e)::value, kChunks>(scores, g, v, first, n, out);
  });
  return true;
}

}  // namespace

bool attention_group_avx512(const float* q, size_t g, const KvRows& k, const KvRows& v,
                            size_t first, size_t n, size_t head_dim, float scale, float* scores,
                            float* out) {
  if (head_dim == 64) return group_paths<4>(q, g, k, v, first, n, scale, scores, out);
  if (head_dim == 128) return group_paths<8>(q, g, k, v, first, n, scale, scores, out);
  return false;
}

void attention_scores_avx512(const float* q, const KvRows& k, size_t first, size_t n,
                             size_t head_dim, float scale, float* out) {
  with_element(k.type,
               [&](auto e) { scores<decltype(e)::value>(q, k, first, n, head_dim, scale, out); });
}

void attention_values_avx512(const float* p, const KvRows& v, size_t first, size_t n,
                             size_t head_dim, float* out) {
  with_element(v.type,
               [&](auto e) { weighted_sum<decltype(e)::value>(p, v, first, n, head_dim, out); });
}

}  // namespace minillm::kernels::isa
