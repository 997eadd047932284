// 8-bit types: x = q * d with q a signed byte.
//   Q8_0: 32 elements, fp16 d.
//   Q8_1: 32 elements, fp16 d and fp16 s = d * sum(q) (used by dot products with Q4_1/Q5_1).
//   Q8_K: 256 elements, float32 d, and the sum of q over each group of 16 (bsums).
#include <algorithm>
#include <cmath>

#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant_impl.h"

namespace minillm::kernels::detail {
namespace {

float absmax(const float* x, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// Nearest integer, halves away from zero, kept inside the symmetric int8 range.
int8_t quant8(float v) {
  return static_cast<int8_t>(std::clamp(static_cast<int>(std::round(v)), -127, 127));
}

}  // namespace

void dequantize_row_q8_0(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, dst += kQK) {
    const float d = fp16_to_fp32(b->d);
    for (size_t j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b->qs[j]) * d;
  }
}

void dequantize_row_q8_1(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, dst += kQK) {
    const float d = fp16_to_fp32(b->d);
    for (size_t j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b->qs[j]) * d;
  }
}

void dequantize_row_q8_k(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, dst += kQK_K)
    for (size_t j = 0; j < kQK_K; ++j) dst[j] = static_cast<float>(b->qs[j]) * b->d;
}

void quantize_row_q8_0(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, src += kQK) {
    const float d = absmax(src, kQK) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = fp32_to_fp16(d);
    for (size_t j = 0; j < kQK; ++j) b->qs[j] = quant8(src[j] * id);
  }
}

void quantize_row_q8_1(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, src += kQK) {
    const float d = absmax(src, kQK) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (size_t j = 0; j < kQK; ++j) {
      b->qs[j] = quant8(src[j] * id);
      sum += b->qs[j];
    }
    b->d = fp32_to_fp16(d);
    b->s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

void quantize_row_q8_k(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, src += kQK_K) {
    const float d = absmax(src, kQK_K) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = d;
    for (size_t g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (size_t j = g * 16; j < g * 16 + 16; ++j) {
        b->qs[j] = quant8(src[j] * id);
        sum += b->qs[j];
      }
      b->bsums[g] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace minillm::kernels::detail
