// Reading 16 rows of quantized blocks as "rows in lanes" vectors for the AVX-512 integer kernels:
// where the bytes come from (rows of the file layout, or a packed group of packed_rows.h), and one
// decoder per block family that hands each slot vector (4 elements of 16 rows) to a sink.
// Included only by qgemm_avx512.cpp, whose instruction-set flags it needs; everything here has
// internal linkage, so no wide-ISA copy can leak into other files (see isa_entry.h).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/isa_local.h"
#include "kernels/packed_format.h"
#include "minillm/tensor_type.h"

namespace minillm::kernels::isa {
namespace {

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// 4x4 transpose of dwords inside each 128-bit lane: in[i] lane L holds 4 dwords of row 4L + i;
// out[k] lane L holds dword k of rows 4L .. 4L + 3, i.e. out[k] has rows in dword order.
inline void transpose4x4(const __m512i in[4], __m512i out[4]) {
  const __m512i t0 = _mm512_unpacklo_epi32(in[0], in[1]);
  const __m512i t1 = _mm512_unpackhi_epi32(in[0], in[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(in[2], in[3]);
  const __m512i t3 = _mm512_unpackhi_epi32(in[2], in[3]);
  out[0] = _mm512_unpacklo_epi64(t0, t2);
  out[1] = _mm512_unpackhi_epi64(t0, t2);
  out[2] = _mm512_unpacklo_epi64(t1, t3);
  out[3] = _mm512_unpackhi_epi64(t1, t3);
}

// Loads 16 bytes at p(r) for rows r = 0..15 and returns 4 vectors, vector k holding dword k of
// every row (row r in dword lane r).
template <class RowPtr>
inline void gather16x16(RowPtr p, __m512i out[4]) {
  __m512i in[4];
  for (int i = 0; i < 4; ++i) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p(i))));
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p(i + 4))), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p(i + 8))), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p(i + 12))), 3);
    in[i] = v;
  }
  transpose4x4(in, out);
}

// Scales of 16 rows: the fp16 at the start of each row's block, inserted into registers (16
// small stores followed by one wide load would defeat store forwarding and stall every block).
inline __m512 gather_half(const uint8_t* base, size_t stride) {
  auto half = [&](size_t r) {
    uint16_t h;
    std::memcpy(&h, base + r * stride, 2);
    return static_cast<int>(h);
  };
  __m128i lo = _mm_cvtsi32_si128(half(0)), hi = _mm_cvtsi32_si128(half(8));
  lo = _mm_insert_epi16(lo, half(1), 1);
  hi = _mm_insert_epi16(hi, half(9), 1);
  lo = _mm_insert_epi16(lo, half(2), 2);
  hi = _mm_insert_epi16(hi, half(10), 2);
  lo = _mm_insert_epi16(lo, half(3), 3);
  hi = _mm_insert_epi16(hi, half(11), 3);
  lo = _mm_insert_epi16(lo, half(4), 4);
  hi = _mm_insert_epi16(hi, half(12), 4);
  lo = _mm_insert_epi16(lo, half(5), 5);
  hi = _mm_insert_epi16(hi, half(13), 5);
  lo = _mm_insert_epi16(lo, half(6), 6);
  hi = _mm_insert_epi16(hi, half(14), 6);
  lo = _mm_insert_epi16(lo, half(7), 7);
  hi = _mm_insert_epi16(hi, half(15), 7);
  return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

// The repack reads 16 rows in parallel, more streams than the hardware prefetchers follow well.
// The 16 rows are one contiguous region, so while block b of this group is transposed, the b-th
// slice of the next group is prefetched (a single linear stream, one group ahead, into L2).
inline void prefetch_next(const uint8_t* row0, size_t stride, size_t b, size_t nb) {
  const size_t bytes = 16 * stride, lines = (bytes + 63) / 64;
  const size_t per = (lines + nb - 1) / nb;
  const uint8_t* next = row0 + bytes;
  for (size_t l = b * per; l < min_size(lines, (b + 1) * per); ++l)
    _mm_prefetch(reinterpret_cast<const char*>(next + 64 * l), _MM_HINT_T1);
}

// Where a decoder reads one block column of 16 rows. Offsets are byte offsets in the block.
//   words(off, out)  bytes off..off+15 of every row: out[k] holds dword k, row r in lane r
//   word(off)        the dword at off of every row
//   half(off)        the fp16 at off of every row, as floats
// FileRows reads the file layout (rows `st` bytes apart); PackedBlock a packed group
// (packed_rows.h), where all three are plain loads.
struct FileRows {
  static constexpr bool kCheapReload = false;  // every words() is a gather and transpose
  const uint8_t* blk;                          // the block of row 0
  size_t st;                                   // bytes per row
  void words(size_t off, __m512i out[4]) const {
    gather16x16([&](int r) { return blk + static_cast<size_t>(r) * st + off; }, out);
  }
  __m512i word(size_t off) const {
    const __m512i rows =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(static_cast<int>(st)));
    return _mm512_i32gather_epi32(rows, blk + off, 1);
  }
  __m512 half(size_t off) const { return gather_half(blk + off, st); }
};

