// AVX-512 VNNI integer matrix product (see qdot.h for the arithmetic it implements exactly).
//
// Layout: a panel of 32 weight rows is repacked into an L2-resident buffer where, for every group
// of 4 consecutive elements s (a "slot"), the 4 bytes u of 16 rows form one 64-byte vector (rows
// in lanes). VPDPBUSD of such a vector with the 4 matching activation bytes broadcast gives 16
// rows' partial sums at once, so no horizontal reductions are needed and one repacked panel is
// reused by every token (GEMM) or used once (GEMV). Per sub-block, the integer sums are scaled
// and accumulated in float lanes, the same operations in the same order as q::dot_ref.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/isa_entry.h"
#include "kernels/qdot.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kRows = 32;      // rows per panel: 2 vectors of 16
constexpr size_t kSlot = 2 * 64;  // bytes per slot in the panel buffer
constexpr int kTok = 4;           // tokens per micro-kernel call

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

q::ActRow act_row(const QMatmulJob& jb, size_t t, size_t n_sub) {
  return {jb.qa + t * jb.n_in, jb.init + t * n_sub, jb.da + t * n_sub,
          jb.asf != nullptr ? jb.asf + t * n_sub : nullptr};
}

// The repack reads 16 rows in parallel, more streams than the hardware prefetchers follow well.
// The 16 rows are one contiguous region, so while block b of this group is transposed, the b-th
// slice of the next group is prefetched (a single linear stream, one group ahead, into L2).
inline void prefetch_next(const uint8_t* row0, size_t stride, size_t b, size_t nb) {
  const size_t bytes = 16 * stride, lines = (bytes + 63) / 64;
  const size_t per = (lines + nb - 1) / nb;
  const uint8_t* next = row0 + bytes;
  for (size_t l = b * per; l < std::min(lines, (b + 1) * per); ++l)
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
// layout starting at row0. PackedCursor: one packed group, a single stream read kAhead bytes
// ahead (into the next group, which the same thread usually reads next).
struct FileCursor {
  const uint8_t* row0;
  size_t st, nb, bb;  // row stride, blocks per row, bytes per block
  FileRows at(size_t b) const {
    prefetch_next(row0, st, b, nb);
    return {row0 + b * bb, st};
  }
};

struct PackedCursor {
  static constexpr size_t kAhead = 2048;
  const uint8_t* group;
  size_t bb;  // bytes per block
  const PackedFormat& f;
  PackedBlock at(size_t b) const {
    const uint8_t* p = group + b * 16 * bb;
    for (size_t l = 0; l < 16 * bb; l += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p + kAhead + l), _MM_HINT_T0);
    return {p, f};
  }
};

struct Panel {
  std::vector<uint8_t> u;  // slots * kSlot bytes
  std::vector<float> dw, mw;
  std::vector<uint8_t> rows;  // generic path: 16 unpacked rows
  std::vector<float> rdw, rmw;
};

// Q4_0 / Q8_0 straight from the blocks into the panel layout (rows group g of the panel).
template <class Cursor>
void repack_q4_0(const Cursor& cur, size_t nb, Panel& p, size_t g) {
  const __m512i lowmask = _mm512_set1_epi8(0x0F);
  for (size_t b = 0; b < nb; ++b) {
    const auto src = cur.at(b);
    __m512i q[4];
    src.words(2, q);
    uint8_t* dst = p.u.data() + b * 8 * kSlot + g * 64;
    for (int k = 0; k < 4; ++k) {
      _mm512_storeu_si512(dst + k * kSlot, _mm512_and_si512(q[k], lowmask));
      _mm512_storeu_si512(dst + (4 + k) * kSlot,
                          _mm512_and_si512(_mm512_srli_epi16(q[k], 4), lowmask));
    }
    _mm512_storeu_ps(p.dw.data() + b * kRows + g * 16, src.half(0));
  }
}

