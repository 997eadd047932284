// Attention over a Q8_0 KV cache with AVX-512 VNNI integer products (see attention.h; compiled
// with -mavx512*): the cached int8 values are never converted to floats.
//
// Scores: each query head is rounded to int16 (one scale per 32-value block, so each element is
// within 2^-17 of its block's largest), and q.k for a block of 32 is an exact integer sum
// (VPDPWSSD: pairs of int16 products into int32 lanes), scaled by the key block's fp16 scale
// times the query block's. A tile of 16 key rows is transposed once (lane r = row r, one register
// per pair of dims), so each VPDPWSSD scores 16 rows over 2 dims with no sums across lanes, and
// the tile serves up to 8 query rows at once (the heads that share the KV head).
// Softmax: the largest score is kept while scoring, the weights p_r = e^(s_r - max) are not
// divided by their sum; the result is, once at the end.
// Values: per tile of 16 rows and per query row, the weights times the value blocks' scales are
// rounded to int16 against a bound on them (the tile's largest weight times the block's largest
// scale), and Σ_r w_r v_r is an exact integer sum over pairs of rows (VPDPWSSD again: a register
// holds rows 2m and 2m+1 interleaved), added to the float result once per tile.
// Why: on a 4,096-token cache the float path spent 155 us on the 8 heads of one KV head (rows in
// cache, one Zen 4 core), converting each row and in two FMA passes; this path takes ~101 us
// (bench_attention attend_group:8/q8_0/4096).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/blocks.h"
#include "kernels/isa_entry.h"
#include "kernels/isa_local.h"
#include "kernels/ops/exp_avx512.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kTile = 16;      // rows per tile
constexpr size_t kMaxBlocks = 8;  // head dims up to 256
constexpr size_t kMaxGroup = 8;   // query rows computed together (their accumulators in registers)
constexpr size_t kPrefetchTiles = 2;

// One query row of the call (head h of token i): it reads rows [first, first + n).
struct QueryRow {
  const float* q;
  float* out;
  float* scores;  // n floats
  size_t n;
};

const BlockQ8_0* row_blocks(const KvRows& rows, size_t j) {
  return static_cast<const BlockQ8_0*>(rows.base) + row_offset(rows, j) / kQK;
}

void prefetch_row(const KvRows& rows, size_t j, size_t blocks) {
  const char* p = reinterpret_cast<const char*>(row_blocks(rows, j));
  for (size_t b = 0; b < blocks * sizeof(BlockQ8_0) + 63; b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}

// T[c] lane r = R[r] lane c (16 x 16 int32).
inline void transpose16(__m512i R[16], __m512i T[16]) {
  __m512i t[16], u[4][4];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(R[2 * i], R[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(R[2 * i], R[2 * i + 1]);
  }
  // u[i][k], 128-bit block L: column 4L + k of rows 4i..4i+3.
  for (int i = 0; i < 4; ++i) {
    u[i][0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[i][1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[i][2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[i][3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int k = 0; k < 4; ++k) {
    const __m512i x = _mm512_shuffle_i32x4(u[0][k], u[1][k], 0x88);  // blocks 0, 2 of each
    const __m512i y = _mm512_shuffle_i32x4(u[2][k], u[3][k], 0x88);
    const __m512i x1 = _mm512_shuffle_i32x4(u[0][k], u[1][k], 0xDD);  // blocks 1, 3 of each
    const __m512i y1 = _mm512_shuffle_i32x4(u[2][k], u[3][k], 0xDD);
    T[k] = _mm512_shuffle_i32x4(x, y, 0x88);
    T[8 + k] = _mm512_shuffle_i32x4(x, y, 0xDD);
    T[4 + k] = _mm512_shuffle_i32x4(x1, y1, 0x88);
    T[12 + k] = _mm512_shuffle_i32x4(x1, y1, 0xDD);
  }
}

// Rows past a tile's end read as this: values and scale 0.
const BlockQ8_0 kZeroRow[kMaxBlocks] = {};

// The blocks of rows [first, first + nr) of a tile, then kZeroRow up to 16.
void tile_rows(const KvRows& rows, size_t first, size_t nr, const BlockQ8_0* row[kTile]) {
  for (size_t r = 0; r < kTile; ++r) row[r] = r < nr ? row_blocks(rows, first + r) : kZeroRow;
}

// Block b of a tile's rows as int16 (32 per register).
inline __m512i widen(const BlockQ8_0& blk) {
  return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs)));
}

// Block b's scales of a tile's rows, lane r = row r.
inline __m512 block_scales(const BlockQ8_0* const row[kTile], size_t b) {
  alignas(32) uint16_t d[kTile];
  for (size_t r = 0; r < kTile; ++r) d[r] = row[r][b].d;
  return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d)));
}

