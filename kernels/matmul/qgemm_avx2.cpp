// AVX2 integer matrix product (see qdot.h for the arithmetic and qgemm_avx512.cpp for the panel
// layout; here a panel is 16 rows, read as two 8-row vectors). qgemm_avxvnni.cpp compiles this file
// again with MINILLM_QGEMM_AVX_VNNI set, for CPUs with AVX-VNNI (dot4 below).
// VPMADDUBSW multiplies unsigned weight bytes by signed activation bytes and adds pairs with
// signed saturation, so the weight bytes must stay below 128 to be exact: true for every format
// except those stored as u = q + 128 (Q8_0, IQ4_NL, IQ4_XS: q::signed_bytes). They therefore use
// the sign trick |q| * (sign(q) * a) on the signed q, and their activations are derived with
// offset 0 (qmatmul.cpp passes o_eff = 0).
// Packed rows (packed_rows.h) are read directly: one token multiplies the slot vectors as they are
// read or decoded (gemv_packed, gemv_packed_decoded), a batch decodes each group into the panel
// (panel_from_packed); the decoders are those of block_decode.h, on 8 rows at a time.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/isa_entry.h"
#include "kernels/isa_local.h"
#include "kernels/matmul/block_decode.h"
#include "kernels/matmul/qpanel_local.h"
#include "kernels/quant/qdot.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kRows = 16;
constexpr size_t kSlot = 64;
constexpr int kTok = 2;

q::ActRow act_row(const QMatmulJob& jb, size_t t, size_t n_sub) {
  return {jb.qa + t * jb.n_in, jb.init + t * n_sub, jb.da + t * n_sub,
          jb.asf != nullptr ? jb.asf + t * n_sub : nullptr};
}

// Reference decoding of the 16 rows, then a 4x4-dword transpose per 4 rows into the layout.
void repack(const QMatmulJob& jb, const uint8_t* row0, size_t nr, Panel& p, const q::Format& f) {
  const size_t n = jb.n_in, n_sub = n / static_cast<size_t>(f.sub_len);
  for (size_t r = 0; r < 16; ++r) {
    if (r < nr) {
      q::unpack_row(jb.wtype, row0 + r * jb.row_stride, n, p.rows + r * n, p.rdw + r * n_sub,
                    f.has_min ? p.rmw + r * n_sub : nullptr);
    } else {
      std::memset(p.rows + r * n, 0, n);
      std::memset(p.rdw + r * n_sub, 0, n_sub * sizeof(float));  // 0.0f
      std::memset(p.rmw + r * n_sub, 0, n_sub * sizeof(float));
    }
  }
  for (size_t s = 0; s < n / 4; s += 4)
    for (size_t r4 = 0; r4 < 16; r4 += 4) {
      __m128i in[4];
      for (size_t i = 0; i < 4; ++i)
        in[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.rows + (r4 + i) * n + 4 * s));
      const __m128i t0 = _mm_unpacklo_epi32(in[0], in[1]), t1 = _mm_unpackhi_epi32(in[0], in[1]);
      const __m128i t2 = _mm_unpacklo_epi32(in[2], in[3]), t3 = _mm_unpackhi_epi32(in[2], in[3]);
      const __m128i out[4] = {_mm_unpacklo_epi64(t0, t2), _mm_unpackhi_epi64(t0, t2),
                              _mm_unpacklo_epi64(t1, t3), _mm_unpackhi_epi64(t1, t3)};
      for (size_t k = 0; k < 4; ++k)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p.u + (s + k) * kSlot + 4 * r4), out[k]);
    }
  for (size_t j = 0; j < n_sub; ++j)
    for (size_t r = 0; r < 16; ++r) {
      p.dw[j * kRows + r] = p.rdw[r * n_sub + j];
      if (f.has_min) p.mw[j * kRows + r] = p.rmw[r * n_sub + j];
    }
}

