// Dequantization of the K-quant types: 256-element super-blocks made of 16- or 32-element
// sub-blocks, each with its own small integer scale (and for Q2_K/Q4_K/Q5_K a min), which are
// themselves scaled by fp16 super-block factors d and dmin. For element e of a super-block:
//   Q2_K: x = d * (sc[e/16] & 15) * q - dmin * (sc[e/16] >> 4)       q 2-bit (0..3)
//   Q3_K: x = d * (s6[e/16] - 32) * (q - 4 * !hbit)                  q 2-bit, hbit the 3rd bit
//   Q4_K: x = d * s6[e/32] * q - dmin * m6[e/32]                     q 4-bit (0..15)
//   Q5_K: x = d * s6[e/32] * (q + 16 * hbit) - dmin * m6[e/32]       q 4-bit + 5th bit
//   Q6_K: x = d * sc[e/16] * (q - 32)                                q 6-bit, sc signed bytes
// Every product is exact in float (at most 24 significant bits), so each value is rounded once,
// in the final subtraction, whatever the evaluation order.
#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant_impl.h"

namespace minillm::kernels::detail {
namespace {

// Q2_K/Q3_K quants: 2 bits each. A 128-element half uses 32 bytes; element r of the half is in
// byte r % 32 at bit offset 2 * (r / 32). Q3_K's 3rd bit of element e is bit e / 32 of
// hmask[e % 32].

// Q3_K: 16 scales of 6 bits in 12 bytes. Low 4 bits of scale j: bytes 0..7, low nibbles for
// j < 8, high nibbles for j >= 8. High 2 bits: byte 8 + j % 4, bit pair j / 4.
void unpack_q3k_scales(const uint8_t* s, int* out) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4);
    const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = (low | (high << 4)) - 32;
  }
}

}  // namespace

// Q4_K/Q5_K: 8 scales and 8 mins of 6 bits in 12 bytes. For j < 4 they are the low 6 bits of
// bytes j (scale) and j + 4 (min). For j >= 4 their low 4 bits are the nibbles of byte j + 4
// (low: scale, high: min) and their top 2 bits are the top bits of bytes j - 4 (scale) and j (min).
void unpack_k4_scales(const uint8_t* s, int* sc, int* mn) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      sc[j] = s[j] & 63;
      mn[j] = s[j + 4] & 63;
    } else {
      sc[j] = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
      mn[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
  }
}

void dequantize_row_q2_k(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, dst += kQK_K) {
    const float d = fp16_to_fp32(b->d);
    const float dmin = fp16_to_fp32(b->dmin);
    // Loops in storage order (half, bit pair, 16-byte part) so the inner loop vectorizes.
    for (size_t h = 0; h < 2; ++h) {
      const uint8_t* q32 = b->qs + 32 * h;
      for (size_t s = 0; s < 4; ++s) {
        for (size_t p = 0; p < 2; ++p) {
          const size_t g = 8 * h + 2 * s + p;  // = e / 16 for the elements written below
          const float dl = d * static_cast<float>(b->scales[g] & 0x0F);
          const float ml = dmin * static_cast<float>(b->scales[g] >> 4);
          float* y = dst + 16 * g;
          for (size_t l = 0; l < 16; ++l)
            y[l] = dl * static_cast<float>((q32[16 * p + l] >> (2 * s)) & 3) - ml;
        }
      }
    }
  }
}

void dequantize_row_q3_k(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  int sc[16];
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, dst += kQK_K) {
    const float d = fp16_to_fp32(b->d);
    unpack_q3k_scales(b->scales, sc);
    for (size_t h = 0; h < 2; ++h) {
      const uint8_t* q32 = b->qs + 32 * h;
      for (size_t s = 0; s < 4; ++s) {
        const size_t plane = 4 * h + s;  // = e / 32: which hmask bit
        for (size_t p = 0; p < 2; ++p) {
          const size_t g = 8 * h + 2 * s + p;
          const float dl = d * static_cast<float>(sc[g]);
          float* y = dst + 16 * g;
          for (size_t l = 0; l < 16; ++l) {
            const int low = (q32[16 * p + l] >> (2 * s)) & 3;
            const int hbit = (b->hmask[16 * p + l] >> plane) & 1;
            y[l] = dl * static_cast<float>(low - 4 + 4 * hbit);
          }
        }
      }
    }
  }
}