// A tile of keys, transposed: kt[b * 16 + j] lane r = dims (32b + 2j, 32b + 2j + 1) of row r as
// an int16 pair; dk[b] lane r = that row's block scale.
template <size_t kBlocks>
void load_key_tile(const BlockQ8_0* const row[kTile], __m512i* kt, __m512* dk) {
  for (size_t b = 0; b < kBlocks; ++b) {
    __m512i R[kTile];
    for (size_t r = 0; r < kTile; ++r) R[r] = widen(row[r][b]);
    transpose16(R, kt + b * kTile);
    dk[b] = block_scales(row, b);
  }
}

// A tile of values, rows interleaved by pairs: vt[m * 2 * kBlocks + 2b + h] holds, as int16
// pairs, rows 2m and 2m+1 at the dims of block b that VPUNPCK{L,H}WD gives (h = 0: dims
// 32b + 8L + e, h = 1: dims 32b + 8L + 4 + e, at lane 4L + e; natural_order undoes it); dv[b] as
// dk above.
template <size_t kBlocks>
void load_value_tile(const BlockQ8_0* const row[kTile], __m512i* vt, __m512* dv) {
  for (size_t b = 0; b < kBlocks; ++b) {
    for (size_t m = 0; m < kTile / 2; ++m) {
      const __m512i even = widen(row[2 * m][b]), odd = widen(row[2 * m + 1][b]);
      vt[m * 2 * kBlocks + 2 * b] = _mm512_unpacklo_epi16(even, odd);
      vt[m * 2 * kBlocks + 2 * b + 1] = _mm512_unpackhi_epi16(even, odd);
    }
    dv[b] = block_scales(row, b);
  }
}

// The result rows back in dim order (see load_value_tile), times `scale`.
void natural_order(float* out, size_t blocks, float scale) {
  const __m512 by = _mm512_set1_ps(scale);
  alignas(64) int32_t idx[32];
  for (int d = 0; d < 32; ++d) idx[d] = (d % 8 < 4 ? 0 : 16) + 4 * (d / 8) + d % 4;
  const __m512i lo_idx = _mm512_load_si512(idx), hi_idx = _mm512_load_si512(idx + 16);
  for (size_t b = 0; b < blocks; ++b) {
    const __m512 lo = _mm512_loadu_ps(out + 32 * b), hi = _mm512_loadu_ps(out + 32 * b + 16);
    _mm512_storeu_ps(out + 32 * b, _mm512_mul_ps(_mm512_permutex2var_ps(lo, lo_idx, hi), by));
    _mm512_storeu_ps(out + 32 * b + 16, _mm512_mul_ps(_mm512_permutex2var_ps(lo, hi_idx, hi), by));
  }
}

// A query row rounded to int16 pairs (qp[b * 16 + j]: dims 32b + 2j, 32b + 2j + 1) with one
// scale per block.
void quantize_query(const float* q, size_t blocks, int32_t* qp, float* dq) {
  for (size_t b = 0; b < blocks; ++b) {
    const __m512 lo = _mm512_loadu_ps(q + 32 * b), hi = _mm512_loadu_ps(q + 32 * b + 16);
    const float m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
    const bool finite =
        !(_mm512_cmp_ps_mask(lo, lo, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(hi, hi, _CMP_UNORD_Q)) &&
        m < __builtin_inff();
    dq[b] = finite ? m / 32767.0f : __builtin_nanf("");  // a NaN query gives NaN, as in floats
    const __m512 inv = _mm512_set1_ps(m > 0.0f ? 32767.0f / m : 0.0f);
    const __m256i l16 = _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(lo, inv)));
    const __m256i h16 = _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(hi, inv)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qp + 16 * b), l16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qp + 16 * b + 8), h16);
  }
}

