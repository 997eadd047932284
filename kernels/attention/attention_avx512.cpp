// AVX-512 tiled attention (see attention.h; compiled with -mavx512*): the query heads of one KV
// head, of one token or of a tile of tokens, over tiles of 16 rows (attend_tiled), for F16 and F32
// rows (Q8_0 rows: attention_q8_avx512.cpp). The rows are converted to floats as float_kernels.h's
// row-at-a-time pieces (which head dims above 256 take) convert them.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/blocks.h"
#include "kernels/float/float_kernels.h"
#include "kernels/isa_entry.h"
#include "kernels/isa_local.h"
#include "kernels/ops/activations.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kW = F512::kW;

// The g query heads of one KV head over tiles of 16 rows: each tile of keys (then of values) is
// converted to floats once, into a small buffer that stays in L1, and serves all g heads; the
// rows two tiles ahead are prefetched meanwhile (at long contexts they stream from memory).
// The 16 scores of a tile are summed across lanes as one 16 x 16 transpose-and-add, not one
// horizontal sum per row. Every head gets the same operations whatever g is, so a group gives each
// head bit for bit the one-head result.
constexpr size_t kTile = 16;
constexpr size_t kMaxTileDim = 256;  // head dims up to this take the tiled path
constexpr size_t kPrefetchTiles = 2;

// Rows [first, first + nr) (nr <= 16) as floats, row r at tile + r * hdp (hdp: hd rounded up to
// 16, zero-padded; rows nr..15 zero); the rows of the tile kPrefetchTiles ahead (below `end`) are
// prefetched.
template <KvElement E>
void load_tile(const KvRows& rows, size_t first, size_t nr, size_t end, size_t hd, size_t hdp,
               float* tile) {
  constexpr size_t kBytesPer32 = E == KvElement::F16    ? 64
                                 : E == KvElement::Q8_0 ? sizeof(BlockQ8_0)
                                                        : 128;
  const size_t row_bytes = hd * kBytesPer32 / 32;
  for (size_t r = 0; r < nr; ++r) {
    const size_t at = row_offset(rows, first + r);
    for (size_t d = 0; d < hdp; d += kW)
      _mm512_store_ps(tile + r * hdp + d, load_kv<F512, E>(rows.base, at + d, hd - d));
    const size_t ahead = first + r + kPrefetchTiles * kTile;
    if (ahead < end) {
      const size_t off = row_offset(rows, ahead);
      const char* line =
          E == KvElement::Q8_0
              ? reinterpret_cast<const char*>(static_cast<const BlockQ8_0*>(rows.base) + off / kQK)
              : static_cast<const char*>(rows.base) + off * (kBytesPer32 / 32);
      for (size_t bytes = 0; bytes < row_bytes + 63; bytes += 64)
        _mm_prefetch(line + bytes, _MM_HINT_T0);
    }
  }
  for (size_t i = nr * hdp; i < kTile * hdp; i += kW)
    _mm512_store_ps(tile + i, _mm512_setzero_ps());
}

// The lane sums of 16 vectors, as one vector: lane r holds the sum of acc[r].
inline __m512 sum_lanes16(__m512 acc[16]) {
  // Halve the lanes of each vector while doubling the vectors per register: 16 x 16 -> 8 x (2 x
  // 8) -> 4 x (4 x 4) -> 2 x (8 x 2) -> 1 x 16, each step one add of two shuffles.
  __m512 a[8], b[4], c[2];
  for (int i = 0; i < 8; ++i)
    a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2 * i], acc[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(acc[2 * i], acc[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xDD));
  for (int i = 0; i < 2; ++i)
    c[i] = _mm512_add_ps(_mm512_unpacklo_ps(b[2 * i], b[2 * i + 1]),
                         _mm512_unpackhi_ps(b[2 * i], b[2 * i + 1]));
  const __m512 d = _mm512_add_ps(
      _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(c[0]), _mm512_castps_pd(c[1]))),
      _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(c[0]), _mm512_castps_pd(c[1]))));
  // Lane 4k + m of d holds row k + 4m.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, d);
}

