// Dequantization of hand-built blocks for every type, with expected values worked out from the
// format definitions, and quantize -> dequantize error bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant.h"
#include "minillm/error.h"

namespace minillm::kernels {
namespace {

// fp16 bit patterns of the scales used below (sign 0, exponent bias 15).
constexpr uint16_t kHalf_0_125 = 0x3000;  // 2^-3
constexpr uint16_t kHalf_0_25 = 0x3400;
constexpr uint16_t kHalf_0_5 = 0x3800;
constexpr uint16_t kHalf_1 = 0x3C00;
constexpr uint16_t kHalf_2 = 0x4000;
constexpr uint16_t kHalf_m1 = 0xBC00;  // -1.0

std::vector<float> dequant(TensorType t, const void* blocks, size_t n) {
  std::vector<float> out(n);
  dequantize_row(t, blocks, out.data(), n);
  return out;
}

TEST(Blocks, SizesMatchTypeTraits) {
  EXPECT_EQ(sizeof(BlockQ4_0), traits(TensorType::Q4_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_1), traits(TensorType::Q4_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_0), traits(TensorType::Q5_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_1), traits(TensorType::Q5_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_0), traits(TensorType::Q8_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_1), traits(TensorType::Q8_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ2_K), traits(TensorType::Q2_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ3_K), traits(TensorType::Q3_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_K), traits(TensorType::Q4_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_K), traits(TensorType::Q5_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ6_K), traits(TensorType::Q6_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_K), traits(TensorType::Q8_K).block_bytes);
  EXPECT_EQ(offsetof(BlockQ2_K, d), 80u);
  EXPECT_EQ(offsetof(BlockQ3_K, d), 108u);
  EXPECT_EQ(offsetof(BlockQ5_K, qs), 48u);
  EXPECT_EQ(offsetof(BlockQ6_K, d), 208u);
  EXPECT_EQ(offsetof(BlockQ8_K, bsums), 260u);
  EXPECT_EQ(sizeof(BlockIQ4_NL), traits(TensorType::IQ4_NL).block_bytes);
  EXPECT_EQ(sizeof(BlockIQ4_XS), traits(TensorType::IQ4_XS).block_bytes);
  EXPECT_EQ(offsetof(BlockIQ4_XS, scales_h), 2u);
  EXPECT_EQ(offsetof(BlockIQ4_XS, scales_l), 4u);
  EXPECT_EQ(offsetof(BlockIQ4_XS, qs), 8u);
}

TEST(Dequantize, FloatTypes) {
  const float f32[3] = {1.5f, -2.0f, 1e-30f};
  EXPECT_EQ(dequant(TensorType::F32, f32, 3), (std::vector<float>{1.5f, -2.0f, 1e-30f}));
  const uint16_t f16[3] = {0x3E00, 0xC500, 0x0001};  // 1.5, -5.0, 2^-24
  EXPECT_EQ(dequant(TensorType::F16, f16, 3),
            (std::vector<float>{1.5f, -5.0f, std::ldexp(1.0f, -24)}));
  const uint16_t bf16[3] = {0x3FC0, 0xC0A0, 0x0001};  // 1.5, -5.0, 2^-133
  EXPECT_EQ(dequant(TensorType::BF16, bf16, 3),
            (std::vector<float>{1.5f, -5.0f, std::ldexp(1.0f, -133)}));
}

TEST(Dequantize, Q4_0) {
  BlockQ4_0 b{};
  b.d = kHalf_0_5;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequant(TensorType::Q4_0, &b, 32);
  EXPECT_EQ(y[0], -4.0f);   // (0 - 8) * 0.5
  EXPECT_EQ(y[3], -2.5f);   // (3 - 8) * 0.5
  EXPECT_EQ(y[8], 0.0f);    // (8 - 8) * 0.5
  EXPECT_EQ(y[15], 3.5f);   // (15 - 8) * 0.5
  EXPECT_EQ(y[16], 3.5f);   // high nibble of qs[0] = 15
  EXPECT_EQ(y[31], -4.0f);  // high nibble of qs[15] = 0
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f);
    EXPECT_EQ(y[j + 16], (7 - j) * 0.5f);
  }
}

TEST(Dequantize, Q4_1) {
  BlockQ4_1 b{};
  b.d = kHalf_0_25;
  b.m = kHalf_m1;
  b.qs[0] = 0xF5;  // element 0: 5, element 16: 15
  b.qs[9] = 0x40;  // element 9: 0, element 25: 4
  const auto y = dequant(TensorType::Q4_1, &b, 32);
  EXPECT_EQ(y[0], 0.25f);   // 5 * 0.25 - 1
  EXPECT_EQ(y[16], 2.75f);  // 15 * 0.25 - 1
  EXPECT_EQ(y[9], -1.0f);   // 0 * 0.25 - 1
  EXPECT_EQ(y[25], 0.0f);   // 4 * 0.25 - 1
  EXPECT_EQ(y[1], -1.0f);
}

