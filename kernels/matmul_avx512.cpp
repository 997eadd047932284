// AVX-512 matrix-product tile and float dot product (compiled with -mavx512*; see isa_entry.h).
//
// Canonical reduction of this path (what makes results independent of batch size and threads):
// a row of n elements is cut into 16-float vectors k = 0, 1, ...; vector k is accumulated with one
// FMA into accumulator k % 2; a final partial vector is zero-filled; the result is
// hsum(acc0 + acc1) with a fixed shuffle tree. The fused per-type dots below (weights dequantized
// in registers) and the buffered path (weights dequantized into scratch, then dot_rows) perform
// exactly this sequence on exactly the same values, so they give bit-identical results.
// GCC 12 reports its own _mm512_undefined_* helpers (self-initialised on purpose) as
// uninitialised when they are inlined here; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/isa_entry.h"
#include "kernels/isa_local.h"
#include "kernels/quant.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kW = 16;  // floats per vector
constexpr size_t kQ = 32;  // elements per Q4_0/Q8_0 block

inline float hsum(__m512 a0, __m512 a1) {
  const __m512 s = _mm512_add_ps(a0, a1);
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

inline __m512 fp16_scale(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _mm512_set1_ps(_cvtsh_ss(h));  // exact, like every fp16 -> fp32 conversion
}

// Q4_0 block (fp16 d, 16 bytes of nibbles) -> elements 0..15 (low nibbles), 16..31 (high).
inline void q4_0_block(const uint8_t* blk, __m512& v0, __m512& v1) {
  const __m512 d = fp16_scale(blk);
  const __m512i q =
      _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
  const __m512i eight = _mm512_set1_epi32(8);
  const __m512i lo = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0x0F)), eight);
  const __m512i hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
  v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d);
  v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d);
}

// Q8_0 block (fp16 d, 32 signed bytes).
inline void q8_0_block(const uint8_t* blk, __m512& v0, __m512& v1) {
  const __m512 d = fp16_scale(blk);
  const auto* q = reinterpret_cast<const __m128i*>(blk + 2);
  v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q))), d);
  v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q + 1))), d);
}

inline __m512 f16_vec(const uint8_t* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
inline __m512 bf16_vec(const uint8_t* p, __mmask16 m) {
  const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
}

// ---- fused single-row dots (weights dequantized in registers) ----

template <void (*kBlock)(const uint8_t*, __m512&, __m512&), size_t kBlockBytes>
float dot_blocks(const uint8_t* row, const float* x, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  for (size_t b = 0; b < n / kQ; ++b, row += kBlockBytes, x += kQ) {
    __m512 v0, v1;
    kBlock(row, v0, v1);
    a0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(x), a0);
    a1 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(x + kW), a1);
  }
  return hsum(a0, a1);
}

template <__m512 (*kVec)(const uint8_t*, __mmask16)>
float dot_halves(const uint8_t* row, const float* x, size_t n) {
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  size_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    // One line per step, well ahead: the hardware prefetchers alone leave ~20 % unused.
    _mm_prefetch(reinterpret_cast<const char*>(row + 2 * i + kStreamAhead), _MM_HINT_T0);
    acc[0] = _mm512_fmadd_ps(kVec(row + 2 * i, 0xFFFF), _mm512_loadu_ps(x + i), acc[0]);
    acc[1] =
        _mm512_fmadd_ps(kVec(row + 2 * i + 2 * kW, 0xFFFF), _mm512_loadu_ps(x + i + kW), acc[1]);
  }
  for (; i < n; i += kW) {
    const __mmask16 m = lanes16(n - i);
    const size_t k = (i / kW) & 1;
    acc[k] = _mm512_fmadd_ps(kVec(row + 2 * i, m), _mm512_maskz_loadu_ps(m, x + i), acc[k]);
  }
  return hsum(acc[0], acc[1]);
}

// ---- buffered path: float rows (dequantized once per tile) times each token ----

// out[r] = dot(w[r], x) for R rows at once, sharing the loads of x.
template <int R>
void dot_rows(const float* const* w, const float* x, size_t n, float* out) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + kW);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = _mm512_fmadd_ps(_mm512_loadu_ps(w[r] + i), x0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(_mm512_loadu_ps(w[r] + i + kW), x1, acc[r][1]);
    }
  }
  for (; i < n; i += kW) {
    const __mmask16 m = lanes16(n - i);
    const size_t k = (i / kW) & 1;
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
    for (int r = 0; r < R; ++r)
      acc[r][k] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w[r] + i), xv, acc[r][k]);
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r][0], acc[r][1]);
}

