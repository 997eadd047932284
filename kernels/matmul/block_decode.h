// The block decoders of the integer kernels (every quantized type but Q4_0 and Q8_0, which the
// kernels read directly), written once for any vector width: each turns one block column of
// rows in lanes (4 bytes of every row in a 32-bit lane) into slot vectors (4 elements of every
// row) and sub-block factors, handed to a sink. The AVX-512 kernels run them on 16 rows at a time
// (qblocks_avx512.h), the AVX2 kernels on 8 (each half of a packed group, qgemm_avx2.cpp).
//
// V is the vector: V::I integer and V::F float vectors with one 32-bit lane per row, and the
// operations below as static functions (16- and 32-bit shifts by constants, bitwise and/or,
// broadcasts, int -> float, fp16 in the low 16 bits of each lane -> float, float mul/sub/fmadd, a
// byte shuffle within 128-bit lanes, where_any: a byte value where a byte test is nonzero, and
// dot4: the sums of 4 unsigned x signed byte products added to each 32-bit lane; on AVX2 also
// dot4_signed, the same for weight bytes u = q + 128 multiplied as the signed q).
// A source gives words(off, out[4]) (bytes off..off+15 of every row: out[k] holds dword k),
// word(off) (the dword at off of every row) and half(off) (the fp16 at off of every row as
// floats); kCheapReload says whether reading the same words twice is cheap (plain loads) or not
// (a gather and transpose).
// A sink takes:
//   sink.slot(j, k, v)        slot k (4 elements) of sub-block j; k = 0 comes first
//   sink.done(j, dw, mw)      sub-block j has all its slots; its factors (mw only for formats
//                             with a min); called in order of j
// Where reloading is cheap, decoders finish one sub-block before starting the next, so a GEMV
// keeps one integer sum and one pair of factors live instead of a whole super-block's.
//
// Included only by per-ISA files, with their instruction-set flags; everything here has internal
// linkage (see isa_entry.h).
#pragma once

#include <immintrin.h>
#include <cstddef>
#include <cstdint>

#include "kernels/blocks.h"
#include "kernels/isa_local.h"
#include "kernels/matmul/packed_order.h"
#include "kernels/quant/qdot.h"
#include "minillm/tensor_type.h"

