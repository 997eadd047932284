// Conversion of rows between float32 and the stored tensor types.
// dequantize_row is the scalar reference: it produces exactly the values the format defines
// (every formula is evaluated with at most one rounding, so the result does not depend on
// evaluation order or FMA contraction). quantize_row is a round-to-nearest reference quantizer;
// for the K-quants it also searches each sub-block's scale (and min) for the least squared error,
// and for IQ4_NL / IQ4_XS each block's scale (and sub-block scales) with the nearest levels.
#pragma once

#include <cstddef>

#include "minillm/tensor_type.h"

namespace minillm::kernels {

// Types dequantize_row accepts: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, Q8_K, IQ4_NL, IQ4_XS.
bool can_dequantize(TensorType type);
// Types quantize_row accepts: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q8_K, Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS.
bool can_quantize(TensorType type);

// Converts n elements (a multiple of the type's block size) stored as `type` at src into float.
// Throws minillm::Error naming the type if it is unsupported or n is not a whole number of blocks.
void dequantize_row(TensorType type, const void* src, float* dst, size_t n);
// Converts n floats into row_bytes(type, n) bytes at dst. Throws like dequantize_row.
void quantize_row(TensorType type, const float* src, void* dst, size_t n);

}  // namespace minillm::kernels
