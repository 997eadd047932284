// Q4_0 and Q4_1: 32 elements per block, 4-bit quants.
//   Q4_0: x = (q - 8) * d          q in 0..15
//   Q4_1: x = q * d + m            q in 0..15
// Element j (0..15) of a block is the low nibble of qs[j]; element j + 16 is its high nibble.
#include <algorithm>
#include <cmath>

#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant_impl.h"

namespace minillm::kernels::detail {
namespace {

constexpr size_t kHalf = kQK / 2;

}  // namespace

float signed_absmax(const float* x, size_t n) {
  float best = 0.0f;
  for (size_t i = 0; i < n; ++i)
    if (std::fabs(x[i]) > std::fabs(best)) best = x[i];
  return best;
}

void dequantize_row_q4_0(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, dst += kQK) {
    const float d = fp16_to_fp32(b->d);
    for (size_t j = 0; j < kHalf; ++j) {
      dst[j] = static_cast<float>((b->qs[j] & 0x0F) - 8) * d;
      dst[j + kHalf] = static_cast<float>((b->qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, dst += kQK) {
    const float d = fp16_to_fp32(b->d);
    const float m = fp16_to_fp32(b->m);
    for (size_t j = 0; j < kHalf; ++j) {
      dst[j] = static_cast<float>(b->qs[j] & 0x0F) * d + m;
      dst[j + kHalf] = static_cast<float>(b->qs[j] >> 4) * d + m;
    }
  }
}

void quantize_row_q4_0(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, src += kQK) {
    const float d = signed_absmax(src, kQK) / -8.0f;  // the extreme element becomes q = 0 (-8)
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = fp32_to_fp16(d);
    auto q = [&](float v) {  // nearest of 0..15 (v * id is in [-8, 8])
      return static_cast<uint8_t>(std::clamp(static_cast<int>(std::floor(v * id + 8.5f)), 0, 15));
    };
    for (size_t j = 0; j < kHalf; ++j)
      b->qs[j] = static_cast<uint8_t>(q(src[j]) | (q(src[j + kHalf]) << 4));
  }
}

void quantize_row_q4_1(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, src += kQK) {
    const auto [lo, hi] = std::minmax_element(src, src + kQK);
    const float d = (*hi - *lo) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const float m = *lo;
    b->d = fp32_to_fp16(d);
    b->m = fp32_to_fp16(m);
    auto q = [&](float v) {
      return static_cast<uint8_t>(
          std::clamp(static_cast<int>(std::floor((v - m) * id + 0.5f)), 0, 15));
    };
    for (size_t j = 0; j < kHalf; ++j)
      b->qs[j] = static_cast<uint8_t>(q(src[j]) | (q(src[j + kHalf]) << 4));
  }
}

}  // namespace minillm::kernels::detail