TEST(Dequantize, Q5_0) {
  BlockQ5_0 b{};
  b.d = kHalf_1;
  b.qs[0] = 0x21;                                  // element 0 low bits 1, element 16 low bits 2
  b.qs[1] = 0x00;                                  // elements 1 and 17 low bits 0
  b.qs[15] = 0xFF;                                 // elements 15 and 31 low bits 15
  const uint8_t qh[4] = {0x01, 0x80, 0x02, 0x80};  // bits 0, 15, 17, 31 (little-endian)
  std::memcpy(b.qh, qh, 4);
  const auto y = dequant(TensorType::Q5_0, &b, 32);
  EXPECT_EQ(y[0], 1.0f);     // (1 + 16) - 16
  EXPECT_EQ(y[16], -14.0f);  // 2 - 16
  EXPECT_EQ(y[1], -16.0f);   // 0 - 16
  EXPECT_EQ(y[17], 0.0f);    // (0 + 16) - 16
  EXPECT_EQ(y[15], 15.0f);   // (15 + 16) - 16
  EXPECT_EQ(y[31], 15.0f);   // (15 + 16) - 16
  EXPECT_EQ(y[5], -16.0f);
}

TEST(Dequantize, Q5_1) {
  BlockQ5_1 b{};
  b.d = kHalf_0_5;
  b.m = kHalf_2;
  b.qs[3] = 0x0F;                                  // element 3 low bits 15, element 19 low bits 0
  const uint8_t qh[4] = {0x08, 0x00, 0x08, 0x00};  // bits 3 and 19
  std::memcpy(b.qh, qh, 4);
  const auto y = dequant(TensorType::Q5_1, &b, 32);
  EXPECT_EQ(y[3], 17.5f);   // 31 * 0.5 + 2
  EXPECT_EQ(y[19], 10.0f);  // 16 * 0.5 + 2
  EXPECT_EQ(y[0], 2.0f);    // 0 * 0.5 + 2
}

TEST(Dequantize, Q8_0AndQ8_1AndQ8_K) {
  BlockQ8_0 b{};
  b.d = kHalf_0_125;
  b.qs[0] = -127;
  b.qs[1] = 100;
  b.qs[31] = -128;
  auto y = dequant(TensorType::Q8_0, &b, 32);
  EXPECT_EQ(y[0], -15.875f);
  EXPECT_EQ(y[1], 12.5f);
  EXPECT_EQ(y[31], -16.0f);
  EXPECT_EQ(y[2], 0.0f);

  BlockQ8_1 c{};
  c.d = kHalf_0_25;
  c.s = kHalf_1;  // not used for dequantization
  c.qs[7] = 9;
  y = dequant(TensorType::Q8_1, &c, 32);
  EXPECT_EQ(y[7], 2.25f);
  EXPECT_EQ(y[6], 0.0f);

  BlockQ8_K k{};
  k.d = 0.1f;  // float32 scale
  k.qs[200] = -3;
  y = dequant(TensorType::Q8_K, &k, 256);
  EXPECT_EQ(y[200], -3 * 0.1f);
  EXPECT_EQ(y[0], 0.0f);
}

// ---- K-quants: hand-checked elements, then every element against decoders written in the
// order the format describes the super-block (independent of the library's indexing) ----

TEST(Dequantize, Q2_K) {
  BlockQ2_K b{};
  b.d = kHalf_2;
  b.dmin = kHalf_0_5;
  // qs[0] holds elements 0, 32, 64, 96 (bit pairs 0-1, 2-3, 4-5, 6-7) with quants 0, 1, 2, 3.
  b.qs[0] = 0xE4;
  b.scales[0] = 0x31;  // group 0 (elements 0..15): scale 1, min 3
  b.scales[2] = 0x02;  // group 2 (32..47): scale 2, min 0
  b.scales[4] = 0x15;  // group 4 (64..79): scale 5, min 1
  b.scales[6] = 0xF0;  // group 6 (96..111): scale 0, min 15
  b.qs[32] = 0x03;     // element 128 (second half), quant 3
  b.scales[8] = 0x0A;  // group 8: scale 10
  b.qs[17] = 0x0C;     // element 17 (group 1, bits 0-1 of qs[17]) = 0; element 49 = 3
  b.scales[3] = 0x11;  // group 3 (48..63): scale 1, min 1
  const auto y = dequant(TensorType::Q2_K, &b, 256);
  EXPECT_EQ(y[0], -1.5f);    // 2*1*0 - 0.5*3
  EXPECT_EQ(y[32], 4.0f);    // 2*2*1 - 0
  EXPECT_EQ(y[64], 19.5f);   // 2*5*2 - 0.5*1
  EXPECT_EQ(y[96], -7.5f);   // 2*0*3 - 0.5*15
  EXPECT_EQ(y[128], 60.0f);  // 2*10*3
  EXPECT_EQ(y[49], 5.5f);    // 2*1*3 - 0.5*1
  EXPECT_EQ(y[1], -1.5f);    // quant 0 in group 0
}

