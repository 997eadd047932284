// The float kernels of the AVX2 and AVX-512 paths, written once over a float vector V (F256 or
// F512, float_vec.h): row conversions, the float dot product, the matrix-product tile, and the
// row-at-a-time attention pieces. float_avx2.cpp and float_avx512.cpp instantiate them.
//
// Canonical reduction of a path (what makes results independent of batch size and threads): a
// row of n elements is cut into vectors k = 0, 1, ... of V::kW floats; vector k is accumulated
// with one FMA into accumulator k % 2; a final partial vector is zero-filled; the result is
// V::hsum(acc0 + acc1). The fused per-type dots (weights dequantized in registers) and the
// buffered path (weights dequantized into scratch, then dot_rows or dot_tile) perform exactly
// this sequence on exactly the same values, so they give bit-identical results.
//
// Included only by per-ISA files, after float_vec.h; everything here has internal linkage.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/attention/attention.h"
#include "kernels/blocks.h"
#include "kernels/float/float_vec.h"
#include "kernels/isa_entry.h"
#include "kernels/isa_local.h"
#include "kernels/quant/quant.h"

namespace minillm::kernels::isa {
namespace {

// ---- row conversions ----

template <class V>
void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; i += V::kW) V::store(dst + i, V::load_f16(src + i, n - i), n - i);
}
template <class V>
void convert_f32_to_f16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; i += V::kW) V::store_f16(dst + i, V::load(src + i, n - i), n - i);
}
template <class V>
void convert_bf16_to_f32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; i += V::kW) V::store(dst + i, V::load_bf16(src + i, n - i), n - i);
}
template <class V>
void convert_f32_to_bf16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; i += V::kW) V::store_bf16(dst + i, V::load(src + i, n - i), n - i);
}

// ---- matrix products ----

constexpr size_t kQ = 32;  // elements per Q4_0 / Q8_0 block

// Fused single-row dot of Q4_0 / Q8_0 blocks (kBlock: V::q4_0_block or V::q8_0_block).
template <class V, void (*kBlock)(const uint8_t*, typename V::F*), size_t kBlockBytes>
float dot_blocks(const uint8_t* row, const float* x, size_t n) {
  constexpr size_t kPer = kQ / V::kW;  // vectors per block
  typename V::F acc[2] = {V::zero(), V::zero()};
  for (size_t b = 0; b < n / kQ; ++b, row += kBlockBytes, x += kQ) {
    typename V::F v[kPer];
    kBlock(row, v);
    for (size_t j = 0; j < kPer; ++j)
      acc[j % 2] = V::fmadd(v[j], V::load(x + j * V::kW), acc[j % 2]);
  }
  return V::hsum(V::add(acc[0], acc[1]));
}

// Fused single-row dot of 16-bit floats (kLoad: V::load_f16 or V::load_bf16).
template <class V, typename V::F (*kLoad)(const uint16_t*, size_t)>
float dot_halves(const uint8_t* bytes, const float* x, size_t n) {
  const auto* row = reinterpret_cast<const uint16_t*>(bytes);
  constexpr size_t kW = V::kW;
  typename V::F acc[2] = {V::zero(), V::zero()};
  size_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    // One line per step, well ahead: the hardware prefetchers alone leave ~20 % unused (AVX-512).
    _mm_prefetch(reinterpret_cast<const char*>(row + i) + kStreamAhead, _MM_HINT_T0);
    acc[0] = V::fmadd(kLoad(row + i, kW), V::load(x + i), acc[0]);
    acc[1] = V::fmadd(kLoad(row + i + kW, kW), V::load(x + i + kW), acc[1]);
  }
  for (; i < n; i += kW) {
    const size_t k = (i / kW) & 1;
    acc[k] = V::fmadd(kLoad(row + i, n - i), V::load(x + i, n - i), acc[k]);
  }
  return V::hsum(V::add(acc[0], acc[1]));
}

// Buffered path: out[r] = dot(w[r], x) for R float rows at once, sharing the loads of x.
template <class V, int R>
void dot_rows(const float* const* w, const float* x, size_t n, float* out) {
  constexpr size_t kW = V::kW;
  typename V::F acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = V::zero();
  size_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    const typename V::F x0 = V::load(x + i), x1 = V::load(x + i + kW);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = V::fmadd(V::load(w[r] + i), x0, acc[r][0]);
      acc[r][1] = V::fmadd(V::load(w[r] + i + kW), x1, acc[r][1]);
    }
  }
  for (; i < n; i += kW) {
    const size_t k = (i / kW) & 1;
    const typename V::F xv = V::load(x + i, n - i);
    for (int r = 0; r < R; ++r) acc[r][k] = V::fmadd(V::load(w[r] + i, n - i), xv, acc[r][k]);
  }
  for (int r = 0; r < R; ++r) out[r] = V::hsum(V::add(acc[r][0], acc[r][1]));
}

