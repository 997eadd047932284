// What the kernels have for each weight type, in one table (type_table.cpp): the reference row
// conversions, whether matrix products take it, its integer dot-product format with the
// reference block unpacking, and its packed-row layout. The code that differs per type (block
// layouts, quantizers, SIMD block decoders) stays in the files of its family; this is the one
// place that says which of them a type has. (The SIMD decoders are chosen at compile time, by
// with_decoded_type in block_decode.h, over the types whose packed layout this table gives.)
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/quant/qdot.h"
#include "minillm/tensor_type.h"

namespace minillm::kernels {

struct KernelType {
  // Row conversions, the scalar references (quant.h); null where the type has none.
  void (*dequantize)(const void* src, float* dst, size_t n) = nullptr;
  void (*quantize)(const float* src, void* dst, size_t n) = nullptr;
  bool matmul = false;  // matrix products take weights of this type (matmul.h)
  // The integer dot-product format (sub_len 0: none) and the reference decoding of one block:
  // its elements as bytes u in natural order, one dw (and mw, if the format has a min) per
  // sub-block (qdot.h).
  q::Format integer;
  void (*unpack)(const uint8_t* block, uint8_t* u, float* dw, float* mw) = nullptr;
  // The packed-row layout (packed_format.h): whether the type has one, and the offset of the
  // 2-byte field kept apart (-1: none).
  bool packed = false;
  int32_t packed_half_at = -1;
};

// The row of `t`; an empty row (nothing) for types the kernels do not handle.
const KernelType& kernel_type(TensorType t);

namespace q {
// The block unpackers the table lists (qdot.cpp).
void unpack_block_q4_0(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q4_1(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q5_0(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q5_1(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q8_0(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_iq4_nl(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q2_k(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q3_k(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q4_k(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q5_k(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_q6_k(const uint8_t* b, uint8_t* u, float* dw, float* mw);
void unpack_block_iq4_xs(const uint8_t* b, uint8_t* u, float* dw, float* mw);
}  // namespace q

}  // namespace minillm::kernels