TEST(Dequantize, Q3_K) {
  BlockQ3_K b{};
  b.d = kHalf_1;
  // Scale 0 = 33 (-> 1): low 4 bits 1 in the low nibble of byte 0, high 2 bits 2 in bits 0-1 of
  // byte 8. Scale 15 = 0 (-> -32). Scale 9 = 40 (-> 8): low 8 in the high nibble of byte 1, high
  // 2 bits 2 in bits 4-5 of byte 9 (9 % 4 = 1, 9 / 4 = 2). All other scales 0 -> -32 too.
  b.scales[0] = 0x01;
  b.scales[8] = 0x02;
  b.scales[1] = 0x80;
  b.scales[9] = 0x20;
  b.qs[0] = 0x03;     // element 0: low bits 3
  b.hmask[0] = 0x01;  // element 0 has its high bit (plane 0): no -4
  // element 1: low bits 0, no high bit -> 0 - 4
  // element 144 = half 1, r = 16: qs[32 + 16] bits 0-1, hmask[16] bit 4, group 9.
  b.qs[48] = 0x02;
  b.hmask[16] = 0x10;
  // element 255 = half 1, r = 127: qs[32 + 31] bits 6-7, hmask[31] bit 7, group 15.
  b.qs[63] = 0x40;  // low bits 1, no high bit -> 1 - 4 = -3
  const auto y = dequant(TensorType::Q3_K, &b, 256);
  EXPECT_EQ(y[0], 3.0f);     // 1 * 3
  EXPECT_EQ(y[1], -4.0f);    // 1 * (0 - 4)
  EXPECT_EQ(y[144], 16.0f);  // 8 * 2
  EXPECT_EQ(y[255], 96.0f);  // -32 * -3
  EXPECT_EQ(y[16], 128.0f);  // group 1 scale -32, quant 0 - 4
}

TEST(Dequantize, Q4_KAndQ5_K) {
  BlockQ4_K b{};
  b.d = kHalf_1;
  b.dmin = kHalf_0_5;
  // Sub-block 0 (elements 0..31, low nibbles of qs[0..31]): scale 2 in byte 0, min 3 in byte 4.
  b.scales[0] = 2;
  b.scales[4] = 3;
  // Sub-block 5 (elements 160..191, high nibbles of qs[64..95]): scale 37 = 0b10'0101, min 50 =
  // 0b11'0010. Low 4 bits in byte 9 (scale low nibble, min high nibble); top 2 bits in the top of
  // byte 1 (scale) and byte 5 (min).
  b.scales[9] = 0x25;
  b.scales[1] |= 0x80;
  b.scales[5] |= 0xC0;
  b.qs[0] = 0x07;   // element 0 = 7; element 32 (sub-block 1: scale 0, min 0) = 0
  b.qs[64] = 0x10;  // element 160 = 1; element 128 (sub-block 4) = 0
  const auto y = dequant(TensorType::Q4_K, &b, 256);
  EXPECT_EQ(y[0], 12.5f);    // 1*2*7 - 0.5*3
  EXPECT_EQ(y[1], -1.5f);    // 1*2*0 - 0.5*3
  EXPECT_EQ(y[160], 12.0f);  // 37*1 - 0.5*50
  EXPECT_EQ(y[161], -25.0f);
  EXPECT_EQ(y[32], 0.0f);

  BlockQ5_K c{};
  c.d = b.d;
  c.dmin = b.dmin;
  std::memcpy(c.scales, b.scales, sizeof(c.scales));
  std::memcpy(c.qs, b.qs, sizeof(c.qs));
  c.qh[0] = 0x20;  // 5th bit of element 160: chunk 2, high nibble -> bit 5 of qh[0]
  c.qh[1] = 0x01;  // 5th bit of element 1: bit 0 of qh[1]
  const auto z = dequant(TensorType::Q5_K, &c, 256);
  EXPECT_EQ(z[160], 604.0f);  // 37*(1+16) - 25
  EXPECT_EQ(z[1], 30.5f);     // 2*(0+16) - 1.5
  EXPECT_EQ(z[0], 12.5f);
}

TEST(Dequantize, Q6_K) {
  BlockQ6_K b{};
  b.d = kHalf_0_5;
  b.scales[0] = -2;
  b.ql[0] = 0x0F;  // element 0 low 4 bits 15
  b.qh[0] = 0x03;  // element 0 high 2 bits 3 -> q = 63 -> 31
  // element 96 (k = 3, l = 0): high nibble of ql[32], bits 6-7 of qh[0], scale 6.
  b.ql[32] = 0x50;
  b.qh[0] |= 0x40;  // high bits 1 -> q = 5 | 16 = 21 -> -11
  b.scales[6] = 4;
  // element 200 = second half, e = 72 (k = 2, l = 8): high nibble of ql[64 + 8], bits 4-5 of
  // qh[32 + 8], scale 8 + 72 / 16 = 12.
  b.ql[72] = 0xA0;
  b.qh[40] = 0x20;  // high bits 2 -> q = 10 | 32 = 42 -> 10
  b.scales[12] = -128;
  const auto y = dequant(TensorType::Q6_K, &b, 256);
  EXPECT_EQ(y[0], -31.0f);     // 0.5 * -2 * 31
  EXPECT_EQ(y[96], -22.0f);    // 0.5 * 4 * -11
  EXPECT_EQ(y[200], -640.0f);  // 0.5 * -128 * 10
  EXPECT_EQ(y[1], 32.0f);      // 0.5 * -2 * -32
}