struct PackedBlock {
  static constexpr bool kCheapReload = true;
  const uint8_t* p;  // the packed block column: 16 * block_bytes bytes
  const PackedFormat& f;
  const uint8_t* at(size_t off) const { return p + f.head_bytes + 64 * ((off - f.word_base) / 4); }
  void words(size_t off, __m512i out[4]) const {
    for (int k = 0; k < 4; ++k) out[k] = _mm512_loadu_si512(at(off) + 64 * k);
  }
  __m512i word(size_t off) const { return _mm512_loadu_si512(at(off)); }
  __m512 half(size_t off) const {
    if (static_cast<int32_t>(off) == f.half_at)
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    __m512i w = word(off);  // a half inside a word: its low or high 16 bits
    if ((off - f.word_base) % 4 != 0) w = _mm512_srli_epi32(w, 16);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(w));
  }
};

// Block columns of 16 rows in turn, each with its prefetch. FileCursor: 16 rows of the file
// layout starting at row0. PackedCursor: one packed group, a single stream read kStreamAhead bytes
// ahead (into the next group or matrix, which the same thread usually reads next).
struct FileCursor {
  const uint8_t* row0;
  size_t st, nb, bb;  // row stride, blocks per row, bytes per block
  FileRows at(size_t b) const {
    prefetch_next(row0, st, b, nb);
    return {row0 + b * bb, st};
  }
};

struct PackedCursor {
  const uint8_t* group;
  size_t bb;  // bytes per block
  const PackedFormat& f;
  PackedBlock at(size_t b) const {
    const uint8_t* p = group + b * 16 * bb;
    for (size_t l = 0; l < 16 * bb; l += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + kStreamAhead + l), _MM_HINT_T0);
    return {p, f};
  }
};

// ---- K-quants: 16 rows x one super-block decoded in registers, rows in lanes ----
// A decoder hands each slot vector (4 elements of 16 rows) and the sub-block factors to a Sink:
//   sink.slot(j, k, v)        slot k (4 elements) of sub-block j; k = 0 comes first
//   sink.done(j, dw, mw)      sub-block j has all its slots; its factors (mw only for formats
//                             with a min); called in order of j
// The GEMV sink accumulates at once, the panel sink stores into the GEMM panel. Where reloading
// is cheap (packed rows: plain loads), decoders finish one sub-block before starting the next,
// so a GEMV keeps one integer sum and one pair of factors live instead of a whole super-block's.

inline __m512 lanes_f(__m512i v) {
  return _mm512_cvtepi32_ps(v);
}

// Bit `bit` of every byte moved to bit `to` (other bits cleared).
inline __m512i bit_to(__m512i v, int bit, int to) {
  const __m512i m = _mm512_set1_epi8(static_cast<char>(1 << to));
  if (bit < to) return _mm512_and_si512(_mm512_slli_epi16(v, to - bit), m);
  if (bit > to) return _mm512_and_si512(_mm512_srli_epi16(v, bit - to), m);
  return _mm512_and_si512(v, m);
}

// Bits 2s..2s+1 of every byte (s = 0..3), in bits 0..1.
inline __m512i pair_at(__m512i v, int s) {
  return _mm512_and_si512(_mm512_srli_epi16(v, 2 * s), _mm512_set1_epi8(3));
}