// 4x4 transpose of dwords: in[i] = 4 dwords of row i; out[k] = dword k of rows 0..3.
inline void transpose4(const __m128i in[4], __m128i out[4]) {
  const __m128i t0 = _mm_unpacklo_epi32(in[0], in[1]), t1 = _mm_unpackhi_epi32(in[0], in[1]);
  const __m128i t2 = _mm_unpacklo_epi32(in[2], in[3]), t3 = _mm_unpackhi_epi32(in[2], in[3]);
  out[0] = _mm_unpacklo_epi64(t0, t2);
  out[1] = _mm_unpackhi_epi64(t0, t2);
  out[2] = _mm_unpacklo_epi64(t1, t3);
  out[3] = _mm_unpackhi_epi64(t1, t3);
}

// Q4_0 / Q8_0 (all 16 rows present): straight from the blocks into the panel, 4 rows at a time.
// Same bytes and scales as the reference decoding (Q8_0 bytes are stored as q + 128).
template <bool kQ8>
void repack_direct(const QMatmulJob& jb, const uint8_t* row0, Panel& p) {
  const size_t st = jb.row_stride, nb = jb.n_in / 32, bb = kQ8 ? 34 : 18;
  const __m128i low = _mm_set1_epi8(0x0F), bias = _mm_set1_epi8(static_cast<char>(0x80));
  for (size_t b = 0; b < nb; ++b) {
    uint8_t* dst = p.u + b * 8 * kSlot;
    for (size_t r4 = 0; r4 < 16; r4 += 4) {
      const uint8_t* blk = row0 + r4 * st + b * bb;
      for (int h = 0; h < (kQ8 ? 2 : 1); ++h) {
        __m128i in[4], q[4];
        for (size_t i = 0; i < 4; ++i)
          in[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + i * st + 2 + 16 * h));
        transpose4(in, q);
        for (int k = 0; k < 4; ++k) {
          auto at = [&](int slot) {
            return reinterpret_cast<__m128i*>(dst + slot * kSlot + 4 * r4);
          };
          if constexpr (kQ8) {
            _mm_storeu_si128(at(4 * h + k), _mm_xor_si128(q[k], bias));
          } else {
            _mm_storeu_si128(at(k), _mm_and_si128(q[k], low));
            _mm_storeu_si128(at(4 + k), _mm_and_si128(_mm_srli_epi16(q[k], 4), low));
          }
        }
      }
      for (size_t i = 0; i < 4; ++i) {
        uint16_t h;
        std::memcpy(&h, blk + i * st, 2);
        p.dw[b * kRows + r4 + i] = _cvtsh_ss(h);
      }
    }
  }
}

// Sum of 4 u8*s8 products per dword lane, added to acc (exact: see the file comment). With
// AVX-VNNI one VPDPBUSD, which never saturates; the sums, and so the results, are the same.
template <bool kSigned>
inline __m256i dot4(__m256i acc, __m256i w, __m256i x, [[maybe_unused]] __m256i ones) {
  const __m256i u = kSigned ? _mm256_abs_epi8(w) : w;
  const __m256i s = kSigned ? _mm256_sign_epi8(x, w) : x;
#if MINILLM_QGEMM_AVX_VNNI
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones));
#endif
}