// Decoders following the format description loop by loop (128-element halves, bit-pair shifts,
// packed scales unpacked with 32-bit masks), used to check every element of random blocks.
void ref_q2_k(const BlockQ2_K& b, float* y) {
  const float d = fp16_to_fp32(b.d), dmin = fp16_to_fp32(b.dmin);
  int g = 0;
  for (int half = 0; half < 2; ++half)
    for (int shift = 0; shift < 8; shift += 2)
      for (int part = 0; part < 2; ++part, ++g)
        for (int l = 0; l < 16; ++l) {
          const int q = (b.qs[32 * half + 16 * part + l] >> shift) & 3;
          *y++ = d * (b.scales[g] & 15) * q - dmin * (b.scales[g] >> 4);
        }
}

void ref_q3_k(const BlockQ3_K& b, float* y) {
  uint32_t aux[4];
  std::memcpy(aux, b.scales, 12);
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & 0x0F0F0F0F) | (((tmp >> 4) & 0x03030303) << 4);
  aux[3] = ((aux[1] >> 4) & 0x0F0F0F0F) | (((tmp >> 6) & 0x03030303) << 4);
  aux[0] = (aux[0] & 0x0F0F0F0F) | (((tmp >> 0) & 0x03030303) << 4);
  aux[1] = (aux[1] & 0x0F0F0F0F) | (((tmp >> 2) & 0x03030303) << 4);
  uint8_t sc[16];
  std::memcpy(sc, aux, 16);
  const float d = fp16_to_fp32(b.d);
  int g = 0, plane = 0;
  for (int half = 0; half < 2; ++half)
    for (int shift = 0; shift < 8; shift += 2, ++plane)
      for (int part = 0; part < 2; ++part, ++g)
        for (int l = 16 * part; l < 16 * part + 16; ++l) {
          const int q = ((b.qs[32 * half + l] >> shift) & 3) - ((b.hmask[l] >> plane) & 1 ? 0 : 4);
          *y++ = d * (sc[g] - 32) * q;
        }
}

void ref_scale_min_k4(int j, const uint8_t* s, int& sc, int& mn) {
  if (j < 4) {
    sc = s[j] & 63;
    mn = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void ref_q45_k(uint16_t dh, uint16_t dminh, const uint8_t* scales, const uint8_t* qs,
               const uint8_t* qh, float* y) {
  const float d = fp16_to_fp32(dh), dmin = fp16_to_fp32(dminh);
  for (int chunk = 0; chunk < 4; ++chunk)
    for (int nib = 0; nib < 2; ++nib) {
      int sc, mn;
      ref_scale_min_k4(2 * chunk + nib, scales, sc, mn);
      for (int l = 0; l < 32; ++l) {
        int q = nib ? qs[32 * chunk + l] >> 4 : qs[32 * chunk + l] & 15;
        if (qh != nullptr && ((qh[l] >> (2 * chunk + nib)) & 1)) q += 16;
        *y++ = d * sc * q - dmin * mn;
      }
    }
}

void ref_q6_k(const BlockQ6_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    const int8_t* sc = b.scales + 8 * half;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[128 * half + l] = d * sc[is] * q1;
      y[128 * half + l + 32] = d * sc[is + 2] * q2;
      y[128 * half + l + 64] = d * sc[is + 4] * q3;
      y[128 * half + l + 96] = d * sc[is + 6] * q4;
    }
  }
}

template <typename Block>
std::vector<Block> random_blocks(size_t count, std::mt19937& rng) {
  std::vector<Block> blocks(count);
  std::uniform_int_distribution<int> byte(0, 255);
  for (Block& b : blocks) {
    auto* p = reinterpret_cast<uint8_t*>(&b);
    for (size_t i = 0; i < sizeof(Block); ++i) p[i] = static_cast<uint8_t>(byte(rng));
  }
  return blocks;
}

// Finite scales (random bytes could make NaN/Inf), including subnormal ones.
uint16_t random_scale(std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, 0x7BFF);
  return static_cast<uint16_t>(pick(rng) | (rng() & 1 ? 0x8000 : 0));
}

