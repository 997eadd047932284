// The order in which the packed layout (packed_rows.h) stores the 4-byte words of a block column,
// per type: the order in which that type's block decoder (block_decode.h) first reads them.
//
// Why: a decoder that reads its column front to back is one sequential stream, which the hardware
// prefetchers follow. The K-quant decoders read out of file order (Q6_K: the scales at the end
// first, then low bits and high bits from two places in turn), so in file order each column was a
// jump to its end and two interleaved streams, and only a just-in-time burst of prefetches over
// the whole column kept them fed; with two threads those bursts scaled poorly (AVX-512, 5632x2048,
// Zen 4: Q6_K 23.8 GB/s on one thread, 19.8 on two, where Q4_K, read front to back, did 25.9 and
// 36.9).
//
// Included by the packer and by the per-ISA decoders, so everything here has internal linkage
// (isa_local.h says why). Words are numbered in file order from the start of the block (the
// reordered types have no 2-byte field leading the block); types not listed keep file order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "minillm/tensor_type.h"

namespace minillm::kernels {
namespace {

// The file word stored at each packed slot, for a type whose decoder reads out of file order.
struct WordOrder {
  uint8_t n = 0;          // words in the order (0: file order)
  uint8_t word[64] = {};  // word[slot]
};

// Four words from word 4q on, for each q in turn.
template <size_t N>
constexpr WordOrder by_quads(const uint8_t (&quads)[N]) {
  WordOrder o;
  for (size_t i = 0; i < N; ++i)
    for (uint8_t k = 0; k < 4; ++k) o.word[o.n++] = static_cast<uint8_t>(4 * quads[i] + k);
  return o;
}

// Q2_K (scales[16] qs[64] d dmin; decode_q23_k): the scales, then d and dmin, then qs.
constexpr WordOrder order_q2_k() {
  WordOrder o;
  const uint8_t head[] = {0, 1, 2, 3, 20};
  for (uint8_t w : head) o.word[o.n++] = w;
  for (uint8_t w = 4; w < 20; ++w) o.word[o.n++] = w;
  return o;
}

// Q3_K (hmask[32] qs[64] scales[12] d, d kept apart; decode_q23_k): qs[60..63] and the scales,
// then qs[0..15] with hmask[0..15], qs[16..31] with hmask[16..31], then the rest of qs.
constexpr WordOrder order_q3_k() {
  WordOrder o;
  const uint8_t words[] = {23, 24, 25, 26, 8, 9, 10, 11, 0,  1,  2,  3,  12, 13,
                           14, 15, 4,  5,  6, 7, 16, 17, 18, 19, 20, 21, 22};
  for (uint8_t w : words) o.word[o.n++] = w;
  return o;
}

// Q5_K (d dmin scales[12] qh[32] qs[128]; decode_q45_k): the scale quad, then qs and qh quads as
// the first sub-blocks take them, then the rest of qs. Quads: 0 scales, 1-2 qh, 3-10 qs.
constexpr uint8_t kQ5KQuads[] = {0, 3, 1, 4, 2, 5, 6, 7, 8, 9, 10};

// Q6_K (ql[128] qh[64] scales[16] d, d kept apart; decode_q6_k): the scales, then each ql quad
// beside the qh quad it is first combined with. Quads: 0-7 ql, 8-11 qh, 12 scales.
constexpr uint8_t kQ6KQuads[] = {12, 0, 8, 1, 9, 2, 3, 4, 10, 5, 11, 6, 7};

constexpr WordOrder packed_word_order(TensorType t) {
  switch (t) {
    case TensorType::Q2_K:
      return order_q2_k();
    case TensorType::Q3_K:
      return order_q3_k();
    case TensorType::Q5_K:
      return by_quads(kQ5KQuads);
    case TensorType::Q6_K:
      return by_quads(kQ6KQuads);
    default:
      return {};
  }
}

// The inverse: the packed slot of each file word (identity for file order and past the words).
struct SlotOf {
  uint8_t slot[64] = {};
};
constexpr SlotOf slots_of(TensorType t) {
  const WordOrder o = packed_word_order(t);
  SlotOf s;
  for (uint8_t w = 0; w < 64; ++w) s.slot[w] = w;
  for (uint8_t i = 0; i < o.n; ++i) s.slot[o.word[i]] = i;
  return s;
}
template <TensorType kT>
inline constexpr SlotOf kSlotOf = slots_of(kT);

}  // namespace
}  // namespace minillm::kernels