template <int T, int L, bool kMin, bool kSigned>
void kernel(const Panel& p, size_t n_sub, const q::ActRow* a, float* const* y, size_t nr) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[2][T];
  for (int t = 0; t < T; ++t) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
  const uint8_t* wu = p.u;
  const float* dw = p.dw;
  const float* mw = p.mw;
  for (size_t j = 0; j < n_sub; ++j, wu += (L / 4) * kSlot, dw += kRows, mw += kRows) {
    __m256i s[2][T];
    for (int t = 0; t < T; ++t) s[0][t] = s[1][t] = _mm256_set1_epi32(a[t].init[j]);
    for (int k = 0; k < L / 4; ++k) {
      __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wu + k * kSlot));
      __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wu + k * kSlot + 32));
      if constexpr (kSigned) {
        w0 = _mm256_xor_si256(w0, flip);
        w1 = _mm256_xor_si256(w1, flip);
      }
      for (int t = 0; t < T; ++t) {
        const __m256i x = _mm256_set1_epi32(load_i32(a[t].qa + j * L + 4 * k));
        s[0][t] = dot4<kSigned>(s[0][t], w0, x, ones);
        s[1][t] = dot4<kSigned>(s[1][t], w1, x, ones);
      }
    }
    const __m256 d0 = _mm256_loadu_ps(dw), d1 = _mm256_loadu_ps(dw + 8);
    for (int t = 0; t < T; ++t) {
      const __m256 da = _mm256_set1_ps(a[t].da[j]);
      acc[0][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[0][t]), _mm256_mul_ps(d0, da), acc[0][t]);
      acc[1][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[1][t]), _mm256_mul_ps(d1, da), acc[1][t]);
    }
    if constexpr (kMin) {
      const __m256 n0 = _mm256_loadu_ps(mw), n1 = _mm256_loadu_ps(mw + 8);
      for (int t = 0; t < T; ++t) {
        const __m256 da = _mm256_set1_ps(a[t].da[j]);
        const __m256 as = _mm256_set1_ps(a[t].asf[j]);
        acc[0][t] = _mm256_fmadd_ps(as, _mm256_mul_ps(n0, da), acc[0][t]);
        acc[1][t] = _mm256_fmadd_ps(as, _mm256_mul_ps(n1, da), acc[1][t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    alignas(32) float out[16];
    _mm256_store_ps(out, acc[0][t]);
    _mm256_store_ps(out + 8, acc[1][t]);
    std::memcpy(y[t], out, nr * sizeof(float));
  }
}

// One token with Q4_0 / Q8_0 weights packed (packed_rows.h): a word of the group is 16 rows'
// dwords, its two halves rows 0-7 and 8-15, so the slot vectors of the panel are plain loads
// (Q4_0 nibbles still split) multiplied as they are read, one sequential stream per group
// instead of 16 row streams and a panel. Per lane the operations of kernel<1, 32, false,
// kSigned> on the same values, so the same bits.
template <bool kQ8>
void gemv_packed(const QMatmulJob& jb, size_t row0, size_t nr) {
  const size_t nb = jb.n_in / 32, bb = kQ8 ? 34 : 18;
  const uint8_t* group = jb.w + row0 * jb.row_stride;  // groups take 16 rows' bytes each
  const q::ActRow a = act_row(jb, 0, nb);
  const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0x0F);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* p = group + b * 16 * bb;
    for (size_t l = 0; l < 16 * bb; l += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + kStreamAhead + l), _MM_HINT_T0);
    const int8_t* x = a.qa + 32 * b;
    __m256i s0 = _mm256_set1_epi32(a.init[b]), s1 = s0;
    auto word = [&](size_t k, int half) {
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 + 64 * k + 32 * half));
    };
    if constexpr (kQ8) {
      for (size_t k = 0; k < 8; ++k) {
        const __m256i xk = _mm256_set1_epi32(load_i32(x + 4 * k));
        s0 = dot4<true>(s0, word(k, 0), xk, ones);
        s1 = dot4<true>(s1, word(k, 1), xk, ones);
      }
    } else {
      for (size_t k = 0; k < 4; ++k) {
        const __m256i xl = _mm256_set1_epi32(load_i32(x + 4 * k));
        const __m256i xh = _mm256_set1_epi32(load_i32(x + 16 + 4 * k));
        const __m256i w0 = word(k, 0), w1 = word(k, 1);
        s0 = dot4<false>(s0, _mm256_and_si256(w0, low), xl, ones);
        s1 = dot4<false>(s1, _mm256_and_si256(w1, low), xl, ones);
        s0 = dot4<false>(s0, _mm256_and_si256(_mm256_srli_epi16(w0, 4), low), xh, ones);
        s1 = dot4<false>(s1, _mm256_and_si256(_mm256_srli_epi16(w1, 4), low), xh, ones);
      }
    }
    const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
    const __m256 da = _mm256_set1_ps(a.da[b]);
    acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_mul_ps(d0, da), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_mul_ps(d1, da), acc1);
  }
  alignas(32) float out[16];
  _mm256_store_ps(out, acc0);
  _mm256_store_ps(out + 8, acc1);
  std::memcpy(jb.y + row0, out, nr * sizeof(float));
}