TEST(Dequantize, KQuantsMatchFormatDecodersOnRandomBlocks) {
  std::mt19937 rng(123);
  constexpr size_t kBlocks = 64;
  std::vector<float> got(kBlocks * 256), want(kBlocks * 256);

  auto q2 = random_blocks<BlockQ2_K>(kBlocks, rng);
  for (auto& b : q2) b.d = random_scale(rng), b.dmin = random_scale(rng);
  dequantize_row(TensorType::Q2_K, q2.data(), got.data(), got.size());
  for (size_t i = 0; i < kBlocks; ++i) ref_q2_k(q2[i], want.data() + 256 * i);
  EXPECT_EQ(got, want);

  auto q3 = random_blocks<BlockQ3_K>(kBlocks, rng);
  for (auto& b : q3) b.d = random_scale(rng);
  dequantize_row(TensorType::Q3_K, q3.data(), got.data(), got.size());
  for (size_t i = 0; i < kBlocks; ++i) ref_q3_k(q3[i], want.data() + 256 * i);
  EXPECT_EQ(got, want);

  auto q4 = random_blocks<BlockQ4_K>(kBlocks, rng);
  for (auto& b : q4) b.d = random_scale(rng), b.dmin = random_scale(rng);
  dequantize_row(TensorType::Q4_K, q4.data(), got.data(), got.size());
  for (size_t i = 0; i < kBlocks; ++i)
    ref_q45_k(q4[i].d, q4[i].dmin, q4[i].scales, q4[i].qs, nullptr, want.data() + 256 * i);
  EXPECT_EQ(got, want);

  auto q5 = random_blocks<BlockQ5_K>(kBlocks, rng);
  for (auto& b : q5) b.d = random_scale(rng), b.dmin = random_scale(rng);
  dequantize_row(TensorType::Q5_K, q5.data(), got.data(), got.size());
  for (size_t i = 0; i < kBlocks; ++i)
    ref_q45_k(q5[i].d, q5[i].dmin, q5[i].scales, q5[i].qs, q5[i].qh, want.data() + 256 * i);
  EXPECT_EQ(got, want);

  auto q6 = random_blocks<BlockQ6_K>(kBlocks, rng);
  for (auto& b : q6) b.d = random_scale(rng);
  dequantize_row(TensorType::Q6_K, q6.data(), got.data(), got.size());
  for (size_t i = 0; i < kBlocks; ++i) ref_q6_k(q6[i], want.data() + 256 * i);
  EXPECT_EQ(got, want);
}

// The IQ4 level table as the format defines it (spelled out here, not taken from blocks.h).
constexpr int kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                             1,    13,   25,  38,  53,  69,  89,  113};

TEST(Dequantize, IQ4_NL) {
  // d = 0.5; element j (low nibble of qs[j]) has index j, element j + 16 (high nibble) 15 - j.
  BlockIQ4_NL b{};
  b.d = kHalf_0_5;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> want = {-63.5f, -52.0f, -41.5f, -32.5f, -24.5f, -17.5f, -11.0f, -5.0f,
                             0.5f,   6.5f,   12.5f,  19.0f,  26.5f,  34.5f,  44.5f,  56.5f};
  for (int j = 15; j >= 0; --j) want.push_back(want[static_cast<size_t>(j)]);
  EXPECT_EQ(dequant(TensorType::IQ4_NL, &b, 32), want);
  // A second block with scale -1: the levels negated.
  BlockIQ4_NL two[2] = {b, b};
  two[1].d = kHalf_m1;
  const auto y = dequant(TensorType::IQ4_NL, two, 64);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[32 + j], static_cast<float>(-kLevels[j])) << j;
    EXPECT_EQ(y[48 + j], static_cast<float>(-kLevels[15 - j])) << j;
  }
}

TEST(Dequantize, IQ4_XS) {
  // Sub-block scales ls = 0, 1, 31, 32, 33, 47, 62, 63, i.e. d * (-32, -31, -1, 0, 1, 15, 30, 31),
  // packed by hand: low nibbles 0, 1, 15, 0, 1, 15, 14, 15 (two per scales_l byte, sub-block 2i
  // low), high bit pairs 0, 0, 1, 2, 2, 2, 3, 3 (scales_h bits 2b..2b+1).
  BlockIQ4_XS b{};
  b.d = kHalf_0_25;
  const uint8_t scales_l[4] = {0x10, 0x0F, 0xF1, 0xFE};
  std::memcpy(b.scales_l, scales_l, 4);
  b.scales_h = 0xFA90;
  for (int s = 0; s < 8; ++s)
    for (int j = 0; j < 16; ++j)
      b.qs[16 * s + j] = static_cast<uint8_t>(((j + s) % 16) | (((3 * j + s) % 16) << 4));
  const int mult[8] = {-32, -31, -1, 0, 1, 15, 30, 31};
  const auto y = dequant(TensorType::IQ4_XS, &b, 256);
  for (int s = 0; s < 8; ++s)
    for (int j = 0; j < 16; ++j) {
      const float dl = 0.25f * static_cast<float>(mult[s]);
      EXPECT_EQ(y[32 * s + j], dl * static_cast<float>(kLevels[(j + s) % 16])) << s << " " << j;
      EXPECT_EQ(y[32 * s + 16 + j], dl * static_cast<float>(kLevels[(3 * j + s) % 16]))
          << s << " " << j;
    }
}

// ---- quantizers ----

struct RoundTripCase {
  TensorType type;
  double max_err_over_range;  // bound on |x - y| as a fraction of the block's value range
};

