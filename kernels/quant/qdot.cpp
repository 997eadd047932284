// Reference decoding of quantized weight rows into (u, dw, mw) sub-blocks, the activation
// quantizer, and the reference integer dot product (see qdot.h for the definition).
#include "kernels/quant/qdot.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant_impl.h"
#include "kernels/type_table.h"

namespace minillm::kernels::q {
namespace {

float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return fp16_to_fp32(h);
}

// Q4_0/Q4_1/Q5_x nibbles: element j in the low nibble of qs[j], element j + 16 in the high one.
void nibbles32(const uint8_t* qs, uint8_t* u) {
  for (int j = 0; j < 16; ++j) {
    u[j] = qs[j] & 0x0F;
    u[j + 16] = qs[j] >> 4;
  }
}

// 5th bits of Q5_0/Q5_1: bit j of the little-endian 32-bit qh belongs to element j.
void fifth_bits(const uint8_t* qh, uint8_t* u) {
  for (int j = 0; j < 32; ++j) u[j] |= static_cast<uint8_t>(((qh[j / 8] >> (j % 8)) & 1) << 4);
}

// IQ4_NL/IQ4_XS indices (nibbles as Q4_0) to u = L[q] + 128 (1..241; offset 128).
void iq4_values(const uint8_t* qs, uint8_t* u) {
  for (int j = 0; j < 16; ++j) {
    u[j] = static_cast<uint8_t>(kIQ4Levels[qs[j] & 0x0F] + 128);
    u[j + 16] = static_cast<uint8_t>(kIQ4Levels[qs[j] >> 4] + 128);
  }
}

void unpack_q2_k(const BlockQ2_K& b, uint8_t* u, float* dw, float* mw) {
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  for (int g = 0; g < 16; ++g) {
    dw[g] = d * static_cast<float>(b.scales[g] & 0x0F);
    mw[g] = -(dmin * static_cast<float>(b.scales[g] >> 4));
  }
  // Element 128h + 32s + l: byte 32h + l, bit pair s.
  for (int e = 0; e < 256; ++e)
    u[e] = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

void unpack_q3_k(const BlockQ3_K& b, uint8_t* u, float* dw) {
  const float d = fp16_to_fp32(b.d);
  const uint8_t* s = b.scales;
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4);
    const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    dw[j] = d * static_cast<float>((low | (high << 4)) - 32);
  }
  // As Q2_K for the low 2 bits; the 3rd bit of element e is bit e / 32 of hmask[e % 32].
  for (int e = 0; e < 256; ++e) {
    const int low = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    u[e] = static_cast<uint8_t>(low | (((b.hmask[e % 32] >> (e / 32)) & 1) << 2));
  }
}

void unpack_q45_k(const uint16_t d16, uint16_t dmin16, const uint8_t* scales, const uint8_t* qs,
                  const uint8_t* qh, uint8_t* u, float* dw, float* mw) {
  const float d = fp16_to_fp32(d16), dmin = fp16_to_fp32(dmin16);
  int sc[8], mn[8];
  detail::unpack_k4_scales(scales, sc, mn);
  for (int j = 0; j < 8; ++j) {
    dw[j] = d * static_cast<float>(sc[j]);
    mw[j] = -(dmin * static_cast<float>(mn[j]));
  }
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      u[64 * c + l] = qs[32 * c + l] & 0x0F;
      u[64 * c + 32 + l] = qs[32 * c + l] >> 4;
      if (qh != nullptr) {  // Q5_K: 5th bit of element e is bit e / 32 of qh[e % 32]
        u[64 * c + l] |= static_cast<uint8_t>(((qh[l] >> (2 * c)) & 1) << 4);
        u[64 * c + 32 + l] |= static_cast<uint8_t>(((qh[l] >> (2 * c + 1)) & 1) << 4);
      }
    }
}

void unpack_q6_k(const BlockQ6_K& b, uint8_t* u, float* dw) {
  const float d = fp16_to_fp32(b.d);
  for (int g = 0; g < 16; ++g) dw[g] = d * static_cast<float>(b.scales[g]);
  // Element 128h + 32k + l: low 4 bits from ql[64h + l + 32 (k & 1)] (low nibble for k < 2),
  // high 2 bits from qh[32h + l] at bit pair k.
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 32; ++l) {
        const int low = (b.ql[64 * h + l + 32 * (k & 1)] >> (k < 2 ? 0 : 4)) & 0x0F;
        const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
        u[128 * h + 32 * k + l] = static_cast<uint8_t>(low | (high << 4));
      }
}

void unpack_iq4_xs(const BlockIQ4_XS& b, uint8_t* u, float* dw) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < 8; ++j) {
    dw[j] = d * static_cast<float>(detail::iq4_xs_scale(b.scales_l, b.scales_h, j));
    iq4_values(b.qs + 16 * j, u + 32 * j);
  }
}

}  // namespace

// ---- One block of each type, as the type table (type_table.cpp) lists them ----

