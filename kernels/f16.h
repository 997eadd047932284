// Half-precision (IEEE binary16) and bfloat16 conversions to and from float32.
// Scalar conversions are exact (widening) or round-to-nearest-even (narrowing), with NaN, Inf and
// subnormals handled as IEEE 754 defines them; NaNs stay NaN (quietened, payload truncated).
// Bulk row conversions pick an AVX2/F16C or AVX-512 path at run time and give bit-identical
// results to the scalar conversions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace minillm::kernels {

// binary16 -> float32; every half value is exactly representable as a float.
inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {  // Inf, or NaN made quiet (as F16C hardware does)
    bits = sign | 0x7F800000u | (mant ? 0x400000u | (mant << 13) : 0u);
  } else if (exp != 0) {  // normal: rebias 15 -> 127
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal mant * 2^-24: shift the leading one up to the implicit-bit position
    const int shift = std::countl_zero(mant) - 21;
    mant <<= shift;
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | ((mant & 0x3FFu) << 13);
  }
  return std::bit_cast<float>(bits);
}

// float32 -> binary16, round to nearest, ties to even; overflow gives Inf.
inline uint16_t fp32_to_fp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
  if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520 rounds to Inf
  if (a >= 0x38800000u) {                   // result is a normal half (|f| >= 2^-14)
    uint32_t h = (a >> 13) - (112u << 10);  // rebias 127 -> 15, keep 10 mantissa bits
    const uint32_t rem = a & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry may bump the exponent
    return static_cast<uint16_t>(sign | h);
  }
  // Result is subnormal or zero: value = m * 2^(e-150); in units of 2^-24 that is m >> (126-e).
  const uint32_t e = a >> 23;
  if (e < 102) return static_cast<uint16_t>(sign);  // below 2^-25: rounds to zero
  const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
  const uint32_t s = 126u - e;  // 14..24
  uint32_t q = m >> s;
  const uint32_t rem = m & ((1u << s) - 1u);
  const uint32_t half = 1u << (s - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may round up to the smallest normal
  return static_cast<uint16_t>(sign | q);
}

// bfloat16 is the upper half of a float32: widening is a shift.
inline float bf16_to_fp32(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

// float32 -> bfloat16, round to nearest, ties to even; subnormals kept (no flush to zero).
inline uint16_t fp32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

// Row conversions, dispatched on active_isa(); results are identical to the scalar functions.
void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_f16(const float* src, uint16_t* dst, size_t n);
void convert_bf16_to_f32(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_bf16(const float* src, uint16_t* dst, size_t n);

// The scalar versions of the row conversions, always available (reference for tests).
void convert_f16_to_f32_scalar(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_f16_scalar(const float* src, uint16_t* dst, size_t n);
void convert_bf16_to_f32_scalar(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_bf16_scalar(const float* src, uint16_t* dst, size_t n);

}  // namespace minillm::kernels