// Q4_K/Q5_K: bytes 0..15 of the block are d, dmin and the 12 scale bytes: one 16x16 transpose.
// Q5_K then has qh[32] (5th bit of element 64c + 32i + l: bit 2c + i of qh[l]) before qs.
template <bool kQ5, class Src, class Sink>
void decode_q45_k(const Src& src, Sink& sink) {
  __m512i h[4];
  src.words(0, h);
  const __m512i m8 = _mm512_set1_epi32(0xFF), m4 = _mm512_set1_epi32(0x0F);
  const __m512 d =
      _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_and_si512(h[0], _mm512_set1_epi32(0xFFFF))));
  const __m512 dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h[0], 16)));
  auto done = [&](int j) {
    __m512i sc, mn;
    if (j < 4) {  // low 6 bits of scale bytes j and j + 4
      sc = _mm512_and_si512(_mm512_srli_epi32(h[1], 8 * j), _mm512_set1_epi32(63));
      mn = _mm512_and_si512(_mm512_srli_epi32(h[2], 8 * j), _mm512_set1_epi32(63));
    } else {  // nibbles of byte j + 4, top 2 bits of bytes j - 4 (scale) and j (min)
      const int b = 8 * (j - 4);
      const __m512i lo = _mm512_and_si512(_mm512_srli_epi32(h[3], b), m8);
      sc = _mm512_or_si512(
          _mm512_and_si512(lo, m4),
          _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h[1], b + 6), _mm512_set1_epi32(3)),
                            4));
      mn = _mm512_or_si512(
          _mm512_srli_epi32(lo, 4),
          _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h[2], b + 6), _mm512_set1_epi32(3)),
                            4));
    }
    sink.done(j, _mm512_mul_ps(d, lanes_f(sc)),
              _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(dmin, lanes_f(mn))));
  };
  const __m512i low = _mm512_set1_epi8(0x0F);
  constexpr size_t qs_at = kQ5 ? 48 : 16;
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    // Sub-block 2c: low nibbles of qs[32c..32c+31]; 2c + 1: the high nibbles.
#pragma GCC unroll 2
    for (int sub = 0; sub < 2; ++sub) {
      if (!Src::kCheapReload && sub == 1) break;  // file rows: both sub-blocks in one pass
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        __m512i q[4], qh[4];
        src.words(qs_at + 32 * static_cast<size_t>(c) + 16 * static_cast<size_t>(half), q);
        if constexpr (kQ5) src.words(16 + 16 * static_cast<size_t>(half), qh);
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          for (int s = Src::kCheapReload ? sub : 0; s <= (Src::kCheapReload ? sub : 1); ++s) {
            __m512i u = _mm512_and_si512(s == 0 ? q[k] : _mm512_srli_epi16(q[k], 4), low);
            if constexpr (kQ5) u = _mm512_or_si512(u, bit_to(qh[k], 2 * c + s, 4));
            sink.slot(2 * c + s, 4 * half + k, u);
          }
        }
      }
      if (Src::kCheapReload) done(2 * c + sub);
    }
    if (!Src::kCheapReload) {
      done(2 * c);
      done(2 * c + 1);
    }
  }
}

