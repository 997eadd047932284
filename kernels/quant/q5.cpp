// Q5_0 and Q5_1: 32 elements per block, 5-bit quants split into a 4-bit part and a 5th bit.
//   Q5_0: x = (q - 16) * d         q in 0..31
//   Q5_1: x = q * d + m            q in 0..31
// Low 4 bits: element j (0..15) in the low nibble of qs[j], element j + 16 in the high nibble.
// 5th bit of element j: bit j of qh read as a little-endian 32-bit integer.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant_impl.h"

namespace minillm::kernels::detail {
namespace {

constexpr size_t kHalf = kQK / 2;

void store_u32le(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The 32 5-bit quants of a block.
void unpack5(const uint8_t* qs, const uint8_t* qh_bytes, int* q) {
  uint8_t hbit[kQK];  // bit j of the little-endian qh = bit j % 8 of byte j / 8
  for (size_t j = 0; j < kQK; ++j) hbit[j] = (qh_bytes[j / 8] >> (j % 8)) & 1;
  for (size_t j = 0; j < kHalf; ++j) {
    q[j] = (qs[j] & 0x0F) | (hbit[j] << 4);
    q[j + kHalf] = (qs[j] >> 4) | (hbit[j + kHalf] << 4);
  }
}

void pack5(const int* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (size_t j = 0; j < kHalf; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + kHalf] & 0x0F) << 4));
    qh |= static_cast<uint32_t>(q[j] >> 4) << j;
    qh |= static_cast<uint32_t>(q[j + kHalf] >> 4) << (j + kHalf);
  }
  store_u32le(qh_bytes, qh);
}

}  // namespace

void dequantize_row_q5_0(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  int q[kQK];
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, dst += kQK) {
    const float d = fp16_to_fp32(b->d);
    unpack5(b->qs, b->qh, q);
    for (size_t j = 0; j < kQK; ++j) dst[j] = static_cast<float>(q[j] - 16) * d;
  }
}

void dequantize_row_q5_1(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  int q[kQK];
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, dst += kQK) {
    const float d = fp16_to_fp32(b->d);
    const float m = fp16_to_fp32(b->m);
    unpack5(b->qs, b->qh, q);
    for (size_t j = 0; j < kQK; ++j) dst[j] = static_cast<float>(q[j]) * d + m;
  }
}

void quantize_row_q5_0(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  int q[kQK];
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, src += kQK) {
    const float d = signed_absmax(src, kQK) / -16.0f;  // the extreme element becomes q = 0 (-16)
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = fp32_to_fp16(d);
    for (size_t j = 0; j < kQK; ++j)
      q[j] = std::clamp(static_cast<int>(std::floor(src[j] * id + 16.5f)), 0, 31);
    pack5(q, b->qs, b->qh);
  }
}

void quantize_row_q5_1(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  int q[kQK];
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, src += kQK) {
    const auto [lo, hi] = std::minmax_element(src, src + kQK);
    const float d = (*hi - *lo) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const float m = *lo;
    b->d = fp32_to_fp16(d);
    b->m = fp32_to_fp16(m);
    for (size_t j = 0; j < kQK; ++j)
      q[j] = std::clamp(static_cast<int>(std::floor((src[j] - m) * id + 0.5f)), 0, 31);
    pack5(q, b->qs, b->qh);
  }
}

}  // namespace minillm::kernels::detail
