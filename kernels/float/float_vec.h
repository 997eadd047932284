// The float vectors of the float kernels (float_kernels.h), which are written once over them:
// F256 (AVX2 + FMA + F16C, 8 lanes) and F512 (AVX-512, 16 lanes). Each says how its ISA loads,
// converts and stores a vector, the rest (loops, accumulator order, tails) is shared.
//
// Why not xsimd (the design's SIMD library): its batches have no fp16 or bf16 conversions and no
// partial loads and stores, which are most of what differs between the two widths here; and its
// functions are inline templates with external linkage, which the per-ISA files must not
// instantiate (isa_local.h says why).
//
// Included only by per-ISA files, with their instruction-set flags; everything here has internal
// linkage. Each struct is defined where the file's flags allow it.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/isa_local.h"

namespace minillm::kernels::isa {
namespace {

// Every conversion to fp16 rounds to nearest even, without exceptions.
inline constexpr int kRoundF16 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
struct F256 {
  using F = __m256;
  using I = __m256i;
  static constexpr size_t kW = 8;
  static constexpr int kTileTokens = 1;  // 16 registers: no room for a tile of tokens

  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F in_register(F v) {  // see float_kernels.h: dot_tile
    __asm__("" : "+x"(v));
    return v;
  }

  // Lanes [0, left) enabled, for maskload / maskstore.
  static I tail(size_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static F load(const float* p, size_t left) {  // lanes past `left` read as zero
    return left >= kW ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail(left));
  }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, F v, size_t left) {
    if (left >= kW)
      _mm256_storeu_ps(p, v);
    else
      _mm256_maskstore_ps(p, tail(left), v);
  }