// The 8-lane vector of the shared block decoders (block_decode.h): rows 0-7 or 8-15 of a packed
// group, one half of each 64-byte word.
struct V256 {
  using I = __m256i;
  using F = __m256;
  static I and_(I a, I b) { return _mm256_and_si256(a, b); }
  static I or_(I a, I b) { return _mm256_or_si256(a, b); }
  static I sub32(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I srl16(I v, int n) { return _mm256_srli_epi16(v, n); }
  static I sll16(I v, int n) { return _mm256_slli_epi16(v, n); }
  static I srl32(I v, int n) { return _mm256_srli_epi32(v, n); }
  static I sll32(I v, int n) { return _mm256_slli_epi32(v, n); }
  static I sra32(I v, int n) { return _mm256_srai_epi32(v, n); }
  static I set8(char c) { return _mm256_set1_epi8(c); }
  static I set32(int v) { return _mm256_set1_epi32(v); }
  static F to_f(I v) { return _mm256_cvtepi32_ps(v); }
  static F half_lo(I v) {  // low 16 bits of the 8 lanes, packed in order, then widened
    const __m256i lo = _mm256_and_si256(v, _mm256_set1_epi32(0xFFFF));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, lo), 0x08);
    return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
  }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F zero_f() { return _mm256_setzero_ps(); }
  static F set1f(float v) { return _mm256_set1_ps(v); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static I dot4(I acc, I u, I s) { return isa::dot4<false>(acc, u, s, _mm256_set1_epi16(1)); }
  static I dot4_signed(I acc, I u, I s) {  // bytes u = q + 128: the products of q
    const I q = _mm256_xor_si256(u, _mm256_set1_epi8(static_cast<char>(0x80)));
    return isa::dot4<true>(acc, q, s, _mm256_set1_epi16(1));
  }
  static I shuffle8(I v, I idx) { return _mm256_shuffle_epi8(v, idx); }  // in 128-bit lanes
  static I set4x32(int a, int b, int c, int d) { return _mm256_setr_epi32(a, b, c, d, a, b, c, d); }
  static I where_any(I v, I sel, I val) {  // val in the bytes where v & sel != 0, else 0
    const I none = _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), _mm256_setzero_si256());
    return _mm256_andnot_si256(none, val);
  }
};

// Rows 8h .. 8h + 7 of a packed block column (packed_rows.h): the h-th 32-byte half of each word.
struct PackedHalf {
  static constexpr bool kCheapReload = true;
  static constexpr bool kPacked = true;  // read through InReadOrder (block_decode.h)
  const uint8_t* p;                      // the packed block column: 16 * block_bytes bytes
  const PackedFormat& f;
  size_t h;
  const uint8_t* w0 = p + f.head_bytes + 32 * h;  // half h of packed word 0
  // Packed word w; the field kept apart; a half in packed word w (its high 16 bits or low).
  __m256i word_at(size_t w) const {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w0 + 64 * w));
  }
  __m256 kept_half() const {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * h)));
  }
  __m256 half_in(size_t w, bool high) const {
    __m256i v = word_at(w);
    if (high) v = _mm256_srli_epi32(v, 16);
    return V256::half_lo(v);
  }
  // In file order (the types packed_order.h leaves so).
  void words(size_t off, __m256i out[4]) const {
    for (size_t k = 0; k < 4; ++k) out[k] = word_at((off - f.word_base) / 4 + k);
  }
  __m256i word(size_t off) const { return word_at((off - f.word_base) / 4); }
  __m256 half(size_t off) const {
    if (static_cast<int32_t>(off) == f.half_at) return kept_half();
    return half_in((off - f.word_base) / 4, (off - f.word_base) % 4 != 0);
  }
};

