// fp16 / bf16 conversions: values derived from the IEEE 754 binary16 and bfloat16 definitions,
// rounding ties, special values, and the SIMD row conversions against the scalar ones.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/f16.h"
#include "kernels_test_util.h"

namespace minillm::kernels {
namespace {

using testing::ScopedIsa;
using testing::supported_isas;

uint32_t bits(float f) {
  return std::bit_cast<uint32_t>(f);
}
float from_bits(uint32_t b) {
  return std::bit_cast<float>(b);
}

// binary16 value straight from its definition: (-1)^s * 2^(e-15) * (1 + m/1024), or
// 2^-14 * m/1024 for e == 0.
double half_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return s ? -mag : mag;
}

TEST(F16Scalar, KnownValues) {
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x3555), 0.25f * (1.0f + 0x155 / 1024.0f));  // 0.333251953125
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);                          // largest finite
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));             // smallest normal
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));             // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x03FF), std::ldexp(1023.0f, -24));          // largest subnormal
  EXPECT_EQ(bits(fp16_to_fp32(0x8000)), 0x80000000u);                 // -0
  EXPECT_EQ(fp16_to_fp32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_fp32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7C01)));  // signalling NaN stays NaN (made quiet)
}

TEST(F16Scalar, AllPatternsDecodeAndRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto hh = static_cast<uint16_t>(h);
    const float f = fp16_to_fp32(hh);
    if (((h >> 10) & 31) == 31 && (h & 1023) != 0) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f)))) << h;
      continue;
    }
    if (((h >> 10) & 31) == 31) {
      ASSERT_TRUE(std::isinf(f)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(f), half_value(hh)) << h;
    }
    ASSERT_EQ(std::signbit(f), (h >> 15) != 0) << h;
    ASSERT_EQ(fp32_to_fp16(f), hh) << h;
  }
}

TEST(F16Scalar, RoundsToNearestEven) {
  // Near 1.0 the half spacing is 2^-10; halfway points are 2^-11 away.
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even (1.0)
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (1+2^-9)
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  EXPECT_EQ(fp32_to_fp16(-(1.0f + std::ldexp(1.0f, -11))), 0xBC00);
  // Overflow: 65504 + 16 = 65520 is the tie between 65504 (odd mantissa) and 2^16 (Inf).
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-1e10f), 0xFC00);
  // Subnormal results: units of 2^-24.
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 1 -> 0
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25) * 1.0001f), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);  // tie between 1 and 2 -> 2
  EXPECT_EQ(fp32_to_fp16(std::ldexp(5.0f, -25)), 0x0002);  // tie between 2 and 3 -> 2
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)), 0x0400);  // -> normal
  EXPECT_EQ(fp32_to_fp16(1e-10f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-1e-10f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7C00);
  const uint16_t nan = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  EXPECT_NE(fp32_to_fp16(from_bits(0x7F800001u)) & 0x03FF, 0);  // NaN payload below the kept bits
}

#ifdef __FLT16_MAX__
// The compiler's _Float16 conversion (libgcc, round to nearest even) is an independent reference.
TEST(F16Scalar, MatchesCompilerConversionOnSweep) {
  for (uint64_t b = 0; b < (1ull << 32); b += 251) {
    const float f = from_bits(static_cast<uint32_t>(b));
    if (std::isnan(f)) continue;
    const auto ref = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    ASSERT_EQ(fp32_to_fp16(f), ref) << std::hex << b;
  }
}
#endif