TEST(Quantize, RoundTripErrorWithinHalfStep) {
  // Worst-case error is half a quantization step (a full step for the one clamped end value of
  // the symmetric types), plus the fp16 rounding of the scale and offset.
  const RoundTripCase cases[] = {
      {TensorType::Q8_0, 0.5 / 127 * 2}, {TensorType::Q8_1, 0.5 / 127 * 2},
      {TensorType::Q8_K, 0.5 / 127 * 2}, {TensorType::Q4_0, 1.0 / 8},
      {TensorType::Q4_1, 0.5 / 15},      {TensorType::Q5_0, 1.0 / 16},
      {TensorType::Q5_1, 0.5 / 31},
  };
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.3f, 2.0f);
  constexpr size_t n = 1024;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = normal(rng);
  for (const auto& c : cases) {
    SCOPED_TRACE(type_name(c.type));
    ASSERT_TRUE(can_quantize(c.type));
    std::vector<uint8_t> q(row_bytes(c.type, n));
    quantize_row(c.type, x.data(), q.data(), n);
    dequantize_row(c.type, q.data(), y.data(), n);
    const size_t bs = traits(c.type).block_size;
    for (size_t b0 = 0; b0 < n; b0 += bs) {
      const auto [lo, hi] = std::minmax_element(x.begin() + b0, x.begin() + b0 + bs);
      const double amax = std::max(std::fabs(*lo), std::fabs(*hi));
      // Symmetric types: range is 2 * amax; offset types: max - min.
      const bool offset = c.type == TensorType::Q4_1 || c.type == TensorType::Q5_1;
      const double range = offset ? *hi - *lo : 2 * amax;
      const double slack = 1e-3 * amax;  // fp16 rounding of d (and m): relative 2^-11 each
      for (size_t i = b0; i < b0 + bs; ++i)
        ASSERT_LE(std::fabs(x[i] - y[i]), c.max_err_over_range * range + slack) << i;
    }
  }
}

TEST(Quantize, ExactlyRepresentableValuesRoundTripExactly) {
  // Values k * 0.25 for k in -127..127 with the extremes present: Q8_0 finds d = 0.25 exactly.
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = (i * 8 - 127) * 0.25f;
  x[31] = 127 * 0.25f;
  BlockQ8_0 q8;
  quantize_row(TensorType::Q8_0, x.data(), &q8, 32);
  EXPECT_EQ(q8.d, 0x3400);  // 0.25
  EXPECT_EQ(dequant(TensorType::Q8_0, &q8, 32), x);

  // Q4_0: values (q - 8) * 0.5 with -4 (q = 0) the largest magnitude -> d = 0.5.
  for (int i = 0; i < 32; ++i) x[i] = ((i * 5) % 16 - 8) * 0.5f;
  BlockQ4_0 q4;
  quantize_row(TensorType::Q4_0, x.data(), &q4, 32);
  EXPECT_EQ(q4.d, 0x3800);
  EXPECT_EQ(dequant(TensorType::Q4_0, &q4, 32), x);

  // Q4_1 and Q5_1: min -1, step 0.25 / 0.125.
  for (int i = 0; i < 32; ++i) x[i] = -1.0f + (i % 16) * 0.25f;
  BlockQ4_1 q41;
  quantize_row(TensorType::Q4_1, x.data(), &q41, 32);
  EXPECT_EQ(dequant(TensorType::Q4_1, &q41, 32), x);
  for (int i = 0; i < 32; ++i) x[i] = -1.0f + i * 0.125f;
  x[31] = -1.0f + 31 * 0.125f;
  BlockQ5_1 q51;
  quantize_row(TensorType::Q5_1, x.data(), &q51, 32);
  EXPECT_EQ(dequant(TensorType::Q5_1, &q51, 32), x);

  // Q5_0: (q - 16) * 0.25 with -4 (q = 0) the extreme.
  for (int i = 0; i < 32; ++i) x[i] = (i - 16) * 0.25f;
  BlockQ5_0 q50;
  quantize_row(TensorType::Q5_0, x.data(), &q50, 32);
  EXPECT_EQ(dequant(TensorType::Q5_0, &q50, 32), x);
}

// Round-trip RMSE of a type on 65536 values drawn from N(0, 1) (the same values for every type).
double normal_round_trip_rmse(TensorType t) {
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr size_t n = 256 * 256;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = normal(rng);
  std::vector<uint8_t> q(row_bytes(t, n));
  quantize_row(t, x.data(), q.data(), n);
  dequantize_row(t, q.data(), y.data(), n);
  double e = 0;
  for (size_t i = 0; i < n; ++i) e += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
  return std::sqrt(e / n);
}

// K-quants: the scale search gives the RMSE expected of each format on N(0, 1) data (bounds ~10%
// above what the quantizers reach), ordered by bits per weight, and Q4_K (4.5 bits) beats the
// legacy 4.5- and 5-bit types thanks to its searched sub-block scales and mins.
TEST(Quantize, KQuantRoundTripRmse) {
  const auto rmse = normal_round_trip_rmse;
  const struct {
    TensorType t;
    double bound;
  } cases[] = {{TensorType::Q2_K, 0.30},
               {TensorType::Q3_K, 0.16},
               {TensorType::Q4_K, 0.080},
               {TensorType::Q5_K, 0.040},
               {TensorType::Q6_K, 0.019}};
  double prev = 1.0;
  for (const auto& c : cases) {
    const double e = rmse(c.t);
    std::printf("%s rmse %.4f\n", std::string(type_name(c.t)).c_str(), e);
    EXPECT_LE(e, c.bound) << type_name(c.t);
    EXPECT_LT(e, prev) << type_name(c.t);
    prev = e;
  }
  EXPECT_LT(rmse(TensorType::Q4_K), rmse(TensorType::Q4_0));
  EXPECT_LT(rmse(TensorType::Q4_K), rmse(TensorType::Q4_1));
}