// One token with packed weights of the other types: each block column decoded in registers, rows
// 0-7 and then 8-15, one sequential stream per group.
template <TensorType kT>
void gemv_packed_decoded(const QMatmulJob& jb, size_t row0, size_t nr) {
  constexpr BlockShape s = block_shape(kT);
  const size_t nb = jb.n_in / elems_per_block(kT), bb = jb.row_stride / nb;
  const uint8_t* group = jb.w + row0 * jb.row_stride;
  const q::ActRow a = act_row(jb, 0, jb.n_in / s.sub_len);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* p = group + b * 16 * bb;
    prefetch_column(prefetch_of(kT), p, 16 * bb);
    for (size_t h = 0; h < 2; ++h) {
      DotSink<V256, s.sub_len, s.n_subs, s.has_min, s.signed_bytes> sink{a, b, acc[h], {}};
      const PackedHalf src{p, jb.pf, h};
      decode<V256, kT>(src, sink);
    }
  }
  alignas(32) float out[16];
  _mm256_store_ps(out, acc[0]);
  _mm256_store_ps(out + 8, acc[1]);
  std::memcpy(jb.y + row0, out, nr * sizeof(float));
}

// Small batches (2..kSmallBatch tokens, e.g. one decoding step of several sequences) of Q4_0 /
// Q8_0 packed weights: gemv_packed for several tokens, each half block column read once for all
// of them instead of being written to and read back from the panel. Token t's lanes do
// gemv_packed's operations in the same order, so the same bits. The decoded types stay on the
// panel: re-decoding a column per 2 or 4 tokens (16 registers) cost as much as the panel saved
// (tinyllama Q4_K_M, 16 sequences: 77-86 t/s against 87).
constexpr size_t kSmallBatch = 16;  // most tokens on this path: beyond, the panel is cheaper

template <bool kQ8>
void gemv_packed_tokens(const QMatmulJob& jb, size_t row0, size_t nr, const q::ActRow* a) {
  const size_t nb = jb.n_in / 32, bb = kQ8 ? 34 : 18, n_tok = jb.n_tok;
  const uint8_t* group = jb.w + row0 * jb.row_stride;
  const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0x0F);
  __m256 acc[2][kSmallBatch];
  for (size_t t = 0; t < n_tok; ++t) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* p = group + b * 16 * bb;
    for (size_t l = 0; l < 16 * bb; l += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + kStreamAhead + l), _MM_HINT_T0);
    for (int h = 0; h < 2; ++h) {
      auto word = [&](size_t k) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 + 64 * k + 32 * h));
      };
      __m256i w[8];  // the slot vectors of elements 4k.. (Q4_0: w[k] and w[4 + k] = 16 + 4k..)
      for (size_t k = 0; k < (kQ8 ? 8 : 4); ++k) {
        if constexpr (kQ8) {
          w[k] = word(k);
        } else {
          const __m256i v = word(k);
          w[k] = _mm256_and_si256(v, low);
          w[4 + k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        }
      }
      const __m256 d =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * h)));
      for (size_t t = 0; t < n_tok; ++t) {  // gemv_packed's operations for token t
        const int8_t* x = a[t].qa + 32 * b;
        __m256i sum = _mm256_set1_epi32(a[t].init[b]);
        for (size_t k = 0; k < 8; ++k)
          sum = dot4<kQ8>(sum, w[k], _mm256_set1_epi32(load_i32(x + 4 * k)), ones);
        const __m256 da = _mm256_set1_ps(a[t].da[b]);
        acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, da), acc[h][t]);
      }
    }
  }
  for (size_t t = 0; t < n_tok; ++t) {
    alignas(32) float out[16];
    _mm256_store_ps(out, acc[0][t]);
    _mm256_store_ps(out + 8, acc[1][t]);
    std::memcpy(jb.y + t * jb.n_out + row0, out, nr * sizeof(float));
  }
}

