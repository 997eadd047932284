// Reading 16 rows of quantized blocks as "rows in lanes" vectors for the AVX-512 integer kernels:
// where the bytes come from (rows of the file layout, or a packed group of packed_rows.h), and the
// 16-lane vector that the block decoders (block_decode.h) run on.
// Included only by qgemm_avx512.cpp, whose instruction-set flags it needs; everything here has
// internal linkage, so no wide-ISA copy can leak into other files (see isa_entry.h).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/isa_local.h"
#include "kernels/matmul/block_decode.h"
#include "kernels/matmul/packed_format.h"
#include "minillm/tensor_type.h"

namespace minillm::kernels::isa {
namespace {

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
  static constexpr bool kPacked = false;
  const uint8_t* blk;  // the block of row 0
  size_t st;           // bytes per row
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
  static constexpr bool kPacked = true;  // read through InReadOrder (block_decode.h)
  const uint8_t* p;                      // the packed block column: 16 * block_bytes bytes
  const PackedFormat& f;
  const uint8_t* w0 = p + f.head_bytes;  // packed word 0
  // Packed word w; the field kept apart; a half in packed word w (its high 16 bits or low).
  __m512i word_at(size_t w) const { return _mm512_loadu_si512(w0 + 64 * w); }
  __m512 kept_half() const {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  __m512 half_in(size_t w, bool high) const {
    __m512i v = word_at(w);
    if (high) v = _mm512_srli_epi32(v, 16);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
  }
  // In file order (the types packed_order.h leaves so).
  void words(size_t off, __m512i out[4]) const {
    for (size_t k = 0; k < 4; ++k) out[k] = word_at((off - f.word_base) / 4 + k);
  }
  __m512i word(size_t off) const { return word_at((off - f.word_base) / 4); }
  __m512 half(size_t off) const {
    if (static_cast<int32_t>(off) == f.half_at) return kept_half();
    return half_in((off - f.word_base) / 4, (off - f.word_base) % 4 != 0);
  }
};

// Block columns of 16 rows in turn, each with its prefetch. FileCursor: 16 rows of the file
// layout starting at row0. PackedCursor: one packed group, a single stream, prefetched as its
// type wants (block_decode.h: prefetch_of; kStreamAhead ahead runs into the next group or
// matrix, which the same thread usually reads next).
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
  Prefetch prefetch;
  PackedBlock at(size_t b) const {
    const uint8_t* p = group + b * 16 * bb;
    prefetch_column(prefetch, p, 16 * bb);
    return {p, f};
  }
};

// ---- Block decoders: 16 rows x one block decoded in registers, rows in lanes ----
// A decoder hands each slot vector (4 elements of 16 rows) and the sub-block factors to a sink
// (the protocol and the decoders are in block_decode.h). The GEMV sink accumulates
// at once, the panel sink stores into the GEMM panel.

// The 16-lane vector of the shared block decoders (block_decode.h).
struct V512 {
  using I = __m512i;
  using F = __m512;
  static I and_(I a, I b) { return _mm512_and_si512(a, b); }
  static I or_(I a, I b) { return _mm512_or_si512(a, b); }
  static I sub32(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I srl16(I v, int n) { return _mm512_srli_epi16(v, n); }
  static I sll16(I v, int n) { return _mm512_slli_epi16(v, n); }
  static I srl32(I v, int n) { return _mm512_srli_epi32(v, n); }
  static I sll32(I v, int n) { return _mm512_slli_epi32(v, n); }
  static I sra32(I v, int n) { return _mm512_srai_epi32(v, n); }
  static I set8(char c) { return _mm512_set1_epi8(c); }
  static I set32(int v) { return _mm512_set1_epi32(v); }
  static F to_f(I v) { return _mm512_cvtepi32_ps(v); }
  static F half_lo(I v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F zero_f() { return _mm512_setzero_ps(); }
  static F set1f(float v) { return _mm512_set1_ps(v); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static I dot4(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static I shuffle8(I v, I idx) { return _mm512_shuffle_epi8(v, idx); }  // in 128-bit lanes
  static I set4x32(int a, int b, int c, int d) { return _mm512_set4_epi32(d, c, b, a); }
  static I where_any(I v, I sel, I val) {  // val in the bytes where v & sel != 0, else 0
    return _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(v, sel), val);
  }
};

}  // namespace
}  // namespace minillm::kernels::isa