template <class Cursor>
void repack_q8_0(const Cursor& cur, size_t nb, Panel& p, size_t g) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  for (size_t b = 0; b < nb; ++b) {
    const auto src = cur.at(b);
    uint8_t* dst = p.u.data() + b * 8 * kSlot + g * 64;
    for (int h = 0; h < 2; ++h) {
      __m512i q[4];
      src.words(2 + 16 * static_cast<size_t>(h), q);
      for (int k = 0; k < 4; ++k)
        _mm512_storeu_si512(dst + (4 * h + k) * kSlot, _mm512_xor_si512(q[k], bias));
    }
    _mm512_storeu_ps(p.dw.data() + b * kRows + g * 16, src.half(0));
  }
}

// GEMV (one token) for Q4_0/Q8_0: the slot vectors go straight into VPDPBUSD instead of
// through the panel buffer. Same per-lane operations as kernel<1, 32, false>, so same bits.
template <bool kQ8, class Cursor>
void gemv_group(const Cursor& cur, size_t nb, size_t nr, const q::ActRow& a, float* y) {
  const __m512i lowmask = _mm512_set1_epi8(0x0F);
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const auto src = cur.at(b);
    const int8_t* x = a.qa + 32 * b;
    __m512i s1 = _mm512_set1_epi32(a.init[b]), s2 = _mm512_setzero_si512();
    __m512i q[4];
    src.words(2, q);
    if constexpr (kQ8) {
      for (int k = 0; k < 4; ++k)
        s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(q[k], bias),
                                 _mm512_set1_epi32(load_i32(x + 4 * k)));
      src.words(18, q);
      for (int k = 0; k < 4; ++k)
        s2 = _mm512_dpbusd_epi32(s2, _mm512_xor_si512(q[k], bias),
                                 _mm512_set1_epi32(load_i32(x + 16 + 4 * k)));
    } else {
      for (int k = 0; k < 4; ++k) {
        s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(q[k], lowmask),
                                 _mm512_set1_epi32(load_i32(x + 4 * k)));
        s2 = _mm512_dpbusd_epi32(s2, _mm512_and_si512(_mm512_srli_epi16(q[k], 4), lowmask),
                                 _mm512_set1_epi32(load_i32(x + 16 + 4 * k)));
      }
    }
    const __m512 s = _mm512_mul_ps(src.half(0), _mm512_set1_ps(a.da[b]));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s1, s2)), s, acc);
  }
  _mm512_mask_storeu_ps(y, static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1), acc);
}

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

// Stores a decoded super-block (sub-blocks of L elements) into panel rows group g.
template <int L, int kSubs>
struct PanelSink {
  Panel& p;
  size_t sb, g;
  bool has_min;
  void slot(int j, int k, __m512i v) {
    const size_t s =
        sb * (kSubs * L / 4) + static_cast<size_t>(j) * (L / 4) + static_cast<size_t>(k);
    _mm512_storeu_si512(p.u.data() + s * kSlot + g * 64, v);
  }
  void done(int j, __m512 dw, __m512 mw) {
    _mm512_storeu_ps(p.dw.data() + (sb * kSubs + j) * kRows + g * 16, dw);
    if (has_min) _mm512_storeu_ps(p.mw.data() + (sb * kSubs + j) * kRows + g * 16, mw);
  }
};

// Multiplies a decoded super-block with one token as it is decoded (GEMV). s holds the integer
// sums of the sub-blocks not yet done; done(j) folds sub-block j into acc like kernel<> does.
template <int L, int kSubs, bool kMin>
struct DotSink {
  const q::ActRow& a;
  size_t sb;
  __m512& acc;
  __m512i s[kSubs];
  void slot(int j, int k, __m512i v) {
    const size_t js = sb * kSubs + static_cast<size_t>(j);
    const int8_t* x = a.qa + js * L + static_cast<size_t>(4 * k);
    const __m512i start = k == 0 ? _mm512_set1_epi32(a.init[js]) : s[j];
    s[j] = _mm512_dpbusd_epi32(start, v, _mm512_set1_epi32(load_i32(x)));
  }
  void done(int j, __m512 dw, __m512 mw) {
    const size_t js = sb * kSubs + static_cast<size_t>(j);
    const __m512 da = _mm512_set1_ps(a.da[js]);
    acc = _mm512_fmadd_ps(lanes_f(s[j]), _mm512_mul_ps(dw, da), acc);
    if constexpr (kMin)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(a.asf[js]), _mm512_mul_ps(mw, da), acc);
  }
};