// Stores decoded slot vectors of rows 8h .. 8h + 7 into the panel (the GEMM path of packed rows).
template <int L, int kSubs>
struct PanelSink {
  Panel& p;
  size_t sb, h;  // super-block (block column), half of the group
  bool has_min;
  void slot(int j, int k, __m256i v) {
    const size_t s = (sb * kSubs + static_cast<size_t>(j)) * (L / 4) + static_cast<size_t>(k);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.u + s * kSlot + 32 * h), v);
  }
  void done(int j, __m256 dw, __m256 mw) {
    const size_t at = (sb * kSubs + static_cast<size_t>(j)) * kRows + 8 * h;
    _mm256_storeu_ps(p.dw + at, dw);
    if (has_min) _mm256_storeu_ps(p.mw + at, mw);
  }
};

// A packed group into the panel: the same bytes and factors as repack() of the group's file rows
// (Q8_0 bytes stored as q + 128, as repack_direct does).
template <TensorType kT>
void panel_from_packed(const QMatmulJob& jb, size_t row0, Panel& p) {
  const size_t nb = jb.n_in / elems_per_block(kT), bb = jb.row_stride / nb;
  const uint8_t* group = jb.w + row0 * jb.row_stride;
  const __m256i low = _mm256_set1_epi8(0x0F), bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * 16 * bb;
    for (size_t h = 0; h < 2; ++h) {
      const PackedHalf src{blk, jb.pf, h};
      auto store = [&](size_t slot, __m256i v) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.u + (b * 8 + slot) * kSlot + 32 * h), v);
      };
      if constexpr (kT == TensorType::Q4_0 || kT == TensorType::Q8_0) {
        __m256i q[4];
        src.words(2, q);
        for (size_t k = 0; k < 4; ++k) {
          if constexpr (kT == TensorType::Q8_0) {
            store(k, _mm256_xor_si256(q[k], bias));
          } else {
            store(k, _mm256_and_si256(q[k], low));
            store(4 + k, _mm256_and_si256(_mm256_srli_epi16(q[k], 4), low));
          }
        }
        if constexpr (kT == TensorType::Q8_0) {
          src.words(18, q);
          for (size_t k = 0; k < 4; ++k) store(4 + k, _mm256_xor_si256(q[k], bias));
        }
        _mm256_storeu_ps(p.dw + b * kRows + 8 * h, src.half(0));
      } else {
        constexpr BlockShape s = block_shape(kT);
        PanelSink<s.sub_len, s.n_subs> sink{p, b, h, s.has_min};
        decode<V256, kT>(src, sink);
      }
    }
  }
}

void panel_from_packed(const QMatmulJob& jb, size_t row0, Panel& p) {
  if (jb.wtype == TensorType::Q4_0) return panel_from_packed<TensorType::Q4_0>(jb, row0, p);
  if (jb.wtype == TensorType::Q8_0) return panel_from_packed<TensorType::Q8_0>(jb, row0, p);
  with_decoded_type(jb.wtype, [&]<TensorType kT>() { panel_from_packed<kT>(jb, row0, p); });
}

template <int L, bool kMin, bool kSigned>
void run_tokens(const QMatmulJob& jb, const Panel& p, size_t row0, size_t nr) {
  const size_t n_sub = jb.n_in / L;
  for (size_t t0 = 0; t0 < jb.n_tok; t0 += kTok) {
    const int nt = static_cast<int>(min_size(kTok, jb.n_tok - t0));
    q::ActRow a[kTok];
    float* y[kTok];
    for (int t = 0; t < nt; ++t) {
      a[t] = act_row(jb, t0 + static_cast<size_t>(t), n_sub);
      y[t] = jb.y + (t0 + static_cast<size_t>(t)) * jb.n_out + row0;
    }
    if (nt == 2)
      kernel<2, L, kMin, kSigned>(p, n_sub, a, y, nr);
    else
      kernel<1, L, kMin, kSigned>(p, n_sub, a, y, nr);
  }
}

}  // namespace