// Awkward super-blocks: zeros, a constant, all-positive values (min 0), one huge outlier, and
// sub-blocks of very different scales: finite results with errors bounded by each sub-block's
// share of the super-block scale.
TEST(Quantize, KQuantEdgeCases) {
  std::vector<float> x(256 * 5);
  for (int i = 0; i < 256; ++i) x[i] = 0.0f;
  for (int i = 256; i < 512; ++i) x[i] = 0.75f;
  for (int i = 512; i < 768; ++i) x[i] = 1.0f + static_cast<float>(i % 7);
  for (int i = 768; i < 1024; ++i) x[i] = i == 800 ? 1000.0f : std::sin(static_cast<float>(i));
  for (int i = 1024; i < 1280; ++i)
    x[i] = std::sin(static_cast<float>(i)) * ((i / 16) % 2 ? 100.0f : 0.01f);
  for (TensorType t :
       {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K}) {
    SCOPED_TRACE(type_name(t));
    std::vector<uint8_t> q(row_bytes(t, x.size()));
    std::vector<float> y(x.size());
    quantize_row(t, x.data(), q.data(), x.size());
    dequantize_row(t, q.data(), y.data(), x.size());
    for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.0f) << i;
    for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(std::isfinite(y[i])) << i;
    // The constant block is reproduced closely, all-positive values stay near their range.
    for (int i = 256; i < 512; ++i) EXPECT_NEAR(y[i], 0.75f, 0.05f) << i;
    for (int i = 512; i < 768; ++i) EXPECT_NEAR(y[i], x[i], 7.0 / 3 + 0.05) << i;
    EXPECT_NEAR(y[800], 1000.0f, 1000.0f / 3);
  }
}

// IQ4: the searched scales give the error expected of 4.5 (IQ4_NL) and 4.25 (IQ4_XS) bits per
// weight on N(0, 1) data (bounds ~5 % above what the quantizers reach): IQ4_NL well below Q4_0
// at the same size, IQ4_XS below Q4_0 at fewer bits and close to Q4_K's 4.5 bits.
TEST(Quantize, IQ4RoundTripRmse) {
  const auto rmse = normal_round_trip_rmse;
  const double nl = rmse(TensorType::IQ4_NL), xs = rmse(TensorType::IQ4_XS);
  const double q4_0 = rmse(TensorType::Q4_0), q4_k = rmse(TensorType::Q4_K);
  std::printf("rmse IQ4_NL %.4f IQ4_XS %.4f Q4_0 %.4f Q4_K %.4f\n", nl, xs, q4_0, q4_k);
  EXPECT_LE(nl, 1.0);
  EXPECT_LE(xs, 1.0);
  EXPECT_LT(nl, 0.9 * q4_0);
  EXPECT_LT(xs, q4_0);
  EXPECT_LT(xs, 1.1 * q4_k);
}

TEST(Quantize, IQ4ExactlyRepresentableValuesRoundTripExactly) {
  // IQ4_NL: 0.5 * L[q] with both ends of the table present: d = 0.5 is found exactly.
  std::vector<float> x(256);
  for (int i = 0; i < 32; ++i)
    x[static_cast<size_t>(i)] = 0.5f * static_cast<float>(kLevels[(i * 7) % 16]);
  BlockIQ4_NL nl;
  quantize_row(TensorType::IQ4_NL, x.data(), &nl, 32);
  EXPECT_EQ(nl.d, kHalf_0_5);
  EXPECT_EQ(dequant(TensorType::IQ4_NL, &nl, 32), std::vector<float>(x.begin(), x.begin() + 32));
  // IQ4_XS: sub-block b holds 0.125 * m_b * L[q] with -32 the multiple of largest magnitude (so
  // d = 0.125) and an all-zero sub-block.
  const int mult[8] = {7, -32, -3, 0, 31, 12, -20, 1};
  for (int i = 0; i < 256; ++i)
    x[static_cast<size_t>(i)] =
        0.125f * static_cast<float>(mult[i / 32] * kLevels[(i * 5 + i / 32) % 16]);
  BlockIQ4_XS xs;
  quantize_row(TensorType::IQ4_XS, x.data(), &xs, 256);
  EXPECT_EQ(dequant(TensorType::IQ4_XS, &xs, 256), x);
}