// Elements per block.
size_t block_elems(TensorType t) {
  switch (t) {
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
      return 256;
    default:
      return 32;
  }
}

template <TensorType kT, int L, int kSubs, class Cursor>
void repack_decoded(const Cursor& cur, size_t nb, Panel& p, size_t g, bool has_min) {
  for (size_t b = 0; b < nb; ++b) {
    PanelSink<L, kSubs> sink{p, b, g, has_min};
    decode<kT>(cur.at(b), sink);
  }
}

template <TensorType kT, int L, int kSubs, bool kMin, class Cursor>
void gemv_decoded(const Cursor& cur, size_t nb, size_t nr, const q::ActRow& a, float* y) {
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    DotSink<L, kSubs, kMin> sink{a, b, acc, {}};
    decode<kT>(cur.at(b), sink);
  }
  _mm512_mask_storeu_ps(y, static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1), acc);
}

// 16 rows (nb blocks each) into panel rows group g.
template <class Cursor>
void repack_any(TensorType t, const Cursor& cur, size_t nb, Panel& p, size_t g) {
  using enum TensorType;
  switch (t) {
    case Q4_0:
      return repack_q4_0(cur, nb, p, g);
    case Q8_0:
      return repack_q8_0(cur, nb, p, g);
    case Q2_K:
      return repack_decoded<Q2_K, 16, 16>(cur, nb, p, g, true);
    case Q3_K:
      return repack_decoded<Q3_K, 16, 16>(cur, nb, p, g, false);
    case Q6_K:
      return repack_decoded<Q6_K, 16, 16>(cur, nb, p, g, false);
    case Q4_K:
      return repack_decoded<Q4_K, 32, 8>(cur, nb, p, g, true);
    case Q5_K:
      return repack_decoded<Q5_K, 32, 8>(cur, nb, p, g, true);
    case Q4_1:
      return repack_decoded<Q4_1, 32, 1>(cur, nb, p, g, true);
    case Q5_0:
      return repack_decoded<Q5_0, 32, 1>(cur, nb, p, g, false);
    default:
      return repack_decoded<Q5_1, 32, 1>(cur, nb, p, g, true);
  }
}

// 16 rows (nb blocks each) times one token; the first nr results stored.
template <class Cursor>
void gemv_any(TensorType t, const Cursor& cur, size_t nb, size_t nr, const q::ActRow& a, float* y) {
  using enum TensorType;
  switch (t) {
    case Q4_0:
      return gemv_group<false>(cur, nb, nr, a, y);
    case Q8_0:
      return gemv_group<true>(cur, nb, nr, a, y);
    case Q2_K:
      return gemv_decoded<Q2_K, 16, 16, true>(cur, nb, nr, a, y);
    case Q3_K:
      return gemv_decoded<Q3_K, 16, 16, false>(cur, nb, nr, a, y);
    case Q6_K:
      return gemv_decoded<Q6_K, 16, 16, false>(cur, nb, nr, a, y);
    case Q4_K:
      return gemv_decoded<Q4_K, 32, 8, true>(cur, nb, nr, a, y);
    case Q5_K:
      return gemv_decoded<Q5_K, 32, 8, true>(cur, nb, nr, a, y);
    case Q4_1:
      return gemv_decoded<Q4_1, 32, 1, true>(cur, nb, nr, a, y);
    case Q5_0:
      return gemv_decoded<Q5_0, 32, 1, false>(cur, nb, nr, a, y);
    default:
      return gemv_decoded<Q5_1, 32, 1, true>(cur, nb, nr, a, y);
  }
}

