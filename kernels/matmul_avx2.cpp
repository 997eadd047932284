// AVX2/FMA/F16C matrix-product tile and float dot product (compiled with -mavx2 -mfma -mf16c; see
// isa_entry.h).
//
// Canonical reduction of this path: a row is cut into 8-float vectors k = 0, 1, ...; vector k is
// accumulated with one FMA into accumulator k % 2; a final partial vector is zero-filled; the
// result is hsum(acc0 + acc1) with a fixed shuffle tree. The fused per-type dots and the buffered
// path (dequantize into scratch, then dot_rows) perform exactly this sequence on the same values,
// so they give bit-identical results.
#include <immintrin.h>

#include <cstring>

#include "kernels/isa_entry.h"
#include "kernels/quant.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kW = 8;   // floats per vector
constexpr size_t kQ = 32;  // elements per Q4_0/Q8_0 block

// Lanes [0, left) enabled, for maskload.
inline __m256i tail_mask(size_t left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline float hsum(__m256 a0, __m256 a1) {
  const __m256 s = _mm256_add_ps(a0, a1);
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

inline __m256 fp16_scale(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _mm256_set1_ps(_cvtsh_ss(h));
}

// The low 8 signed bytes of `bytes`, times d (an exact product).
inline __m256 int_to_scaled(__m128i bytes, __m256 d) {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)), d);
}

// Q4_0 block -> elements 0..7, 8..15 (low nibbles), 16..23, 24..31 (high nibbles), as q - 8.
inline void q4_0_block(const uint8_t* blk, __m256* v) {
  const __m256 d = fp16_scale(blk);
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
  const __m128i mask = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, mask), eight);  // signed -8..7
  const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), eight);
  v[0] = int_to_scaled(lo, d);
  v[1] = int_to_scaled(_mm_unpackhi_epi64(lo, lo), d);
  v[2] = int_to_scaled(hi, d);
  v[3] = int_to_scaled(_mm_unpackhi_epi64(hi, hi), d);
}

// Q8_0 block -> 4 vectors of 8 signed quants times d.
inline void q8_0_block(const uint8_t* blk, __m256* v) {
  const __m256 d = fp16_scale(blk);
  const auto* q = reinterpret_cast<const __m128i*>(blk + 2);
  const __m128i a = _mm_loadu_si128(q), b = _mm_loadu_si128(q + 1);
  v[0] = int_to_scaled(a, d);
  v[1] = int_to_scaled(_mm_unpackhi_epi64(a, a), d);
  v[2] = int_to_scaled(b, d);
  v[3] = int_to_scaled(_mm_unpackhi_epi64(b, b), d);
}

// 8 halves at p (`left` of them valid, the rest read as zero) -> floats.
inline __m128i load_halves(const uint8_t* p, size_t left) {
  if (left >= kW) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  uint16_t buf[kW] = {};
  std::memcpy(buf, p, left * sizeof(uint16_t));
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf));
}
inline __m256 f16_vec(const uint8_t* p, size_t left) {
  return _mm256_cvtph_ps(load_halves(p, left));
}
inline __m256 bf16_vec(const uint8_t* p, size_t left) {
  const __m256i h = _mm256_cvtepu16_epi32(load_halves(p, left));
  return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
}

// ---- fused single-row dots ----

template <void (*kBlock)(const uint8_t*, __m256*), size_t kBlockBytes>
float dot_blocks(const uint8_t* row, const float* x, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (size_t b = 0; b < n / kQ; ++b, row += kBlockBytes, x += kQ) {
    __m256 v[4];
    kBlock(row, v);
    a0 = _mm256_fmadd_ps(v[0], _mm256_loadu_ps(x), a0);
    a1 = _mm256_fmadd_ps(v[1], _mm256_loadu_ps(x + kW), a1);
    a0 = _mm256_fmadd_ps(v[2], _mm256_loadu_ps(x + 2 * kW), a0);
    a1 = _mm256_fmadd_ps(v[3], _mm256_loadu_ps(x + 3 * kW), a1);
  }
  return hsum(a0, a1);
}

template <__m256 (*kVec)(const uint8_t*, size_t)>
float dot_halves(const uint8_t* row, const float* x, size_t n) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  size_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    acc[0] = _mm256_fmadd_ps(kVec(row + 2 * i, kW), _mm256_loadu_ps(x + i), acc[0]);
    acc[1] = _mm256_fmadd_ps(kVec(row + 2 * i + 2 * kW, kW), _mm256_loadu_ps(x + i + kW), acc[1]);
  }
  for (; i < n; i += kW) {
    const size_t k = (i / kW) & 1;
    const __m256 xv = _mm256_maskload_ps(x + i, tail_mask(n - i));
    acc[k] = _mm256_fmadd_ps(kVec(row + 2 * i, n - i), xv, acc[k]);
  }
  return hsum(acc[0], acc[1]);
}

// ---- buffered path ----

template <int R>
void dot_rows(const float* const* w, const float* x, size_t n, float* out) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + kW);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(w[r] + i), x0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(_mm256_loadu_ps(w[r] + i + kW), x1, acc[r][1]);
    }
  }
  for (; i < n; i += kW) {
    const __m256i m = tail_mask(n - i);
    const size_t k = (i / kW) & 1;
    const __m256 xv = _mm256_maskload_ps(x + i, m);
    for (int r = 0; r < R; ++r)
      acc[r][k] = _mm256_fmadd_ps(_mm256_maskload_ps(w[r] + i, m), xv, acc[r][k]);
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r][0], acc[r][1]);
}

template <void (*kBlock)(const uint8_t*, __m256*), size_t kBlockBytes>
void dequant_blocks(const uint8_t* row, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQ; ++b, row += kBlockBytes, dst += kQ) {
    __m256 v[4];
    kBlock(row, v);
    for (int j = 0; j < 4; ++j) _mm256_storeu_ps(dst + j * kW, v[j]);
  }
}

template <__m256 (*kVec)(const uint8_t*, size_t)>
void dequant_halves(const uint8_t* row, float* dst, size_t n) {
  for (size_t i = 0; i < n; i += kW) {
    const __m256 v = kVec(row + 2 * i, n - i);
    if (n - i >= kW) {
      _mm256_storeu_ps(dst + i, v);
    } else {
      _mm256_maskstore_ps(dst + i, tail_mask(n - i), v);
    }
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

float dot_f32_avx2(const float* a, const float* b, size_t n) {
  float out;
  dot_rows<1>(&a, b, n, &out);
  return out;
}

void matmul_tile_avx2(const MatmulTile& t) {
  if (t.n_tok == 1 && has_fused_dot(t.wtype)) {
    for (size_t r = 0; r < t.n_rows; ++r)
      t.y[r] = fused_dot(t.wtype, t.w + r * t.row_stride, t.x, t.n_in);
    return;
  }
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
  for (size_t tok = 0; tok < t.n_tok; ++tok) {
    const float* x = t.x + tok * t.n_in;
    float* y = t.y + tok * t.y_stride;
    size_t r = 0;
    for (; r + 4 <= t.n_rows; r += 4) dot_rows<4>(rows + r, x, t.n_in, y + r);
    for (; r < t.n_rows; ++r) dot_rows<1>(rows + r, x, t.n_in, y + r);
  }
}

}  // namespace minillm::kernels::isa