// Q6_K: ql[128] qh[64] scales[16] d. Element 128h + 32k + l: low nibble of ql[64h + l + 32(k&1)]
// (high nibble for k >= 2), bits 2k..2k+1 of qh[32h + l]; sub-block (128h + 32k + l) / 16, i.e.
// 8h + 2k + quad for l = 16 quad + 4i + (0..3), slot i.
template <class Src, class Sink>
void decode_q6_k(const Src& src, Sink& sink) {
  __m512i sv[4];
  src.words(192, sv);
  const __m512 d = src.half(208);
  auto done = [&](int j) {  // scale: signed byte j % 4 of dword j / 4
    const __m512 dw = _mm512_mul_ps(
        d, lanes_f(_mm512_srai_epi32(_mm512_slli_epi32(sv[j / 4], 24 - 8 * (j % 4)), 24)));
    sink.done(j, dw, dw);
  };
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  // Element value of slot i: low bits from ql vector l, high bits from qh vector, for a given k.
  auto value = [&](__m512i l, __m512i qh, int k) {
    const __m512i lo = _mm512_and_si512(k >= 2 ? _mm512_srli_epi16(l, 4) : l, m4);
    const int up = 4 - 2 * k;  // qh bits 2k..2k+1 to bits 4..5
    const __m512i hi = up > 0   ? _mm512_slli_epi16(qh, up)
                       : up < 0 ? _mm512_srli_epi16(qh, -up)
                                : qh;
    return _mm512_or_si512(lo, _mm512_and_si512(hi, m30));
  };
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    if constexpr (Src::kCheapReload) {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k)
#pragma GCC unroll 2
        for (int quad = 0; quad < 2; ++quad) {
          __m512i l[4], qh[4];
          src.words(64 * static_cast<size_t>(h) + 32 * static_cast<size_t>(k & 1) +
                        16 * static_cast<size_t>(quad),
                    l);
          src.words(128 + 32 * static_cast<size_t>(h) + 16 * static_cast<size_t>(quad), qh);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) sink.slot(8 * h + 2 * k + quad, i, value(l[i], qh[i], k));
          done(8 * h + 2 * k + quad);
        }
    } else {
      for (int quad = 0; quad < 2; ++quad) {
        __m512i l0[4], l1[4], qh[4];
        const size_t hq = 64 * static_cast<size_t>(h) + 16 * static_cast<size_t>(quad);
        src.words(hq, l0);
        src.words(hq + 32, l1);
        src.words(128 + 32 * static_cast<size_t>(h) + 16 * static_cast<size_t>(quad), qh);
        for (int i = 0; i < 4; ++i)
          for (int k = 0; k < 4; ++k)
            sink.slot(8 * h + 2 * k + quad, i, value(k & 1 ? l1[i] : l0[i], qh[i], k));
      }
      for (int j = 8 * h; j < 8 * h + 8; ++j) done(j);
    }
  }
}

// Q2_K/Q3_K low bits: element 128h + 32s + l is bit pair s of qs[32h + l]; sub-block 8h + 2s +
// l/16. Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Q3_K: hmask[32] (3rd
// bit: bit 4h + s of hmask[l]), qs[64], 12 bytes of 6-bit scales, d.
template <bool kQ3, class Src, class Sink>
void decode_q23_k(const Src& src, Sink& sink) {
  __m512i v[4];  // Q3_K: bytes 92..107 = qs[60..63], scales[0..11]; Q2_K: bytes 0..15 = scales
  src.words(kQ3 ? 92 : 0, v);
  const __m512 d = src.half(kQ3 ? 108 : 80);
  const __m512 dmin = kQ3 ? d : src.half(82);
  auto done = [&](int j) {
    if constexpr (kQ3) {
      auto byte = [&](int b) {  // scale byte b in v[1 + b / 4]
        return _mm512_and_si512(_mm512_srli_epi32(v[1 + b / 4], 8 * (b % 4)),
                                _mm512_set1_epi32(0xFF));
      };
      const __m512i lo4 = j < 8 ? _mm512_and_si512(byte(j), _mm512_set1_epi32(0x0F))
                                : _mm512_srli_epi32(byte(j - 8), 4);
      const __m512i hi2 =
          _mm512_and_si512(_mm512_srli_epi32(byte(8 + j % 4), 2 * (j / 4)), _mm512_set1_epi32(3));
      const __m512i sc =
          _mm512_sub_epi32(_mm512_or_si512(lo4, _mm512_slli_epi32(hi2, 4)), _mm512_set1_epi32(32));
      const __m512 dw = _mm512_mul_ps(d, lanes_f(sc));
      sink.done(j, dw, dw);
    } else {
      const __m512i b =
          _mm512_and_si512(_mm512_srli_epi32(v[j / 4], 8 * (j % 4)), _mm512_set1_epi32(0xFF));
      sink.done(j, _mm512_mul_ps(d, lanes_f(_mm512_and_si512(b, _mm512_set1_epi32(0x0F)))),
                _mm512_sub_ps(_mm512_setzero_ps(),
                              _mm512_mul_ps(dmin, lanes_f(_mm512_srli_epi32(b, 4)))));
    }
  };
  const size_t qs_at = kQ3 ? 32 : 16;
  auto value = [&](__m512i q, __m512i hm, int h, int s) {
    __m512i u = pair_at(q, s);
    if constexpr (kQ3) u = _mm512_or_si512(u, bit_to(hm, 4 * h + s, 2));
    return u;
  };
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    if constexpr (Src::kCheapReload) {
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s)
#pragma GCC unroll 2
        for (int p = 0; p < 2; ++p) {
          __m512i q[4], hm[4];
          src.words(qs_at + 32 * static_cast<size_t>(h) + 16 * static_cast<size_t>(p), q);
          if constexpr (kQ3) src.words(16 * static_cast<size_t>(p), hm);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) sink.slot(8 * h + 2 * s + p, i, value(q[i], hm[i], h, s));
          done(8 * h + 2 * s + p);
        }
    } else {
      for (int p = 0; p < 2; ++p) {
        __m512i q[4], hm[4];
        src.words(qs_at + 32 * static_cast<size_t>(h) + 16 * static_cast<size_t>(p), q);
        if constexpr (kQ3) src.words(16 * static_cast<size_t>(p), hm);
        for (int i = 0; i < 4; ++i)
          for (int s = 0; s < 4; ++s) sink.slot(8 * h + 2 * s + p, i, value(q[i], hm[i], h, s));
      }
      for (int j = 8 * h; j < 8 * h + 8; ++j) done(j);
    }
  }
}