// Any type: reference decoding of each row, then a transpose into the panel layout.
void repack_generic(const QMatmulJob& jb, const uint8_t* row0, size_t nr, Panel& p, size_t g,
                    const q::Format& f) {
  const size_t n = jb.n_in, n_sub = n / static_cast<size_t>(f.sub_len);
  p.rows.resize(16 * n);
  p.rdw.resize(16 * n_sub);
  p.rmw.resize(16 * n_sub);
  for (size_t r = 0; r < 16; ++r) {
    if (r < nr) {
      q::unpack_row(jb.wtype, row0 + r * jb.row_stride, n, p.rows.data() + r * n,
                    p.rdw.data() + r * n_sub, f.has_min ? p.rmw.data() + r * n_sub : nullptr);
    } else {  // rows past the end: zero weights, never stored
      std::fill_n(p.rows.data() + r * n, n, uint8_t{0});
      std::fill_n(p.rdw.data() + r * n_sub, n_sub, 0.0f);
      std::fill_n(p.rmw.data() + r * n_sub, n_sub, 0.0f);
    }
  }
  const uint8_t* rows = p.rows.data();
  for (size_t s = 0; s < n / 4; s += 4) {
    __m512i q[4];
    gather16x16([&](int r) { return rows + static_cast<size_t>(r) * n + 4 * s; }, q);
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(p.u.data() + (s + k) * kSlot + g * 64, q[k]);
  }
  for (size_t j = 0; j < n_sub; ++j)
    for (size_t r = 0; r < 16; ++r) {
      p.dw[j * kRows + g * 16 + r] = p.rdw[r * n_sub + j];
      if (f.has_min) p.mw[j * kRows + g * 16 + r] = p.rmw[r * n_sub + j];
    }
}

// T tokens times one 32-row panel, all sub-blocks. y[t] points at the panel's first row.
template <int T, int L, bool kMin>
void kernel(const Panel& p, size_t n_sub, const q::ActRow* a, float* const* y, __mmask16 m0,
            __mmask16 m1) {
  __m512 acc[2][T];
  for (int t = 0; t < T; ++t) acc[0][t] = acc[1][t] = _mm512_setzero_ps();
  const uint8_t* wu = p.u.data();
  const float* dw = p.dw.data();
  const float* mw = p.mw.data();
  for (size_t j = 0; j < n_sub; ++j, wu += (L / 4) * kSlot, dw += kRows, mw += kRows) {
    __m512i s[2][T];
    for (int t = 0; t < T; ++t) s[0][t] = s[1][t] = _mm512_set1_epi32(a[t].init[j]);
#pragma GCC unroll 8
    for (int k = 0; k < L / 4; ++k) {
      const __m512i w0 = _mm512_loadu_si512(wu + k * kSlot);
      const __m512i w1 = _mm512_loadu_si512(wu + k * kSlot + 64);
      for (int t = 0; t < T; ++t) {
        const __m512i x = _mm512_set1_epi32(load_i32(a[t].qa + j * L + 4 * k));
        s[0][t] = _mm512_dpbusd_epi32(s[0][t], w0, x);
        s[1][t] = _mm512_dpbusd_epi32(s[1][t], w1, x);
      }
    }
    const __m512 d0 = _mm512_loadu_ps(dw), d1 = _mm512_loadu_ps(dw + 16);
    for (int t = 0; t < T; ++t) {
      const __m512 da = _mm512_set1_ps(a[t].da[j]);
      acc[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[0][t]), _mm512_mul_ps(d0, da), acc[0][t]);
      acc[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[1][t]), _mm512_mul_ps(d1, da), acc[1][t]);
    }
    if constexpr (kMin) {
      const __m512 n0 = _mm512_loadu_ps(mw), n1 = _mm512_loadu_ps(mw + 16);
      for (int t = 0; t < T; ++t) {
        const __m512 da = _mm512_set1_ps(a[t].da[j]);
        const __m512 as = _mm512_set1_ps(a[t].asf[j]);
        acc[0][t] = _mm512_fmadd_ps(as, _mm512_mul_ps(n0, da), acc[0][t]);
        acc[1][t] = _mm512_fmadd_ps(as, _mm512_mul_ps(n1, da), acc[1][t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    _mm512_mask_storeu_ps(y[t], m0, acc[0][t]);
    _mm512_mask_storeu_ps(y[t] + 16, m1, acc[1][t]);
  }
}

template <int L, bool kMin>
void run_tokens(const QMatmulJob& jb, const Panel& p, size_t row0, size_t nr) {
  const size_t n_sub = jb.n_in / L;
  const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(nr >= 32   ? 0xFFFF
                                              : nr <= 16 ? 0
                                                         : (1u << (nr - 16)) - 1);
  for (size_t t0 = 0; t0 < jb.n_tok; t0 += kTok) {
    const int nt = static_cast<int>(std::min<size_t>(kTok, jb.n_tok - t0));
    q::ActRow a[kTok];
    float* y[kTok];
    for (int t = 0; t < nt; ++t) {
      a[t] = act_row(jb, t0 + static_cast<size_t>(t), n_sub);
      y[t] = jb.y + (t0 + static_cast<size_t>(t)) * jb.n_out + row0;
    }
    switch (nt) {
      case 4:
        kernel<4, L, kMin>(p, n_sub, a, y, m0, m1);
        break;
      case 3:
        kernel<3, L, kMin>(p, n_sub, a, y, m0, m1);
        break;
      case 2:
        kernel<2, L, kMin>(p, n_sub, a, y, m0, m1);
        break;
      default:
        kernel<1, L, kMin>(p, n_sub, a, y, m0, m1);
    }
  }
}

}  // namespace

void quantize_act_avx512(const float* x, size_t n, int8_t* qa, float* da, int32_t* asum16) {
  const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (size_t b = 0; b < n / 32; ++b, x += 32, qa += 32) {
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const float amax =
        _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, absmask), _mm512_and_ps(x1, absmask)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    da[b] = d;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), lo), hi);
    const __m512i q1 =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x1, vid)), lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qa), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qa + 16), _mm512_cvtepi32_epi8(q1));
    asum16[2 * b] = _mm512_reduce_add_epi32(q0);
    asum16[2 * b + 1] = _mm512_reduce_add_epi32(q1);
  }
}