// R rows x T tokens at once (the batch path, where V has the registers): each (row, token) pair
// keeps its own two accumulators and receives exactly the FMAs dot_rows<1> would give it, in the
// same order, so the results are bit-identical to the one-token path. Weights are loaded once
// for T tokens and activations once for R rows, which makes the loop FMA-bound instead of
// load-bound. V::in_register keeps a loaded vector in a register: left alone, GCC folds the load
// into every FMA that uses it (R or T loads instead of one), and the loads then bound the loop
// at about 40 % of the FMA peak.
template <class V, int R, int T>
void dot_tile(const float* const* w, const float* const* x, size_t n, float* const* out) {
  constexpr size_t kW = V::kW;
  typename V::F acc[R][T][2];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t][0] = acc[r][t][1] = V::zero();
  size_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    for (size_t k = 0; k < 2; ++k) {
      typename V::F xv[T];
      for (int t = 0; t < T; ++t) xv[t] = V::in_register(V::load(x[t] + i + k * kW));
      for (int r = 0; r < R; ++r) {
        const typename V::F wv = V::in_register(V::load(w[r] + i + k * kW));
        for (int t = 0; t < T; ++t) acc[r][t][k] = V::fmadd(wv, xv[t], acc[r][t][k]);
      }
    }
  }
  for (; i < n; i += kW) {
    const size_t k = (i / kW) & 1;
    for (int r = 0; r < R; ++r) {
      const typename V::F wv = V::load(w[r] + i, n - i);
      for (int t = 0; t < T; ++t)
        acc[r][t][k] = V::fmadd(wv, V::load(x[t] + i, n - i), acc[r][t][k]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[t][r] = V::hsum(V::add(acc[r][t][0], acc[r][t][1]));
}

template <class V, void (*kBlock)(const uint8_t*, typename V::F*), size_t kBlockBytes>
void dequant_blocks(const uint8_t* row, float* dst, size_t n) {
  constexpr size_t kPer = kQ / V::kW;
  for (size_t b = 0; b < n / kQ; ++b, row += kBlockBytes, dst += kQ) {
    typename V::F v[kPer];
    kBlock(row, v);
    for (size_t j = 0; j < kPer; ++j) V::store(dst + j * V::kW, v[j]);
  }
}

template <class V, typename V::F (*kLoad)(const uint16_t*, size_t)>
void dequant_halves(const uint8_t* bytes, float* dst, size_t n) {
  const auto* row = reinterpret_cast<const uint16_t*>(bytes);
  for (size_t i = 0; i < n; i += V::kW) V::store(dst + i, kLoad(row + i, n - i), n - i);
}

inline bool has_fused_dot(TensorType t) {
  return t == TensorType::Q4_0 || t == TensorType::Q8_0 || t == TensorType::F16 ||
         t == TensorType::BF16;
}

template <class V>
float fused_dot(TensorType t, const uint8_t* row, const float* x, size_t n) {
  switch (t) {
    case TensorType::Q4_0:
      return dot_blocks<V, V::q4_0_block, 18>(row, x, n);
    case TensorType::Q8_0:
      return dot_blocks<V, V::q8_0_block, 34>(row, x, n);
    case TensorType::F16:
      return dot_halves<V, V::load_f16>(row, x, n);
    default:
      return dot_halves<V, V::load_bf16>(row, x, n);  // BF16
  }
}

template <class V>
void dequant(TensorType t, const uint8_t* row, float* dst, size_t n) {
  switch (t) {
    case TensorType::Q4_0:
      return dequant_blocks<V, V::q4_0_block, 18>(row, dst, n);
    case TensorType::Q8_0:
      return dequant_blocks<V, V::q8_0_block, 34>(row, dst, n);
    case TensorType::F16:
      return dequant_halves<V, V::load_f16>(row, dst, n);
    case TensorType::BF16:
      return dequant_halves<V, V::load_bf16>(row, dst, n);
    default:
      return dequantize_row(t, row, dst, n);  // scalar reference, exact values
  }
}

template <class V>
float dot_f32(const float* a, const float* b, size_t n) {
  float out;
  dot_rows<V, 1>(&a, b, n, &out);
  return out;
}

// One tile of a matrix product (isa_entry.h: MatmulTile).
template <class V>
void matmul_tile(const MatmulTile& t) {
  if (t.n_tok == 1 && has_fused_dot(t.wtype)) {
    for (size_t r = 0; r < t.n_rows; ++r)
      t.y[r] = fused_dot<V>(t.wtype, t.w + r * t.row_stride, t.x, t.n_in);
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
      dequant<V>(t.wtype, src, dst, t.n_in);
      rows[r] = dst;
    }
  }
  // Tokens in blocks whose activations stay in L2 (~384 KiB); within a block, 4 rows at a time
  // (in L1 for rows up to ~2048 elements) meet every group of kT tokens.
  constexpr int kT = V::kTileTokens;
  const size_t token_block = clamp_size((384 << 10) / (t.n_in * sizeof(float)) / kT * kT, kT, 48);
  auto x_of = [&](size_t tok) { return t.x + tok * t.n_in; };
  auto y_of = [&](size_t tok) { return t.y + tok * t.y_stride; };
  for (size_t tb = 0; tb < t.n_tok; tb += token_block) {
    const size_t te = min_size(t.n_tok, tb + token_block);
    size_t r = 0;
    for (; r + 4 <= t.n_rows; r += 4) {
      size_t tok = tb;
      if constexpr (kT > 1) {
        for (; tok + kT <= te; tok += kT) {
          const float* x[kT];
          float* y[kT];
          for (int i = 0; i < kT; ++i) {
            x[i] = x_of(tok + i);
            y[i] = y_of(tok + i) + r;
          }
          dot_tile<V, 4, kT>(rows + r, x, t.n_in, y);
        }
      }
      for (; tok < te; ++tok) dot_rows<V, 4>(rows + r, x_of(tok), t.n_in, y_of(tok) + r);
    }
    for (; r < t.n_rows; ++r)
      for (size_t tok = tb; tok < te; ++tok)
        dot_rows<V, 1>(rows + r, x_of(tok), t.n_in, y_of(tok) + r);
  }
}

// ---- attention, a row at a time (attention.h) ----

// Elements at..at+kW-1 of a K or V row of element type E (`left` of them in the row; Q8_0 rows
// are whole blocks, so all kW are there).
template <class V, KvElement E>
typename V::F load_kv(const void* base, size_t at, size_t left) {
  if constexpr (E == KvElement::F16)
    return V::load_f16(static_cast<const uint16_t*>(base) + at, left);
  else if constexpr (E == KvElement::Q8_0)
    return V::q8_0_slice(static_cast<const BlockQ8_0*>(base), at);
  else
    return V::load(static_cast<const float*>(base) + at, left);
}

// out[j] = scale * q . k_{first+j}: one FMA chain per row.
template <class V, KvElement E>
void attention_scores(const float* q, const KvRows& rows, size_t first, size_t n, size_t hd,
                      float scale, float* out) {
  for (size_t j = 0; j < n; ++j) {
    const size_t row = row_offset(rows, first + j);
    typename V::F acc = V::zero();
    for (size_t d = 0; d < hd; d += V::kW)
      acc = V::fmadd(V::load(q + d, hd - d), load_kv<V, E>(rows.base, row + d, hd - d), acc);
    out[j] = V::hsum(acc) * scale;
  }
}

// out = sum_j p[j] v_{first+j}, the output head held in registers (8 vectors at a time) while
// the rows go by.
template <class V, KvElement E>
void attention_values(const float* p, const KvRows& rows, size_t first, size_t n, size_t hd,
                      float* out) {
  constexpr size_t kMaxChunks = 8, kW = V::kW;
  for (size_t d0 = 0; d0 < hd; d0 += kMaxChunks * kW) {
    const size_t chunks = min_size(kMaxChunks, (hd - d0 + kW - 1) / kW);
    typename V::F acc[kMaxChunks];
    for (size_t c = 0; c < chunks; ++c) acc[c] = V::zero();
    for (size_t j = 0; j < n; ++j) {
      const typename V::F pj = V::set1(p[j]);
      const size_t row = row_offset(rows, first + j) + d0;
      for (size_t c = 0; c < chunks; ++c)
        acc[c] = V::fmadd(pj, load_kv<V, E>(rows.base, row + c * kW, hd - d0 - c * kW), acc[c]);
    }
    for (size_t c = 0; c < chunks; ++c) V::store(out + d0 + c * kW, acc[c], hd - d0 - c * kW);
  }
}

}  // namespace
}  // namespace minillm::kernels::isa