void dequantize_row_q4_k(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  int sc[8], mn[8];
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, dst += kQK_K) {
    const float d = fp16_to_fp32(b->d);
    const float dmin = fp16_to_fp32(b->dmin);
    unpack_k4_scales(b->scales, sc, mn);
    // 64 elements per 32 bytes: low nibbles are sub-block 2c, high nibbles sub-block 2c + 1.
    for (size_t c = 0; c < 4; ++c) {
      const uint8_t* q = b->qs + 32 * c;
      const float d1 = d * static_cast<float>(sc[2 * c]), m1 = dmin * static_cast<float>(mn[2 * c]);
      const float d2 = d * static_cast<float>(sc[2 * c + 1]);
      const float m2 = dmin * static_cast<float>(mn[2 * c + 1]);
      float* y = dst + 64 * c;
      for (size_t l = 0; l < 32; ++l) {
        y[l] = d1 * static_cast<float>(q[l] & 0x0F) - m1;
        y[l + 32] = d2 * static_cast<float>(q[l] >> 4) - m2;
      }
    }
  }
}

void dequantize_row_q5_k(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  int sc[8], mn[8];
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, dst += kQK_K) {
    const float d = fp16_to_fp32(b->d);
    const float dmin = fp16_to_fp32(b->dmin);
    unpack_k4_scales(b->scales, sc, mn);
    // As Q4_K; the 5th bit of element e is bit e / 32 of qh[e % 32].
    for (size_t c = 0; c < 4; ++c) {
      const uint8_t* q = b->qs + 32 * c;
      const float d1 = d * static_cast<float>(sc[2 * c]), m1 = dmin * static_cast<float>(mn[2 * c]);
      const float d2 = d * static_cast<float>(sc[2 * c + 1]);
      const float m2 = dmin * static_cast<float>(mn[2 * c + 1]);
      float* y = dst + 64 * c;
      for (size_t l = 0; l < 32; ++l) {
        const int h1 = (b->qh[l] >> (2 * c)) & 1;
        const int h2 = (b->qh[l] >> (2 * c + 1)) & 1;
        y[l] = d1 * static_cast<float>((q[l] & 0x0F) + 16 * h1) - m1;
        y[l + 32] = d2 * static_cast<float>((q[l] >> 4) + 16 * h2) - m2;
      }
    }
  }
}

void dequantize_row_q6_k(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, dst += kQK_K) {
    const float d = fp16_to_fp32(b->d);
    // Each 128-element half uses 64 bytes of ql and 32 of qh. Element 32k + l of the half
    // (k = 0..3, l = 0..31): low 4 bits from ql[l + 32 (k & 1)], low nibble for k < 2 and high
    // nibble otherwise; high 2 bits from qh[l] at bit pair k; scale (32k + l) / 16.
    for (size_t h = 0; h < 2; ++h) {
      const uint8_t* qh = b->qh + 32 * h;
      for (size_t k = 0; k < 4; ++k) {
        const uint8_t* ql = b->ql + 64 * h + 32 * (k & 1);
        const int low_shift = k < 2 ? 0 : 4;
        for (size_t p = 0; p < 2; ++p) {
          const float dl = d * static_cast<float>(b->scales[8 * h + 2 * k + p]);
          float* y = dst + 128 * h + 32 * k + 16 * p;
          for (size_t l = 16 * p; l < 16 * p + 16; ++l) {
            const int low = (ql[l] >> low_shift) & 0x0F;
            const int high = (qh[l] >> (2 * k)) & 3;
            y[l - 16 * p] = dl * static_cast<float>((low | (high << 4)) - 32);
          }
        }
      }
    }
  }
}

}  // namespace minillm::kernels::detail