// kRows query rows over the same `first`, kBlocks blocks of 32 per head: scores, softmax, values.
// Both counts are compile-time constants so that every loop over them unrolls and the
// accumulators stay in registers.
template <size_t kRows, size_t kBlocks>
void attend_group(const QueryRow* qr, size_t first, const KvRows& k, const KvRows& v, float scale) {
  constexpr size_t blocks = kBlocks;
  size_t n_max = 0;
  for (size_t i = 0; i < kRows; ++i) n_max = qr[i].n > n_max ? qr[i].n : n_max;
  const size_t end = first + n_max;
  alignas(64) int32_t qp[kRows][kMaxBlocks * kTile];
  float dq[kRows][kMaxBlocks];
  for (size_t i = 0; i < kRows; ++i) quantize_query(qr[i].q, blocks, qp[i], dq[i]);
  const auto prefetch_ahead = [&](const KvRows& rows, size_t t) {
    for (size_t r = t + kPrefetchTiles * kTile; r < end && r < t + (kPrefetchTiles + 1) * kTile;
         ++r)
      prefetch_row(rows, first + r, blocks);
  };

  alignas(64) __m512i tile[kMaxBlocks * kTile];  // 8 KiB: transposed keys, then paired values
  __m512 scales[kMaxBlocks];
  __m512 s_max[kRows];  // each row's largest score so far, by lane
  for (size_t i = 0; i < kRows; ++i) s_max[i] = _mm512_set1_ps(-__builtin_inff());
  for (size_t t = 0; t < n_max; t += kTile) {
    prefetch_ahead(k, t);
    const BlockQ8_0* row[kTile];
    tile_rows(k, first + t, min_size(kTile, n_max - t), row);
    load_key_tile<kBlocks>(row, tile, scales);
    __m512 s[kRows];
    for (size_t i = 0; i < kRows; ++i) s[i] = _mm512_setzero_ps();
    for (size_t b = 0; b < blocks; ++b) {
      __m512i acc[kRows];
      for (size_t i = 0; i < kRows; ++i) acc[i] = _mm512_setzero_si512();
      for (size_t j = 0; j < kTile; ++j) {
        const __m512i kj = _mm512_load_si512(tile + b * kTile + j);
        for (size_t i = 0; i < kRows; ++i)
          acc[i] = _mm512_dpwssd_epi32(acc[i], kj, _mm512_set1_epi32(qp[i][b * kTile + j]));
      }
      for (size_t i = 0; i < kRows; ++i)
        s[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i]),
                               _mm512_mul_ps(scales[b], _mm512_set1_ps(dq[i][b])), s[i]);
    }
    for (size_t i = 0; i < kRows; ++i)
      if (t < qr[i].n) {
        const __mmask16 in_range = lanes16(qr[i].n - t);
        const __m512 scaled = _mm512_mul_ps(s[i], _mm512_set1_ps(scale));
        _mm512_mask_storeu_ps(qr[i].scores + t, in_range, scaled);
        s_max[i] = _mm512_mask_max_ps(s_max[i], in_range, s_max[i], scaled);
      }
  }
  // Softmax without its division: p_r = e^(s_r - max) (so the largest is 1), the sum kept to
  // divide the result by at the end.
  const size_t dims = blocks * 32;
  bool nan[kRows] = {};
  float inv_sum[kRows];
  for (size_t i = 0; i < kRows; ++i) {
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(s_max[i]));
    __m512 sum = _mm512_setzero_ps();
    for (size_t t = 0; t < qr[i].n; t += kTile) {
      const __mmask16 in_range = lanes16(qr[i].n - t);
      const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(in_range, qr[i].scores + t), max));
      _mm512_mask_storeu_ps(qr[i].scores + t, in_range, e);
      sum = _mm512_mask_add_ps(sum, in_range, sum, e);
    }
    inv_sum[i] = 1.0f / _mm512_reduce_add_ps(sum);
    for (size_t d = 0; d < dims; d += 16) _mm512_storeu_ps(qr[i].out + d, _mm512_setzero_ps());
  }

  for (size_t t = 0; t < n_max; t += kTile) {
    prefetch_ahead(v, t);
    const size_t nr = min_size(kTile, n_max - t);
    const BlockQ8_0* row[kTile];
    tile_rows(v, first + t, nr, row);
    load_value_tile<kBlocks>(row, tile, scales);
    // The weights p_r times the rows' block scales, as int16 against a bound on them: the
    // largest p times the block's largest scale over the query row's rows of the tile
    // (unit[i][b]: the value of 1). Rows past a query row's range weigh 0.
    __m512 abs_scales[kBlocks];
    float scale_max[kBlocks];
    for (size_t b = 0; b < blocks; ++b) {
      abs_scales[b] = _mm512_abs_ps(scales[b]);
      scale_max[b] = _mm512_reduce_max_ps(abs_scales[b]);
    }
    alignas(64) int32_t wp[kRows][kBlocks][kTile / 2];  // rows 2m, 2m+1 as an int16 pair
    float unit[kRows][kBlocks];
    bool live[kRows];
    for (size_t i = 0; i < kRows; ++i) {
      live[i] = t < qr[i].n;
      const __mmask16 in_range = live[i] ? lanes16(qr[i].n - t) : 0;
      const __m512 p = _mm512_maskz_loadu_ps(in_range, qr[i].scores + t);
      const float p_max = _mm512_reduce_max_ps(p);  // 0 <= p <= 1 (or NaN: caught below)
      for (size_t b = 0; b < blocks; ++b) {
        const __m512 w = _mm512_mul_ps(p, scales[b]);
        // A NaN or infinite weight gives NaN, as in floats.
        nan[i] |= _mm512_mask_fpclass_ps_mask(in_range, w, 0x99) != 0;
        const float bound =  // the same whether the rows past the range are there or not
            p_max * (in_range == lanes16(nr)
                         ? scale_max[b]
                         : _mm512_reduce_max_ps(_mm512_maskz_mov_ps(in_range, abs_scales[b])));
        unit[i][b] = bound / 32767.0f;
        const __m512 inv = _mm512_set1_ps(bound > 0.0f ? 32767.0f / bound : 0.0f);
        _mm256_store_si256(reinterpret_cast<__m256i*>(wp[i][b]),
                           _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(w, inv))));
      }
    }
    // Two query rows at a time (16 independent accumulators at most), 4 blocks at a time.
    const size_t pairs = (nr + 1) / 2;
    constexpr size_t kPair = kRows < 2 ? 1 : 2, bn = kBlocks < 4 ? kBlocks : 4;
    for (size_t i0 = 0; i0 < kRows; i0 += kPair)
      for (size_t b0 = 0; b0 < blocks; b0 += bn) {  // bn divides kBlocks (1-4 or 8)
        __m512i acc[kPair][2 * bn];
        for (size_t i = 0; i < kPair; ++i)
          for (size_t c = 0; c < 2 * bn; ++c) acc[i][c] = _mm512_setzero_si512();
        for (size_t m = 0; m < pairs; ++m)
          for (size_t b = 0; b < bn; ++b) {
            const __m512i* at = tile + m * 2 * blocks + 2 * (b0 + b);
            const __m512i lo = _mm512_load_si512(at), hi = _mm512_load_si512(at + 1);
            for (size_t i = 0; i < kPair; ++i) {
              const __m512i w = _mm512_set1_epi32(wp[i0 + i][b0 + b][m]);
              acc[i][2 * b] = _mm512_dpwssd_epi32(acc[i][2 * b], lo, w);
              acc[i][2 * b + 1] = _mm512_dpwssd_epi32(acc[i][2 * b + 1], hi, w);
            }
          }
        for (size_t i = 0; i < kPair; ++i) {
          if (!live[i0 + i]) continue;
          for (size_t c = 0; c < 2 * bn; ++c) {
            float* o = qr[i0 + i].out + 32 * b0 + 16 * c;
            _mm512_storeu_ps(
                o, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i][c]),
                                   _mm512_set1_ps(unit[i0 + i][b0 + c / 2]), _mm512_loadu_ps(o)));
          }
        }
      }
  }
  for (size_t i = 0; i < kRows; ++i)
    if (nan[i])
      for (size_t d = 0; d < dims; d += 16)
        _mm512_storeu_ps(qr[i].out + d, _mm512_set1_ps(__builtin_nanf("")));
  for (size_t i = 0; i < kRows; ++i) natural_order(qr[i].out, blocks, inv_sum[i]);
}