TEST(Bf16Scalar, Conversions) {
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xC040), -3.0f);
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  // Spacing near 1 is 2^-7; the tie 1 + 2^-8 goes to the even 1.0, 1 + 3*2^-8 to 1 + 2^-6.
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808000u)), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F818000u)), 0x3F82);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x3F807FFFu)), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7F7FFFFFu)), 0x7F80);  // max float rounds up to Inf
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x00018000u)), 0x0002);  // subnormal tie, not flushed
  EXPECT_EQ(fp32_to_bf16(from_bits(0x80010000u)), 0x8001);
  // NaNs stay NaN, even when rounding the payload would carry into the exponent.
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(fp32_to_bf16(from_bits(0x7FFFFFFFu)), 0x7FFF);
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(b));
    ASSERT_EQ(bits(f), b << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(fp32_to_bf16(f), b);
    }
  }
}

std::vector<float> special_and_random_floats(size_t n) {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.0f,
                          65504.0f,
                          65519.0f,
                          65520.0f,
                          1e10f,
                          -1e10f,
                          std::ldexp(1.0f, -25),
                          std::ldexp(3.0f, -25),
                          1e-10f,
                          from_bits(0x3F808000u),
                          from_bits(0x3F818000u),
                          from_bits(0x00018000u),
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          from_bits(0x7FC00000u),
                          from_bits(0x7F800001u),
                          from_bits(0xFFFFFFFFu)};
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  std::normal_distribution<float> normal(0.0f, 3.0f);
  while (v.size() < n) {
    v.push_back(normal(rng));
    v.push_back(from_bits(any(rng)));  // every exponent, NaNs and subnormals included
  }
  v.resize(n);
  return v;
}

TEST(F16Rows, SimdMatchesScalarBitwise) {
  std::vector<uint16_t> halves(65536 + 13);
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i * 40503u);
  for (uint32_t h = 0; h < 65536; ++h) halves[h] = static_cast<uint16_t>(h);
  const std::vector<float> floats = special_and_random_floats(4099);

  std::vector<float> ref_f(halves.size()), ref_bf(halves.size());
  convert_f16_to_f32_scalar(halves.data(), ref_f.data(), halves.size());
  convert_bf16_to_f32_scalar(halves.data(), ref_bf.data(), halves.size());
  std::vector<uint16_t> ref_h(floats.size()), ref_b(floats.size());
  convert_f32_to_f16_scalar(floats.data(), ref_h.data(), floats.size());
  convert_f32_to_bf16_scalar(floats.data(), ref_b.data(), floats.size());

  for (Isa isa : supported_isas()) {
    SCOPED_TRACE(isa_name(isa));
    ScopedIsa scope(isa);
    // Every length 0..40 exercises each tail size, at an odd offset.
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{15}, size_t{16}, size_t{17},
                     size_t{31}, size_t{33}, size_t{40}, halves.size() - 1}) {
      std::vector<float> f(n + 1, 42.0f), bf(n + 1, 42.0f);
      convert_f16_to_f32(halves.data() + 1, f.data(), n);
      convert_bf16_to_f32(halves.data() + 1, bf.data(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(bits(f[i]), bits(ref_f[i + 1])) << "f16 " << halves[i + 1];
        ASSERT_EQ(bits(bf[i]), bits(ref_bf[i + 1])) << "bf16 " << halves[i + 1];
      }
      EXPECT_EQ(f[n], 42.0f);  // nothing written past the end
      EXPECT_EQ(bf[n], 42.0f);
      const size_t m = std::min(n, floats.size() - 1);
      std::vector<uint16_t> h(m + 1, 0xABCD), b(m + 1, 0xABCD);
      convert_f32_to_f16(floats.data() + 1, h.data(), m);
      convert_f32_to_bf16(floats.data() + 1, b.data(), m);
      for (size_t i = 0; i < m; ++i) {
        ASSERT_EQ(h[i], ref_h[i + 1]) << "to f16 " << std::hex << bits(floats[i + 1]);
        ASSERT_EQ(b[i], ref_b[i + 1]) << "to bf16 " << std::hex << bits(floats[i + 1]);
      }
      EXPECT_EQ(h[m], 0xABCD);
      EXPECT_EQ(b[m], 0xABCD);
    }
  }
}

}  // namespace
}  // namespace minillm::kernels