#if !MINILLM_QGEMM_AVX_VNNI  // one copy of the activation quantizer is enough
void quantize_act_avx2(const float* x, size_t n, int8_t* qa, float* da, int32_t* asum16) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (size_t b = 0; b < n / 32; ++b, x += 32, qa += 32) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + 8 * i);
      m = _mm256_max_ps(m, _mm256_and_ps(v[i], absmask));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float d = _mm_cvtss_f32(m4) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    da[b] = d;
    __m256i q[4];
    for (int i = 0; i < 4; ++i)
      q[i] = _mm256_min_epi32(
          _mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v[i], _mm256_set1_ps(id))), lo), hi);
    const __m256i p16 =
        _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qa), _mm256_permutevar8x32_epi32(p16, order));
    for (int h = 0; h < 2; ++h) {
      const __m256i s = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      asum16[2 * b + h] = _mm_cvtsi128_si32(s4);
    }
  }
}

#endif

#if MINILLM_QGEMM_AVX_VNNI
void qmatmul_rows_avxvnni(const QMatmulJob& jb, size_t row_begin, size_t row_end) {
#else
void qmatmul_rows_avx2(const QMatmulJob& jb, size_t row_begin, size_t row_end) {
#endif
  const q::Format f = q::format_of(jb.wtype);
  const size_t n_sub = jb.n_in / static_cast<size_t>(f.sub_len);
  const bool sgn = q::signed_bytes(f);
  if (jb.packed && jb.n_tok == 1) {
    for (size_t row0 = row_begin; row0 < row_end; row0 += kRows) {
      const size_t nr = min_size(kRows, row_end - row0);
      if (jb.wtype == TensorType::Q4_0)
        gemv_packed<false>(jb, row0, nr);
      else if (jb.wtype == TensorType::Q8_0)
        gemv_packed<true>(jb, row0, nr);
      else
        with_decoded_type(jb.wtype,
                          [&]<TensorType kT>() { gemv_packed_decoded<kT>(jb, row0, nr); });
    }
    return;
  }
  const bool direct = jb.wtype == TensorType::Q4_0 || jb.wtype == TensorType::Q8_0;
  if (jb.packed && direct && jb.n_tok <= kSmallBatch) {
    q::ActRow a[kSmallBatch];
    for (size_t t = 0; t < jb.n_tok; ++t) a[t] = act_row(jb, t, n_sub);
    for (size_t row0 = row_begin; row0 < row_end; row0 += kRows) {
      const size_t nr = min_size(kRows, row_end - row0);
      if (jb.wtype == TensorType::Q4_0)
        gemv_packed_tokens<false>(jb, row0, nr, a);
      else
        gemv_packed_tokens<true>(jb, row0, nr, a);
    }
    return;
  }
  Panel p = thread_panel(jb.n_in, n_sub, kSlot, kRows);
  for (size_t row0 = row_begin; row0 < row_end; row0 += kRows) {
    const size_t nr = min_size(kRows, row_end - row0);
    const uint8_t* src = jb.w + row0 * jb.row_stride;
    if (jb.packed)
      panel_from_packed(jb, row0, p);
    else if (nr == 16 && jb.wtype == TensorType::Q4_0)
      repack_direct<false>(jb, src, p);
    else if (nr == 16 && jb.wtype == TensorType::Q8_0)
      repack_direct<true>(jb, src, p);
    else
      repack(jb, src, nr, p, f);
    if (f.sub_len == 16)
      f.has_min ? run_tokens<16, true, false>(jb, p, row0, nr)
                : run_tokens<16, false, false>(jb, p, row0, nr);
    else if (sgn)
      run_tokens<32, false, true>(jb, p, row0, nr);
    else
      f.has_min ? run_tokens<32, true, false>(jb, p, row0, nr)
                : run_tokens<32, false, false>(jb, p, row0, nr);
  }
}

}  // namespace minillm::kernels::isa
