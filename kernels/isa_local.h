// Small helpers for the per-ISA files (*_avx2.cpp, *_avx512.cpp). They have internal linkage, so
// each of those files compiles its own copy with its own flags: an inline function or template
// from elsewhere (std::min, std::vector, ...) instantiated there could be chosen by the linker for
// the whole program and run wide instructions on a CPU without them (see isa_entry.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/attention/attention.h"

namespace minillm::kernels::isa {
namespace {

// Bytes ahead of the read point that weights streamed from memory are prefetched. One core
// reading at ~45 GB/s needs ~8 KiB in flight: 4 KiB ahead left a Q4_0 GEMV at ~87 % of a plain
// read of the same bytes, 8 and 16 KiB at ~100 % (and 1 KiB left F16 decoding at 77 %).
inline constexpr size_t kStreamAhead = 8192;

// The 4 bytes at p as a little-endian int32 (unaligned).
inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

inline size_t clamp_size(size_t v, size_t lo, size_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

// Lanes of a 16-lane vector that hold one of `left` remaining elements.
// kv_row_offset (attention.h) again with internal linkage: per-ISA objects define no weak symbols.
inline size_t row_offset(const KvRows& rows, size_t j) {
  if (!rows.blocks) return j * rows.stride;
  const size_t mask = (size_t{1} << rows.block_shift) - 1;
  return ((size_t(rows.blocks[j >> rows.block_shift]) << rows.block_shift) | (j & mask)) *
         rows.stride;
}

// f(std::integral_constant<KvElement, t>()) for the element type t: one kernel instance per type.
template <class F>
inline auto with_element(KvElement t, F&& f) {
  switch (t) {
    case KvElement::F16:
      return f(std::integral_constant<KvElement, KvElement::F16>());
    case KvElement::Q8_0:
      return f(std::integral_constant<KvElement, KvElement::Q8_0>());
    case KvElement::F32:
      break;
  }
  return f(std::integral_constant<KvElement, KvElement::F32>());
}

inline uint16_t lanes16(size_t left) {
  return left >= 16 ? uint16_t{0xFFFF} : static_cast<uint16_t>((1u << left) - 1u);
}

}  // namespace
}  // namespace minillm::kernels::isa