void unpack_block_q4_0(const uint8_t* b, uint8_t* u, float* dw, float*) {
  *dw = half(b);
  nibbles32(b + 2, u);
}
void unpack_block_q4_1(const uint8_t* b, uint8_t* u, float* dw, float* mw) {
  *dw = half(b);
  *mw = half(b + 2);
  nibbles32(b + 4, u);
}
void unpack_block_q5_0(const uint8_t* b, uint8_t* u, float* dw, float*) {
  *dw = half(b);
  nibbles32(b + 6, u);
  fifth_bits(b + 2, u);
}
void unpack_block_q5_1(const uint8_t* b, uint8_t* u, float* dw, float* mw) {
  *dw = half(b);
  *mw = half(b + 2);
  nibbles32(b + 8, u);
  fifth_bits(b + 4, u);
}
void unpack_block_q8_0(const uint8_t* b, uint8_t* u, float* dw, float*) {  // u = q + 128
  *dw = half(b);
  for (int j = 0; j < 32; ++j) u[j] = static_cast<uint8_t>(b[2 + j] ^ 0x80);
}
void unpack_block_iq4_nl(const uint8_t* b, uint8_t* u, float* dw, float*) {
  *dw = half(b);
  iq4_values(b + 2, u);
}
void unpack_block_q2_k(const uint8_t* b, uint8_t* u, float* dw, float* mw) {
  unpack_q2_k(*reinterpret_cast<const BlockQ2_K*>(b), u, dw, mw);
}
void unpack_block_q3_k(const uint8_t* b, uint8_t* u, float* dw, float*) {
  unpack_q3_k(*reinterpret_cast<const BlockQ3_K*>(b), u, dw);
}
void unpack_block_q4_k(const uint8_t* b, uint8_t* u, float* dw, float* mw) {
  const auto& k = *reinterpret_cast<const BlockQ4_K*>(b);
  unpack_q45_k(k.d, k.dmin, k.scales, k.qs, nullptr, u, dw, mw);
}
void unpack_block_q5_k(const uint8_t* b, uint8_t* u, float* dw, float* mw) {
  const auto& k = *reinterpret_cast<const BlockQ5_K*>(b);
  unpack_q45_k(k.d, k.dmin, k.scales, k.qs, k.qh, u, dw, mw);
}
void unpack_block_q6_k(const uint8_t* b, uint8_t* u, float* dw, float*) {
  unpack_q6_k(*reinterpret_cast<const BlockQ6_K*>(b), u, dw);
}
void unpack_block_iq4_xs(const uint8_t* b, uint8_t* u, float* dw, float*) {
  unpack_iq4_xs(*reinterpret_cast<const BlockIQ4_XS*>(b), u, dw);
}

// ---- Lookups in the type table ----

Format format_of(TensorType t) {
  return kernel_type(t).integer;
}

bool signed_bytes(const Format& f) {
  return f.offset == 128;
}

void unpack_row(TensorType t, const uint8_t* row, size_t n, uint8_t* u, float* dw, float* mw) {
  const KernelType& k = kernel_type(t);
  const size_t bs = traits(t).block_size, bb = traits(t).block_bytes;
  const size_t subs = bs / static_cast<size_t>(k.integer.sub_len);
  float* m = mw;
  for (size_t ib = 0; ib < n / bs; ++ib, row += bb, u += bs, dw += subs) {
    k.unpack(row, u, dw, m);
    if (m != nullptr) m += subs;
  }
}

void quantize_act_row(const float* x, size_t n, int8_t* qa, float* da, int32_t* asum16) {
  for (size_t b = 0; b < n / 32; ++b, x += 32, qa += 32) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    da[b] = d;
    for (int h = 0; h < 2; ++h) {
      int32_t s = 0;
      for (int i = 16 * h; i < 16 * h + 16; ++i) {
        // Nearest, ties to even (the SIMD conversion's default); |x * id| <= 127 up to rounding.
        const long v = std::lrint(x[i] * id);
        qa[i] = static_cast<int8_t>(std::clamp<long>(v, -127, 127));
        s += qa[i];
      }
      asum16[2 * b + h] = s;
    }
  }
}

void derive_act(size_t n, int sub_len, int o_eff, bool has_min, const float* da32,
                const int32_t* asum16, int32_t* init, float* da, float* asf) {
  const size_t per16 = static_cast<size_t>(sub_len) / 16;
  for (size_t j = 0; j < n / static_cast<size_t>(sub_len); ++j) {
    const int32_t s = per16 == 1 ? asum16[j] : asum16[2 * j] + asum16[2 * j + 1];
    init[j] = -o_eff * s;
    da[j] = da32[j * per16 / 2];
    if (has_min) asf[j] = static_cast<float>(s);
  }
}

float dot_ref(const Format& f, const uint8_t* u, const float* dw, const float* mw, size_t n,
              const ActRow& a) {
  const size_t len = static_cast<size_t>(f.sub_len);
  float acc = 0.0f;
  for (size_t j = 0; j < n / len; ++j) {
    int32_t isum = a.init[j];
    for (size_t i = j * len; i < (j + 1) * len; ++i) isum += int32_t{u[i]} * a.qa[i];
    acc = std::fma(static_cast<float>(isum), dw[j] * a.da[j], acc);
    if (f.has_min) acc = std::fma(a.asf[j], mw[j] * a.da[j], acc);
  }
  return acc;
}

}  // namespace minillm::kernels::q