// kChunks: the head dim in vectors of 16, fixed at compile time for the common head dims so the
// accumulators stay in registers (0: taken from hd). Query row (i, h) is head h of token i of the
// tile, over the rows [first, first + n[i]); each tile of keys (then of values) is converted once
// for all of them. A row's operations depend only on its own query and rows, so a token of a
// tile gets bit for bit what it gets alone (rows past its range are never read for it).
template <KvElement E, size_t kChunks>
void attend_tiled(const QueryTile& qt, const KvRows& k, const KvRows& v, size_t hd, float scale,
                  float* scores) {
  const size_t chunks = kChunks ? kChunks : (hd + kW - 1) / kW, hdp = chunks * kW;
  const size_t g = qt.g, n_max = *std::max_element(qt.n, qt.n + qt.n_tok), end = qt.first + n_max;
  const auto q_row = [&](size_t i, size_t h) { return qt.q + i * qt.q_stride + h * hd; };
  const auto out_row = [&](size_t i, size_t h) { return qt.out + i * qt.out_stride + h * hd; };
  const auto score_row = [&](size_t i, size_t h) { return scores + (i * g + h) * n_max; };
  // fn(i, h, nr) for the query rows that read rows of the tile at t: nr of them.
  const auto each_row = [&](size_t t, auto&& fn) {
    for (size_t i = 0; i < qt.n_tok; ++i)
      if (t < qt.n[i])
        for (size_t h = 0; h < g; ++h) fn(i, h, min_size(kTile, qt.n[i] - t));
  };
  alignas(64) float tile[kTile * kMaxTileDim];
  // Scores: per tile, per head, one FMA chain per row over the head dim, then the lane sums.
  for (size_t t = 0; t < n_max; t += kTile) {
    load_tile<E>(k, qt.first + t, min_size(kTile, n_max - t), end, hd, hdp, tile);
    each_row(t, [&](size_t i, size_t h, size_t nr) {
      const float* qh = q_row(i, h);
      __m512 acc[kTile];
      for (size_t r = 0; r < kTile; ++r) acc[r] = _mm512_setzero_ps();
      for (size_t c = 0; c < chunks; ++c) {
        const __m512 qc = _mm512_maskz_loadu_ps(lanes16(hd - c * kW), qh + c * kW);
        for (size_t r = 0; r < kTile; ++r)
          acc[r] = _mm512_fmadd_ps(qc, _mm512_load_ps(tile + r * hdp + c * kW), acc[r]);
      }
      _mm512_mask_storeu_ps(score_row(i, h) + t, lanes16(nr),
                            _mm512_mul_ps(sum_lanes16(acc), _mm512_set1_ps(scale)));
    });
  }
  for (size_t i = 0; i < qt.n_tok; ++i)
    for (size_t h = 0; h < g; ++h) {
      softmax(score_row(i, h), qt.n[i]);
      std::fill_n(out_row(i, h), hd, 0.0f);
    }
  // Values: out accumulates across tiles (held in registers within one, 16 vectors at a time).
  for (size_t t = 0; t < n_max; t += kTile) {
    load_tile<E>(v, qt.first + t, min_size(kTile, n_max - t), end, hd, hdp, tile);
    each_row(t, [&](size_t i, size_t h, size_t nr) {
      alignas(64) float p[kTile];  // the tile's weights
      _mm512_store_ps(p, _mm512_maskz_loadu_ps(lanes16(nr), score_row(i, h) + t));
      for (size_t c0 = 0; c0 < chunks; c0 += kTile) {
        const size_t cc = min_size(kTile, chunks - c0);
        float* o = out_row(i, h) + c0 * kW;
        __m512 acc[kTile];
        for (size_t c = 0; c < cc; ++c)
          acc[c] = _mm512_maskz_loadu_ps(lanes16(hd - (c0 + c) * kW), o + c * kW);
        for (size_t r = 0; r < nr; ++r) {
          const __m512 pr = _mm512_set1_ps(p[r]);
          for (size_t c = 0; c < cc; ++c)
            acc[c] = _mm512_fmadd_ps(pr, _mm512_load_ps(tile + r * hdp + (c0 + c) * kW), acc[c]);
        }
        for (size_t c = 0; c < cc; ++c)
          _mm512_mask_storeu_ps(o + c * kW, lanes16(hd - (c0 + c) * kW), acc[c]);
      }
    });
  }
}

}  // namespace

bool attention_tile_avx512(const QueryTile& qt, const KvRows& k, const KvRows& v, size_t head_dim,
                           float scale, float* scores) {
  if (k.type == KvElement::Q8_0) return attention_tile_q8_avx512(qt, k, v, head_dim, scale, scores);
  if (head_dim > kMaxTileDim) return false;
  const auto run = [&](auto e) {
    constexpr KvElement E = decltype(e)::value;
    if (head_dim == 64)
      attend_tiled<E, 4>(qt, k, v, head_dim, scale, scores);
    else if (head_dim == 128)
      attend_tiled<E, 8>(qt, k, v, head_dim, scale, scores);
    else
      attend_tiled<E, 0>(qt, k, v, head_dim, scale, scores);
  };
  if (k.type == KvElement::F16)
    run(std::integral_constant<KvElement, KvElement::F16>());
  else
    run(std::integral_constant<KvElement, KvElement::F32>());
  return true;
}

}  // namespace minillm::kernels::isa