void qmatmul_rows_avx512(const QMatmulJob& jb, size_t row_begin, size_t row_end) {
  const q::Format f = q::format_of(jb.wtype);
  const size_t n_sub = jb.n_in / static_cast<size_t>(f.sub_len);
  const size_t nb = jb.n_in / block_elems(jb.wtype), bb = jb.row_stride / nb;
  // The 16 rows from `first` (a multiple of 16): a packed group or rows of the file layout.
  auto with_cursor = [&](size_t first, auto&& fn) {
    const uint8_t* at = jb.w + first * jb.row_stride;  // a packed group takes 16 rows' bytes
    if (jb.packed)
      fn(PackedCursor{at, bb, jb.pf});
    else
      fn(FileCursor{at, jb.row_stride, nb, bb});
  };
  if (jb.n_tok == 1) {
    const q::ActRow a = act_row(jb, 0, n_sub);
    size_t row0 = row_begin;
    // A packed group is always whole (zero rows pad the last one); a partial group of the file
    // layout goes through the panel path below.
    for (; row0 < row_end && (jb.packed || row0 + 16 <= row_end); row0 += 16) {
      const size_t nr = std::min<size_t>(16, row_end - row0);
      with_cursor(row0, [&](const auto& cur) { gemv_any(jb.wtype, cur, nb, nr, a, jb.y + row0); });
    }
    row_begin = row0;
  }
  thread_local Panel p;
  p.u.resize(jb.n_in / 4 * kSlot);
  p.dw.resize(n_sub * kRows);
  p.mw.resize(n_sub * kRows);
  for (size_t row0 = row_begin; row0 < row_end; row0 += kRows) {
    const size_t nr = std::min(kRows, row_end - row0);
    for (size_t g = 0; g < 2; ++g) {
      const size_t first = row0 + 16 * g;
      const size_t rows = first < row_end ? std::min<size_t>(16, row_end - first) : 0;
      if (rows == 16 || (jb.packed && rows > 0))
        with_cursor(first, [&](const auto& cur) { repack_any(jb.wtype, cur, nb, p, g); });
      else
        repack_generic(jb, jb.w + first * jb.row_stride, rows, p, g, f);
    }
    if (f.sub_len == 16)
      f.has_min ? run_tokens<16, true>(jb, p, row0, nr) : run_tokens<16, false>(jb, p, row0, nr);
    else
      f.has_min ? run_tokens<32, true>(jb, p, row0, nr) : run_tokens<32, false>(jb, p, row0, nr);
  }
}

}  // namespace minillm::kernels::isa