  // 16-bit lanes: no masked 16-bit loads and stores in AVX2, so tails use a zeroed buffer.
  static __m128i load_u16(const uint16_t* p, size_t left) {
    if (left >= kW) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    alignas(16) uint16_t buf[kW] = {};
    std::memcpy(buf, p, left * sizeof(uint16_t));
    return _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
  }
  static void store_u16(uint16_t* p, __m128i v, size_t left) {
    if (left >= kW) return _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
    alignas(16) uint16_t buf[kW];
    _mm_store_si128(reinterpret_cast<__m128i*>(buf), v);
    std::memcpy(p, buf, left * sizeof(uint16_t));
  }
  static F load_f16(const uint16_t* p, size_t left) { return _mm256_cvtph_ps(load_u16(p, left)); }
  static F load_bf16(const uint16_t* p, size_t left) {
    const I h = _mm256_cvtepu16_epi32(load_u16(p, left));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
  }
  static void store_f16(uint16_t* p, F v, size_t left) {
    store_u16(p, _mm256_cvtps_ph(v, kRoundF16), left);
  }
  // bf16 by integer arithmetic (round to nearest even; a NaN keeps its top half, made quiet).
  static void store_bf16(uint16_t* p, F v, size_t left) {
    const I x = _mm256_castps_si256(v);
    const I lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    const I rounded = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7FFF)), lsb), 16);
    const I abs = _mm256_and_si256(x, _mm256_set1_epi32(0x7FFFFFFF));
    const I is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7F800000));
    const I nan = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    const I r = _mm256_blendv_epi8(rounded, nan, is_nan);
    const I packed = _mm256_packus_epi32(r, r);  // per 128-bit lane: [r0..3 r0..3]
    store_u16(p, _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08)), left);
  }

  // Signed bytes -> floats times d (exact: an 8-bit integer times an fp16 value).
  static F scaled_bytes(__m128i bytes, F d) {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)), d);
  }
  // Elements at..at+7 of the Q8_0 row of blocks b (at a multiple of 8).
  static F q8_0_slice(const BlockQ8_0* b, size_t at) {
    const BlockQ8_0& blk = b[at / kQK];
    return scaled_bytes(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.qs + at % kQK)),
                        _mm256_set1_ps(_cvtsh_ss(blk.d)));
  }
  // A Q4_0 / Q8_0 block as 4 vectors of 8 elements in order.
  static void q4_0_block(const uint8_t* blk, F v[4]) {
    const F d = _mm256_set1_ps(_cvtsh_ss(static_cast<uint16_t>(blk[0] | blk[1] << 8)));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    const __m128i mask = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, mask), eight);  // signed -8..7
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), eight);
    v[0] = scaled_bytes(lo, d);
    v[1] = scaled_bytes(_mm_unpackhi_epi64(lo, lo), d);
    v[2] = scaled_bytes(hi, d);
    v[3] = scaled_bytes(_mm_unpackhi_epi64(hi, hi), d);
  }
  static void q8_0_block(const uint8_t* blk, F v[4]) {
    const F d = _mm256_set1_ps(_cvtsh_ss(static_cast<uint16_t>(blk[0] | blk[1] << 8)));
    const auto* q = reinterpret_cast<const __m128i*>(blk + 2);
    const __m128i a = _mm_loadu_si128(q), b = _mm_loadu_si128(q + 1);
    v[0] = scaled_bytes(a, d);
    v[1] = scaled_bytes(_mm_unpackhi_epi64(a, a), d);
    v[2] = scaled_bytes(b, d);
    v[3] = scaled_bytes(_mm_unpackhi_epi64(b, b), d);
  }

  // The sum of the lanes, by a fixed tree.
  static float hsum(F v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
};
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__)
struct F512 {
  using F = __m512;
  using I = __m512i;
  static constexpr size_t kW = 16;
  static constexpr int kTileTokens = 3;  // 4 rows x 3 tokens x 2 accumulators of 32 registers

  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F in_register(F v) {
    __asm__("" : "+v"(v));
    return v;
  }

  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static F load(const float* p, size_t left) { return _mm512_maskz_loadu_ps(lanes16(left), p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, F v, size_t left) { _mm512_mask_storeu_ps(p, lanes16(left), v); }

  static F load_f16(const uint16_t* p, size_t left) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes16(left), p));
  }
  static F load_bf16(const uint16_t* p, size_t left) {
    const I h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes16(left), p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
  }
  static void store_f16(uint16_t* p, F v, size_t left) {
    _mm256_mask_storeu_epi16(p, lanes16(left), _mm512_cvtps_ph(v, kRoundF16));
  }
  // bf16 by integer arithmetic, as F256's: VCVTNEPS2BF16 flushes subnormals to zero and so would
  // differ from the exact scalar reference.
  static void store_bf16(uint16_t* p, F v, size_t left) {
    const I x = _mm512_castps_si512(v);
    const I lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    const I rounded = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7FFF)), lsb), 16);
    const I abs = _mm512_and_si512(x, _mm512_set1_epi32(0x7FFFFFFF));
    const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(abs, _mm512_set1_epi32(0x7F800000));
    const I nan = _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    _mm256_mask_storeu_epi16(p, lanes16(left),
                             _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(is_nan, rounded, nan)));
  }

  static F scaled_bytes(__m128i bytes, F d) {
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)), d);
  }
  // Elements at..at+15 of the Q8_0 row of blocks b (at a multiple of 16): half a block.
  static F q8_0_slice(const BlockQ8_0* b, size_t at) {
    const BlockQ8_0& blk = b[at / kQK];
    return scaled_bytes(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs + at % kQK)),
                        _mm512_set1_ps(_cvtsh_ss(blk.d)));
  }
  // A Q4_0 / Q8_0 block as 2 vectors of 16 elements in order.
  static void q4_0_block(const uint8_t* blk, F v[2]) {
    const F d = _mm512_set1_ps(_cvtsh_ss(static_cast<uint16_t>(blk[0] | blk[1] << 8)));
    const I q = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
    const I eight = _mm512_set1_epi32(8);
    const I lo = _mm512_sub_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0x0F)), eight);
    const I hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
    v[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d);
    v[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d);
  }
  static void q8_0_block(const uint8_t* blk, F v[2]) {
    const F d = _mm512_set1_ps(_cvtsh_ss(static_cast<uint16_t>(blk[0] | blk[1] << 8)));
    const auto* q = reinterpret_cast<const __m128i*>(blk + 2);
    v[0] = scaled_bytes(_mm_loadu_si128(q), d);
    v[1] = scaled_bytes(_mm_loadu_si128(q + 1), d);
  }

  static float hsum(F v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
  }
};
#endif

}  // namespace
}  // namespace minillm::kernels::isa