namespace minillm::kernels::isa {
namespace {

// Bit `bit` of every byte moved to bit `to` (other bits cleared).
template <class V>
inline typename V::I bit_to(typename V::I v, int bit, int to) {
  const auto m = V::set8(static_cast<char>(1 << to));
  if (bit < to) return V::and_(V::sll16(v, to - bit), m);
  if (bit > to) return V::and_(V::srl16(v, bit - to), m);
  return V::and_(v, m);
}

// Bits 2s..2s+1 of every byte (s = 0..3), in bits 0..1.
template <class V>
inline typename V::I pair_at(typename V::I v, int s) {
  return V::and_(V::srl16(v, 2 * s), V::set8(3));
}

// Q4_K/Q5_K: bytes 0..15 of the block are d, dmin and the 12 scale bytes: one 16x16 transpose.
// Q5_K then has qh[32] (5th bit of element 64c + 32i + l: bit 2c + i of qh[l]) before qs.
template <class V, bool kQ5, class Src, class Sink>
void decode_q45_k(const Src& src, Sink& sink) {
  using I = typename V::I;
  I h[4];
  src.words(0, h);
  const I m8 = V::set32(0xFF), m4 = V::set32(0x0F), m6 = V::set32(63), m2 = V::set32(3);
  const auto d = V::half_lo(h[0]);
  const auto dmin = V::half_lo(V::srl32(h[0], 16));
  auto done = [&](int j) {
    I sc, mn;
    if (j < 4) {  // low 6 bits of scale bytes j and j + 4
      sc = V::and_(V::srl32(h[1], 8 * j), m6);
      mn = V::and_(V::srl32(h[2], 8 * j), m6);
    } else {  // nibbles of byte j + 4, top 2 bits of bytes j - 4 (scale) and j (min)
      const int b = 8 * (j - 4);
      const I lo = V::and_(V::srl32(h[3], b), m8);
      sc = V::or_(V::and_(lo, m4), V::sll32(V::and_(V::srl32(h[1], b + 6), m2), 4));
      mn = V::or_(V::srl32(lo, 4), V::sll32(V::and_(V::srl32(h[2], b + 6), m2), 4));
    }
    sink.done(j, V::mul(d, V::to_f(sc)), V::sub(V::zero_f(), V::mul(dmin, V::to_f(mn))));
  };
  const I low = V::set8(0x0F);
  constexpr size_t qs_at = kQ5 ? 48 : 16;
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    // Sub-block 2c: low nibbles of qs[32c..32c+31]; 2c + 1: the high nibbles.
#pragma GCC unroll 2
    for (int sub = 0; sub < 2; ++sub) {
      if (!Src::kCheapReload && sub == 1) break;  // file rows: both sub-blocks in one pass
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        I q[4], qh[4];
        src.words(qs_at + 32 * static_cast<size_t>(c) + 16 * static_cast<size_t>(half), q);
        if constexpr (kQ5) src.words(16 + 16 * static_cast<size_t>(half), qh);
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          for (int s = Src::kCheapReload ? sub : 0; s <= (Src::kCheapReload ? sub : 1); ++s) {
            I u = V::and_(s == 0 ? q[k] : V::srl16(q[k], 4), low);
            if constexpr (kQ5) u = V::or_(u, bit_to<V>(qh[k], 2 * c + s, 4));
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
template <class V, class Src, class Sink>
void decode_q6_k(const Src& src, Sink& sink) {
  using I = typename V::I;
  I sv[4];
  src.words(192, sv);
  const auto d = src.half(208);
  auto done = [&](int j) {  // scale: signed byte j % 4 of dword j / 4
    const auto dw = V::mul(d, V::to_f(V::sra32(V::sll32(sv[j / 4], 24 - 8 * (j % 4)), 24)));
    sink.done(j, dw, dw);
  };
  const I m4 = V::set8(0x0F), m30 = V::set8(0x30);
  // Element value of slot i: low bits from ql vector l, high bits from qh vector, for a given k.
  auto value = [&](I l, I qh, int k) {
    const I lo = V::and_(k >= 2 ? V::srl16(l, 4) : l, m4);
    const int up = 4 - 2 * k;  // qh bits 2k..2k+1 to bits 4..5
    const I hi = up > 0 ? V::sll16(qh, up) : up < 0 ? V::srl16(qh, -up) : qh;
    return V::or_(lo, V::and_(hi, m30));
  };
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    if constexpr (Src::kCheapReload) {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k)
#pragma GCC unroll 2
        for (int quad = 0; quad < 2; ++quad) {
          I l[4], qh[4];
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
        I l0[4], l1[4], qh[4];
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
template <class V, bool kQ3, class Src, class Sink>
void decode_q23_k(const Src& src, Sink& sink) {
  using I = typename V::I;
  I v[4];  // Q3_K: bytes 92..107 = qs[60..63], scales[0..11]; Q2_K: bytes 0..15 = scales
  src.words(kQ3 ? 92 : 0, v);
  const auto d = src.half(kQ3 ? 108 : 80);
  const auto dmin = kQ3 ? d : src.half(82);
  const I m8 = V::set32(0xFF), m4 = V::set32(0x0F);
  auto done = [&](int j) {
    if constexpr (kQ3) {
      auto byte = [&](int b) { return V::and_(V::srl32(v[1 + b / 4], 8 * (b % 4)), m8); };
      const I lo4 = j < 8 ? V::and_(byte(j), m4) : V::srl32(byte(j - 8), 4);
      const I hi2 = V::and_(V::srl32(byte(8 + j % 4), 2 * (j / 4)), V::set32(3));
      const I sc = V::sub32(V::or_(lo4, V::sll32(hi2, 4)), V::set32(32));
      const auto dw = V::mul(d, V::to_f(sc));
      sink.done(j, dw, dw);
    } else {
      const I b = V::and_(V::srl32(v[j / 4], 8 * (j % 4)), m8);
      sink.done(j, V::mul(d, V::to_f(V::and_(b, m4))),
                V::sub(V::zero_f(), V::mul(dmin, V::to_f(V::srl32(b, 4)))));
    }
  };
  const size_t qs_at = kQ3 ? 32 : 16;
  auto value = [&](I q, I hm, int h, int s) {
    I u = pair_at<V>(q, s);
    if constexpr (kQ3) u = V::or_(u, bit_to<V>(hm, 4 * h + s, 2));
    return u;
  };
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    if constexpr (Src::kCheapReload) {
#pragma GCC unroll 4
      for (int s = 0; s < 4; ++s)
#pragma GCC unroll 2
        for (int p = 0; p < 2; ++p) {
          I q[4], hm[4];
          src.words(qs_at + 32 * static_cast<size_t>(h) + 16 * static_cast<size_t>(p), q);
          if constexpr (kQ3) src.words(16 * static_cast<size_t>(p), hm);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) sink.slot(8 * h + 2 * s + p, i, value(q[i], hm[i], h, s));
          done(8 * h + 2 * s + p);
        }
    } else {
      for (int p = 0; p < 2; ++p) {
        I q[4], hm[4];
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
template <class V, TensorType kT, class Src, class Sink>
void decode_legacy(const Src& src, Sink& sink) {
  using I = typename V::I;
  constexpr bool kMin = kT != TensorType::Q5_0, kQ5 = kT != TensorType::Q4_1;
  constexpr size_t qh_at = kMin ? 4 : 2, qs_at = (kMin ? 4 : 2) + (kQ5 ? 4 : 0);
  I q[4];
  src.words(qs_at, q);
  I qh = V::set32(0);
  if constexpr (kQ5) qh = src.word(qh_at);
  const I low = V::set8(0x0F), five = V::set8(0x10);
  for (int k = 0; k < 4; ++k) {
    I lo = V::and_(q[k], low);
    I hi = V::and_(V::srl16(q[k], 4), low);
    if constexpr (kQ5) {
      // Byte i of slot k (elements 4k + i and 16 + 4k + i): bits 4k + i and 16 + 4k + i of qh.
      const I sel = V::set32(static_cast<int>(0x08040201u << (4 * (k % 2))));
      // The byte shuffle works within 128-bit lanes: dword d of a lane is at byte 4d.
      auto rep = [&](int byte) {
        const int b = 0x01010101 * byte;
        return V::shuffle8(qh, V::set4x32(b, b + 0x04040404, b + 0x08080808, b + 0x0C0C0C0C));
      };
      lo = V::or_(lo, V::where_any(rep(k / 2), sel, five));
      hi = V::or_(hi, V::where_any(rep(2 + k / 2), sel, five));
    }
    sink.slot(0, k, lo);
    sink.slot(0, 4 + k, hi);
  }
  const auto dw = src.half(0);
  sink.done(0, dw, kMin ? src.half(2) : dw);
}

// IQ4_NL (d, qs[16]) and IQ4_XS (d, scales_h, scales_l[4], qs[128]): 4-bit indices, nibbles as in
// Q4_0 per 32-element (sub-)block, looked up in the level table by a byte shuffle that gives
// u = L[q] + 128. IQ4_XS sub-block j: qs at bytes 8 + 16j; scale d * (ls_j - 32) with ls_j's low
// 4 bits at bits 4j.. of dword 1 (scales_l) and its high 2 bits at bits 16 + 2j.. of dword 0.
// The table as the 4 little-endian dwords of a 128-bit lane (compile-time constants, so the
// level table itself is never referenced from a per-ISA file).
constexpr int iq4_u_dword(int i) {
  uint32_t v = 0;
  for (int b = 0; b < 4; ++b)
    v |= uint32_t{static_cast<uint8_t>(kIQ4Levels[4 * i + b] + 128)} << (8 * b);
  return static_cast<int>(v);
}
constexpr int kIQ4U[4] = {iq4_u_dword(0), iq4_u_dword(1), iq4_u_dword(2), iq4_u_dword(3)};

template <class V, bool kXS, class Src, class Sink>
void decode_iq4(const Src& src, Sink& sink) {
  using I = typename V::I;
  const I table = V::set4x32(kIQ4U[0], kIQ4U[1], kIQ4U[2], kIQ4U[3]), low = V::set8(0x0F);
  auto values = [&](size_t at, int j) {  // the 16 index bytes at `at`: sub-block j
    I q[4];
    src.words(at, q);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      sink.slot(j, k, V::shuffle8(table, V::and_(q[k], low)));
      sink.slot(j, 4 + k, V::shuffle8(table, V::and_(V::srl16(q[k], 4), low)));
    }
  };
  if constexpr (!kXS) {
    values(2, 0);
    const auto d = src.half(0);
    sink.done(0, d, d);
  } else {
    const I h0 = src.word(0), h1 = src.word(4);
    const auto d = V::half_lo(h0);
    const I m4 = V::set32(0x0F), m2 = V::set32(3), bias = V::set32(32);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      values(8 + 16 * static_cast<size_t>(j), j);
      const I ls = V::or_(V::and_(V::srl32(h1, 4 * j), m4),
                          V::sll32(V::and_(V::srl32(h0, 16 + 2 * j), m2), 4));
      const auto dw = V::mul(d, V::to_f(V::sub32(ls, bias)));
      sink.done(j, dw, dw);
    }
  }
}

// Multiplies decoded slot vectors with one token as they come (GEMV). s holds the integer sums of
// the sub-blocks not yet done; done(j) folds sub-block j into acc with the operations of the panel
// kernels in the same order (those of q::dot_ref), so the GEMV gives the panel path's bits.
// kSigned: the slot bytes are u = q + 128 and the products are of q (V::dot4_signed), the offset
// not removed through init (q::signed_bytes; the AVX2 kernels).
template <class V, int L, int kSubs, bool kMin, bool kSigned = false>
struct DotSink {
  const q::ActRow& a;
  size_t sb;  // block column
  typename V::F& acc;
  typename V::I s[kSubs];
  void slot(int j, int k, typename V::I v) {
    const size_t js = sb * kSubs + static_cast<size_t>(j);
    const auto x = V::set32(load_i32(a.qa + js * L + static_cast<size_t>(4 * k)));
    const auto sum = k == 0 ? V::set32(a.init[js]) : s[j];
    if constexpr (kSigned)
      s[j] = V::dot4_signed(sum, v, x);
    else
      s[j] = V::dot4(sum, v, x);
  }
  void done(int j, typename V::F dw, typename V::F mw) {
    const size_t js = sb * kSubs + static_cast<size_t>(j);
    const auto da = V::set1f(a.da[js]);
    acc = V::fmadd(V::to_f(s[j]), V::mul(dw, da), acc);
    if constexpr (kMin) acc = V::fmadd(V::set1f(a.asf[js]), V::mul(mw, da), acc);
  }
};

// DotSink for T tokens at once (small batches): each slot vector, decoded once, goes into every
// token's sum. Token t's lane sees exactly DotSink's operations in DotSink's order (its own init,
// products, factors and fmadds), so each token gets the one-token GEMV's bits. acc[t] is token t's
// accumulator; the caller loads and stores it around a block column so that it stays in registers.
template <class V, int L, int kSubs, bool kMin, bool kSigned, int T>
struct TokensDotSink {
  const q::ActRow* a;  // T tokens
  size_t sb;           // block column
  typename V::F acc[T];
  typename V::I s[kSubs][T];
  void slot(int j, int k, typename V::I v) {
    const size_t js = sb * kSubs + static_cast<size_t>(j);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const auto x = V::set32(load_i32(a[t].qa + js * L + static_cast<size_t>(4 * k)));
      const auto sum = k == 0 ? V::set32(a[t].init[js]) : s[j][t];
      if constexpr (kSigned)
        s[j][t] = V::dot4_signed(sum, v, x);
      else
        s[j][t] = V::dot4(sum, v, x);
    }
  }
  void done(int j, typename V::F dw, typename V::F mw) {
    const size_t js = sb * kSubs + static_cast<size_t>(j);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const auto da = V::set1f(a[t].da[js]);
      acc[t] = V::fmadd(V::to_f(s[j][t]), V::mul(dw, da), acc[t]);
      if constexpr (kMin) acc[t] = V::fmadd(V::set1f(a[t].asf[js]), V::mul(mw, da), acc[t]);
    }
  }
};

// The shape of a decoded type's block: sub-blocks of sub_len elements, n_subs of them, whether
// the format has a min per sub-block and whether its bytes are signed ones + 128
// (q::format_of and q::signed_bytes say the same at run time).
struct BlockShape {
  int sub_len, n_subs;
  bool has_min;
  bool signed_bytes = false;
};

constexpr BlockShape block_shape(TensorType t) {
  using enum TensorType;
  switch (t) {
    case Q2_K:
      return {16, 16, true};
    case Q3_K:
    case Q6_K:
      return {16, 16, false};
    case Q4_K:
    case Q5_K:
      return {32, 8, true};
    case Q5_0:
      return {32, 1, false};
    case IQ4_NL:
      return {32, 1, false, true};
    case IQ4_XS:
      return {32, 8, false, true};
    default:  // Q4_1, Q5_1
      return {32, 1, true};
  }
}

// How a GEMV prefetches the packed block columns of type t by software:
// - kAhead: a burst for each block column kStreamAhead bytes ahead, for the kernels that read
//   Q4_0 and Q8_0 directly and the one-sub-block decoders (Q8_0 measured the same with and
//   without, 92-98 % of the roofline; the 32-element types lost 10-20 % without).
// - kNone: the IQ4 and Q4_K decoders read each column once, front to back, and the hardware
//   prefetchers keep up with that alone; the burst slowed them down (AVX-512, one thread,
//   5632x2048, cold, Zen 4): IQ4_XS 16-17 GB/s with it, 30-31 without; IQ4_NL 28-30 and 34-35;
//   tinyllama Q4_K_M decode 23.2-23.8 -> 33.3-34.6 t/s on one thread, 37.4-38.2 -> 43.7-45.5 on
//   two.
// - kColumn: the whole column just before it is decoded, for the other K-quants. Their decoders
//   come back to words they have read (the high bits serve several sub-blocks), and the AVX2
//   kernels read each column in two passes (rows 0-7, then 8-15). Q6_K, its words in read order
//   (packed_order.h), medians of 4 alternating runs (GB/s, one and two threads): AVX-512 kColumn
//   20.9-23.7 and 27.7-32.0, kNone 17.6-19.4 and 25.4-31.1, the burst ahead 13.8-15.9 and
//   23.7-27.3; AVX2 kColumn 20.9-22.5 and 31.9-35.7, kNone 15.2-15.6 and 25.5-28.1.
enum class Prefetch { kAhead, kNone, kColumn };
constexpr Prefetch prefetch_of(TensorType t) {
  using enum TensorType;
  if (t == IQ4_NL || t == IQ4_XS || t == Q4_K) return Prefetch::kNone;
  if (t == Q2_K || t == Q3_K || t == Q5_K || t == Q6_K) return Prefetch::kColumn;
  return Prefetch::kAhead;
}

// Prefetches, as `how` says, around the packed block column at p (`bytes` long).
inline void prefetch_column(Prefetch how, const uint8_t* p, size_t bytes) {
  if (how == Prefetch::kNone) return;
  // Each line of the stream once: the lines that start inside the column (the one it starts in
  // was the previous column's). Columns are not whole lines (Q4_0: 4.5), and prefetching every
  // 64 bytes from the column's start asked for a line twice per column or two. AVX-512, one
  // thread, 5632x2048 from memory, medians alternating with that (Zen 4): Q8_0 18.7 -> 25.8 GB/s,
  // Q6_K 14.8 -> 23.5, Q2_K 15.3 -> 20.2, Q5_0 24.5 -> 27.7, Q4_0 26.6 -> 28.8.
  const uintptr_t from =
      reinterpret_cast<uintptr_t>(how == Prefetch::kAhead ? p + kStreamAhead : p);
  for (uintptr_t l = (from + 63) & ~uintptr_t(63); l < from + bytes; l += 64)
    _mm_prefetch(reinterpret_cast<const char*>(l), _MM_HINT_T0);
}

// Elements per block of a type with a packed layout.
constexpr size_t elems_per_block(TensorType t) {
  if (t == TensorType::Q4_0 || t == TensorType::Q8_0) return 32;
  const BlockShape s = block_shape(t);
  return static_cast<size_t>(s.sub_len * s.n_subs);
}

// Calls f.template operator()<kT>() with kT = t, for a type the decoders handle: every type with a
// packed layout (packed_format.h) but Q4_0 and Q8_0, which the kernels read directly.
template <class F>
void with_decoded_type(TensorType t, F&& f) {
  using enum TensorType;
  switch (t) {
    case Q2_K:
      return f.template operator()<Q2_K>();
    case Q3_K:
      return f.template operator()<Q3_K>();
    case Q4_K:
      return f.template operator()<Q4_K>();
    case Q5_K:
      return f.template operator()<Q5_K>();
    case Q6_K:
      return f.template operator()<Q6_K>();
    case Q4_1:
      return f.template operator()<Q4_1>();
    case Q5_0:
      return f.template operator()<Q5_0>();
    case IQ4_NL:
      return f.template operator()<IQ4_NL>();
    case IQ4_XS:
      return f.template operator()<IQ4_XS>();
    default:  // Q5_1
      return f.template operator()<Q5_1>();
  }
}

// A packed source (Src::kPacked) of type kT seen in file offsets: word_at(w) gives packed word
// w, which is file word w unless packed_order.h stores the type's words in its decoder's read
// order. The offsets the decoders use are constants once their loops are unrolled, and so are
// the slots.
template <TensorType kT, class Src>
struct InReadOrder {
  static constexpr bool kCheapReload = Src::kCheapReload;
  static constexpr size_t kWords = packed_word_order(kT).n;
  const Src& src;
  static constexpr size_t slot(size_t word) { return kSlotOf<kT>.slot[word]; }
  template <class I>
  void words(size_t off, I out[4]) const {
    for (size_t k = 0; k < 4; ++k) out[k] = src.word_at(slot(off / 4 + k));
  }
  auto word(size_t off) const { return src.word_at(slot(off / 4)); }
  auto half(size_t off) const {  // past the words: the field kept apart
    return off / 4 >= kWords ? src.kept_half() : src.half_in(slot(off / 4), off % 4 != 0);
  }
};

template <class V, TensorType kT, class Src, class Sink>
void decode_from(const Src& src, Sink& sink);

// Decodes one block column of type kT into sink.
template <class V, TensorType kT, class Src, class Sink>
void decode(const Src& src, Sink& sink) {
  if constexpr (Src::kPacked && packed_word_order(kT).n != 0)
    decode_from<V, kT>(InReadOrder<kT, Src>{src}, sink);
  else
    decode_from<V, kT>(src, sink);
}

template <class V, TensorType kT, class Src, class Sink>
void decode_from(const Src& src, Sink& sink) {
  if constexpr (kT == TensorType::Q2_K || kT == TensorType::Q3_K)
    decode_q23_k<V, kT == TensorType::Q3_K>(src, sink);
  else if constexpr (kT == TensorType::Q4_K || kT == TensorType::Q5_K)
    decode_q45_k<V, kT == TensorType::Q5_K>(src, sink);
  else if constexpr (kT == TensorType::Q6_K)
    decode_q6_k<V>(src, sink);
  else if constexpr (kT == TensorType::IQ4_NL || kT == TensorType::IQ4_XS)
    decode_iq4<V, kT == TensorType::IQ4_XS>(src, sink);
  else
    decode_legacy<V, kT>(src, sink);
}

// Block column sb (read from src) times T tokens a[0..T), added to acc[0..T). The accumulators
// are copied into the sink so that they stay in registers while the column is decoded.
template <class V, TensorType kT, bool kSigned, int T, class Src>
void dot_tokens(const Src& src, size_t sb, const q::ActRow* a, typename V::F* acc) {
  constexpr BlockShape s = block_shape(kT);
  TokensDotSink<V, s.sub_len, s.n_subs, s.has_min, kSigned, T> sink{a, sb, {}, {}};
  for (int t = 0; t < T; ++t) sink.acc[t] = acc[t];
  decode<V, kT>(src, sink);
  for (int t = 0; t < T; ++t) acc[t] = sink.acc[t];
}

// The same for n tokens: the column is decoded once per register block of T tokens (then 2 and
// 1 for the rest), re-reading its bytes from L1 rather than keeping n sums live.
template <class V, TensorType kT, bool kSigned, int T, class Src>
void dot_n_tokens(const Src& src, size_t sb, const q::ActRow* a, size_t n, typename V::F* acc) {
  size_t t = 0;
  for (; t + T <= n; t += T) dot_tokens<V, kT, kSigned, T>(src, sb, a + t, acc + t);
  if constexpr (T > 2)
    for (; t + 2 <= n; t += 2) dot_tokens<V, kT, kSigned, 2>(src, sb, a + t, acc + t);
  for (; t < n; ++t) dot_tokens<V, kT, kSigned, 1>(src, sb, a + t, acc + t);
}

}  // namespace
}  // namespace minillm::kernels::isa