// Keeps a loaded vector in a register. Left alone, GCC folds the load into every FMA that uses
// it (R or T loads instead of one), and the loads, not the FMAs, then bound the batch path at
// about 40 % of the FMA peak.
inline __m512 in_register(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

// R rows x T tokens at once (the batch path): each (row, token) pair keeps its own two
// accumulators and receives exactly the FMAs dot_rows<1> would give it, in the same order, so the
// results are bit-identical to the one-token path. Weights are loaded once for T tokens and
// activations once for R rows, which makes the loop FMA-bound instead of load-bound.
template <int R, int T>
void dot_tile(const float* const* w, const float* const* x, size_t n, float* const* out) {
  __m512 acc[R][T][2];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t][0] = acc[r][t][1] = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    for (int k = 0; k < 2; ++k) {
      __m512 xv[T];
      for (int t = 0; t < T; ++t) xv[t] = in_register(_mm512_loadu_ps(x[t] + i + k * kW));
      for (int r = 0; r < R; ++r) {
        const __m512 wv = in_register(_mm512_loadu_ps(w[r] + i + k * kW));
        for (int t = 0; t < T; ++t) acc[r][t][k] = _mm512_fmadd_ps(wv, xv[t], acc[r][t][k]);
      }
    }
  }
  for (; i < n; i += kW) {
    const __mmask16 m = lanes16(n - i);
    const size_t k = (i / kW) & 1;
    for (int r = 0; r < R; ++r) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w[r] + i);
      for (int t = 0; t < T; ++t)
        acc[r][t][k] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x[t] + i), acc[r][t][k]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[t][r] = hsum(acc[r][t][0], acc[r][t][1]);
}

template <void (*kBlock)(const uint8_t*, __m512&, __m512&), size_t kBlockBytes>
void dequant_blocks(const uint8_t* row, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQ; ++b, row += kBlockBytes, dst += kQ) {
    __m512 v0, v1;
    kBlock(row, v0, v1);
    _mm512_storeu_ps(dst, v0);
    _mm512_storeu_ps(dst + kW, v1);
  }
}

template <__m512 (*kVec)(const uint8_t*, __mmask16)>
void dequant_halves(const uint8_t* row, float* dst, size_t n) {
  for (size_t i = 0; i < n; i += kW) {
    const __mmask16 m = lanes16(n - i);
    _mm512_mask_storeu_ps(dst + i, m, kVec(row + 2 * i, m));
  }
}

bool has_fused_dot(TensorType t) {
  return t == TensorType::Q4_0 || t == TensorType::Q8_0 || t == TensorType::F16 ||
         t == TensorType::BF16;
}

float fused_dot(TensorType t, const uint8_t* row, const float* x, size_t n) {
  switch (t) {
    case TensorType::Q4_0:
      return dot_blocks<q4_0_block, 18>(row, x, n);
    case TensorType::Q8_0:
      return dot_blocks<q8_0_block, 34>(row, x, n);
    case TensorType::F16:
      return dot_halves<f16_vec>(row, x, n);
    default:
      return dot_halves<bf16_vec>(row, x, n);  // BF16
  }
}

void dequant(TensorType t, const uint8_t* row, float* dst, size_t n) {
  switch (t) {
    case TensorType::Q4_0:
      return dequant_blocks<q4_0_block, 18>(row, dst, n);
    case TensorType::Q8_0:
      return dequant_blocks<q8_0_block, 34>(row, dst, n);
    case TensorType::F16:
      return dequant_halves<f16_vec>(row, dst, n);
    case TensorType::BF16:
      return dequant_halves<bf16_vec>(row, dst, n);
    default:
      return dequantize_row(t, row, dst, n);  // scalar reference, exact values
  }
}

}  // namespace

float dot_f32_avx512(const float* a, const float* b, size_t n) {
  float out;
  dot_rows<1>(&a, b, n, &out);
  return out;
}

void matmul_tile_avx512(const MatmulTile& t) {
  if (t.n_tok == 1 && has_fused_dot(t.wtype)) {
    for (size_t r = 0; r < t.n_rows; ++r)
      t.y[r] = fused_dot(t.wtype, t.w + r * t.row_stride, t.x, t.n_in);
    return;
  }
  // Float view of the tile's rows: the weights themselves for F32, else dequantized once.
  const float* rows[kMaxTileRows];
  for (size_t r = 0; r < t.n_rows; ++r) {
    const uint8_t* src = t.w + r * t.row_stride;
    if (t.wtype == TensorType::F32) {
      rows[r] = reinterpret_cast<const float*>(src);
    } else {
      float* dst = t.scratch + r * t.n_in;
      dequant(t.wtype, src, dst, t.n_in);
      rows[r] = dst;
    }
  }
  // Tokens in blocks whose activations stay in L2 (~384 KiB); within a block, 4 rows at a time
  // (in L1 for rows up to ~2048 elements) meet every group of 3 tokens.
  const size_t token_block = clamp_size((384 << 10) / (t.n_in * sizeof(float)) / 3 * 3, 3, 48);
  auto x_of = [&](size_t tok) { return t.x + tok * t.n_in; };
  auto y_of = [&](size_t tok) { return t.y + tok * t.y_stride; };
  for (size_t tb = 0; tb < t.n_tok; tb += token_block) {
    const size_t te = min_size(t.n_tok, tb + token_block);
    size_t r = 0;
    for (; r + 4 <= t.n_rows; r += 4) {
      size_t tok = tb;
      for (; tok + 3 <= te; tok += 3) {
        const float* x[3] = {x_of(tok), x_of(tok + 1), x_of(tok + 2)};
        float* y[3] = {y_of(tok) + r, y_of(tok + 1) + r, y_of(tok + 2) + r};
        dot_tile<4, 3>(rows + r, x, t.n_in, y);
      }
      for (; tok < te; ++tok) dot_rows<4>(rows + r, x_of(tok), t.n_in, y_of(tok) + r);
    }
    for (; r < t.n_rows; ++r)
      for (size_t tok = tb; tok < te; ++tok)
        dot_rows<1>(rows + r, x_of(tok), t.n_in, y_of(tok) + r);
  }
}

}  // namespace minillm::kernels::isa