// Q4_1 (d, m, qs), Q5_0 (d, qh, qs), Q5_1 (d, m, qh, qs): one 32-element sub-block per block.
// Nibbles as Q4_0; 5th bit of element j is bit j of the little-endian qh.
template <TensorType kT, class Src, class Sink>
void decode_legacy(const Src& src, Sink& sink) {
  constexpr bool kMin = kT != TensorType::Q5_0, kQ5 = kT != TensorType::Q4_1;
  constexpr size_t qh_at = kMin ? 4 : 2, qs_at = (kMin ? 4 : 2) + (kQ5 ? 4 : 0);
  __m512i q[4];
  src.words(qs_at, q);
  __m512i qh = _mm512_setzero_si512();
  if constexpr (kQ5) qh = src.word(qh_at);
  const __m512i low = _mm512_set1_epi8(0x0F), five = _mm512_set1_epi8(0x10);
  for (int k = 0; k < 4; ++k) {
    __m512i lo = _mm512_and_si512(q[k], low);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q[k], 4), low);
    if constexpr (kQ5) {
      // Byte i of slot k (elements 4k + i and 16 + 4k + i): bits 4k + i and 16 + 4k + i of qh.
      const __m512i sel = _mm512_set1_epi32(static_cast<int>(0x08040201u << (4 * (k % 2))));
      // VPSHUFB indexes bytes within each 128-bit lane: dword d of the lane is at byte 4d.
      auto rep = [&](int byte) {
        const int b = 0x01010101 * byte;
        return _mm512_shuffle_epi8(
            qh, _mm512_set4_epi32(b + 0x0C0C0C0C, b + 0x08080808, b + 0x04040404, b));
      };
      const __m512i rep_lo = rep(k / 2), rep_hi = rep(2 + k / 2);
      lo = _mm512_or_si512(lo, _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(rep_lo, sel), five));
      hi = _mm512_or_si512(hi, _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(rep_hi, sel), five));
    }
    sink.slot(0, k, lo);
    sink.slot(0, 4 + k, hi);
  }
  const __m512 dw = src.half(0);
  sink.done(0, dw, kMin ? src.half(2) : dw);
}

// Decodes 16 rows x one block of type kT into sink.
template <TensorType kT, class Src, class Sink>
void decode(const Src& src, Sink& sink) {
  if constexpr (kT == TensorType::Q2_K || kT == TensorType::Q3_K)
    decode_q23_k<kT == TensorType::Q3_K>(src, sink);
  else if constexpr (kT == TensorType::Q4_K || kT == TensorType::Q5_K)
    decode_q45_k<kT == TensorType::Q5_K>(src, sink);
  else if constexpr (kT == TensorType::Q6_K)
    decode_q6_k(src, sink);
  else
    decode_legacy<kT>(src, sink);
}

}  // namespace
}  // namespace minillm::kernels::isa
