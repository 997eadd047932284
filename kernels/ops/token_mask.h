// Masking logits with a bitmap of allowed tokens (a grammar's mask): every value whose bit is
// clear becomes -infinity, the others stay as they are.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minillm::kernels {

// x[i] = -inf where bit i of `allowed` (bit i % 64 of word i / 64) is clear, for i < n; the
// words hold at least n bits. Returns whether any of the n bits is set. The active ISA's path
// (AVX-512 masked stores, AVX2 blends); all give the reference's bits.
bool mask_tokens(float* x, const uint64_t* allowed, size_t n);
bool mask_tokens_reference(float* x, const uint64_t* allowed, size_t n);

}  // namespace minillm::kernels
