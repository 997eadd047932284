// Per-type row converters behind quant.h (internal to kernels). n is a multiple of the block size;
// the public dispatchers check that.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minillm::kernels::detail {

// q4.cpp
// The element of largest magnitude, with its sign (so that it maps exactly to the end of the range
// that has one more step: -8 for Q4_0, -16 for Q5_0).
float signed_absmax(const float* x, size_t n);
void dequantize_row_q4_0(const void* src, float* dst, size_t n);
void dequantize_row_q4_1(const void* src, float* dst, size_t n);
void quantize_row_q4_0(const float* src, void* dst, size_t n);
void quantize_row_q4_1(const float* src, void* dst, size_t n);
// q5.cpp
void dequantize_row_q5_0(const void* src, float* dst, size_t n);
void dequantize_row_q5_1(const void* src, float* dst, size_t n);
void quantize_row_q5_0(const float* src, void* dst, size_t n);
void quantize_row_q5_1(const float* src, void* dst, size_t n);
// q8.cpp
void dequantize_row_q8_0(const void* src, float* dst, size_t n);
void dequantize_row_q8_1(const void* src, float* dst, size_t n);
void dequantize_row_q8_k(const void* src, float* dst, size_t n);
void quantize_row_q8_0(const float* src, void* dst, size_t n);
void quantize_row_q8_1(const float* src, void* dst, size_t n);
void quantize_row_q8_k(const float* src, void* dst, size_t n);
// k_quants.cpp
// The 8 six-bit scales and mins packed in the 12 scale bytes of a Q4_K / Q5_K block.
void unpack_k4_scales(const uint8_t* packed, int* scales, int* mins);
void dequantize_row_q2_k(const void* src, float* dst, size_t n);
void dequantize_row_q3_k(const void* src, float* dst, size_t n);
void dequantize_row_q4_k(const void* src, float* dst, size_t n);
void dequantize_row_q5_k(const void* src, float* dst, size_t n);
void dequantize_row_q6_k(const void* src, float* dst, size_t n);
// k_quantize.cpp
void quantize_row_q2_k(const float* src, void* dst, size_t n);
void quantize_row_q3_k(const float* src, void* dst, size_t n);
void quantize_row_q4_k(const float* src, void* dst, size_t n);
void quantize_row_q5_k(const float* src, void* dst, size_t n);
void quantize_row_q6_k(const float* src, void* dst, size_t n);
// iq4.cpp
// ls - 32 (-32..31) of IQ4_XS sub-block `sub` (0..7), from the block's scales_l and scales_h.
int iq4_xs_scale(const uint8_t* scales_l, uint16_t scales_h, int sub);
void dequantize_row_iq4_nl(const void* src, float* dst, size_t n);
void dequantize_row_iq4_xs(const void* src, float* dst, size_t n);
void quantize_row_iq4_nl(const float* src, void* dst, size_t n);
void quantize_row_iq4_xs(const float* src, void* dst, size_t n);

}  // namespace minillm::kernels::detail