// f(std::integral_constant<size_t, blocks>()) for the head dims this file takes.
template <class F>
void with_blocks(size_t blocks, F&& f) {
  switch (blocks) {
    case 1:
      return f(std::integral_constant<size_t, 1>());
    case 2:
      return f(std::integral_constant<size_t, 2>());
    case 3:
      return f(std::integral_constant<size_t, 3>());
    case 4:
      return f(std::integral_constant<size_t, 4>());
    default:
      return f(std::integral_constant<size_t, 8>());
  }
}

}  // namespace

bool attention_tile_q8_avx512(const QueryTile& qt, const KvRows& k, const KvRows& v,
                              size_t head_dim, float scale, float* scores) {
  // Head dims of 1-4 blocks, or 8 (256): others take the row-at-a-time float pieces.
  if (head_dim % kQK != 0 || (head_dim > 4 * kQK && head_dim != 8 * kQK)) return false;
  size_t n_max = 0;
  for (size_t i = 0; i < qt.n_tok; ++i) n_max = qt.n[i] > n_max ? qt.n[i] : n_max;
  const size_t blocks = head_dim / kQK, rows = qt.n_tok * qt.g;
  QueryRow group[kMaxGroup];
  for (size_t at = 0; at < rows;) {
    const size_t left = rows - at;
    const size_t size = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
    for (size_t r = 0; r < size; ++r) {
      const size_t tok = (at + r) / qt.g, h = (at + r) % qt.g;
      group[r] = {qt.q + tok * qt.q_stride + h * head_dim,
                  qt.out + tok * qt.out_stride + h * head_dim, scores + (at + r) * n_max,
                  qt.n[tok]};
    }
    with_blocks(blocks, [&](auto kb) {
      constexpr size_t kB = decltype(kb)::value;
      switch (size) {
        case 8:
          attend_group<8, kB>(group, qt.first, k, v, scale);
          break;
        case 4:
          attend_group<4, kB>(group, qt.first, k, v, scale);
          break;
        case 2:
          attend_group<2, kB>(group, qt.first, k, v, scale);
          break;
        default:
          attend_group<1, kB>(group, qt.first, k, v, scale);
          break;
      }
    });
    at += size;
  }
  return true;
}

}  // namespace minillm::kernels::isa