// Awkward blocks: zeros, a constant, all-positive values, one huge outlier, and sub-blocks of very
// different scales: finite results, exact zeros, errors bounded by the block's range.
TEST(Quantize, IQ4EdgeCases) {
  std::vector<float> x(256 * 5);
  for (int i = 0; i < 256; ++i) x[static_cast<size_t>(i)] = 0.0f;
  for (int i = 256; i < 512; ++i) x[static_cast<size_t>(i)] = 0.75f;
  for (int i = 512; i < 768; ++i) x[static_cast<size_t>(i)] = 1.0f + static_cast<float>(i % 7);
  for (int i = 768; i < 1024; ++i)
    x[static_cast<size_t>(i)] = i == 800 ? 1000.0f : std::sin(static_cast<float>(i));
  for (int i = 1024; i < 1280; ++i)
    x[static_cast<size_t>(i)] = std::sin(static_cast<float>(i)) * ((i / 32) % 2 ? 100.0f : 0.01f);
  for (TensorType t : {TensorType::IQ4_NL, TensorType::IQ4_XS}) {
    SCOPED_TRACE(type_name(t));
    std::vector<uint8_t> q(row_bytes(t, x.size()));
    std::vector<float> y(x.size());
    quantize_row(t, x.data(), q.data(), x.size());
    dequantize_row(t, q.data(), y.data(), x.size());
    for (int i = 0; i < 256; ++i) EXPECT_EQ(y[static_cast<size_t>(i)], 0.0f) << i;
    for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(std::isfinite(y[i])) << i;
    for (int i = 256; i < 512; ++i) EXPECT_NEAR(y[static_cast<size_t>(i)], 0.75f, 0.01f) << i;
    // All-positive values 1..7: within a step of the coarsest part of the table.
    for (int i = 512; i < 768; ++i)
      EXPECT_NEAR(y[static_cast<size_t>(i)], x[static_cast<size_t>(i)], 0.7) << i;
    EXPECT_NEAR(y[800], 1000.0f, 50.0f);
    // Sub-blocks of 0.01 beside sub-blocks of 100: IQ4_NL (a scale per 32) keeps both; IQ4_XS's
    // 6-bit multiples of one scale keep the large ones.
    for (int i = 1024; i < 1280; ++i) {
      const bool large = (i / 32) % 2 != 0;
      if (large || t == TensorType::IQ4_NL) {
        EXPECT_NEAR(y[static_cast<size_t>(i)], x[static_cast<size_t>(i)], large ? 12.0 : 0.0012)
            << i;
      }
    }
  }
}

TEST(Quantize, ZeroBlockAndSums) {
  std::vector<float> zeros(256, 0.0f);
  BlockQ4_0 q4;
  quantize_row(TensorType::Q4_0, zeros.data(), &q4, 32);
  EXPECT_EQ(dequant(TensorType::Q4_0, &q4, 32), std::vector<float>(32, 0.0f));
  BlockQ8_K q8k;
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 16 == 0 ? 127 : 1);
  quantize_row(TensorType::Q8_K, x.data(), &q8k, 256);
  EXPECT_EQ(q8k.d, 1.0f);
  for (int g = 0; g < 16; ++g) EXPECT_EQ(q8k.bsums[g], 127 + 15);
  BlockQ8_1 q81;
  quantize_row(TensorType::Q8_1, x.data(), &q81, 32);
  EXPECT_EQ(fp16_to_fp32(q81.s), 2.0f * (127 + 15));  // d * sum(q) = 1 * 284
}

TEST(Quantize, FloatTypesUseRoundToNearestEven) {
  const float x[2] = {1.0f + std::ldexp(1.0f, -11), -3.0f};
  uint16_t h[2], b[2];
  quantize_row(TensorType::F16, x, h, 2);
  quantize_row(TensorType::BF16, x, b, 2);
  EXPECT_EQ(h[0], 0x3C00);
  EXPECT_EQ(h[1], 0xC200);
  EXPECT_EQ(b[0], 0x3F80);
  EXPECT_EQ(b[1], 0xC040);
}

TEST(QuantApi, SupportAndErrors) {
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0,
                       TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                       TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                       TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS})
    EXPECT_TRUE(can_dequantize(t)) << type_name(t);
  EXPECT_FALSE(can_dequantize(TensorType::IQ2_XXS));
  EXPECT_TRUE(can_quantize(TensorType::Q4_K));
  EXPECT_TRUE(can_quantize(TensorType::Q5_1));
  EXPECT_TRUE(can_quantize(TensorType::IQ4_NL));
  EXPECT_TRUE(can_quantize(TensorType::IQ4_XS));
  EXPECT_FALSE(can_quantize(TensorType::IQ3_S));
  float out[256];
  uint8_t buf[512] = {};
  try {
    dequantize_row(TensorType::IQ2_XXS, buf, out, 256);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("IQ2_XXS"), std::string::npos) << e.what();
  }
  try {
    quantize_row(TensorType::IQ3_S, out, buf, 256);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("IQ3_S"), std::string::npos) << e.what();
  }
  EXPECT_THROW(quantize_row(TensorType::Q4_K, out, buf, 255), Error);
  EXPECT_THROW(dequantize_row(TensorType::Q4_0, buf, out, 33), Error);
  EXPECT_THROW(quantize_row(TensorType::IQ4_XS, out, buf, 224), Error);  // not a whole super-block
  EXPECT_THROW(dequantize_row(TensorType::IQ4_NL, buf, out, 48), Error);
  EXPECT_THROW(dequantize_row(static_cast<TensorType>(77), buf, out, 1), Error);
}

}  // namespace
}  // namespace minillm::kernels
