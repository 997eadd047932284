// AVX2 token masking (compiled with -mavx2; see isa_entry.h): 8 bits of the bitmap spread over
// 8 lanes (each lane tests its own bit), then a blend with -inf per 8 values; all-set words are
// skipped.
#include <immintrin.h>

#include "kernels/isa_entry.h"

namespace minillm::kernels::isa {

bool mask_tokens_avx2(float* x, const uint64_t* allowed, size_t n) {
  const __m256 minus_inf = _mm256_set1_ps(-__builtin_inff());
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  uint64_t any = 0;
  for (size_t w = 0; w * 64 < n; ++w) {
    const size_t count = n - w * 64 < 64 ? n - w * 64 : 64;
    const uint64_t valid = count == 64 ? ~uint64_t(0) : ~(~uint64_t(0) << count);
    const uint64_t bits = allowed[w] | ~valid;  // bits past n count as set: left alone
    any |= allowed[w] & valid;
    if (bits == ~uint64_t(0)) continue;
    float* p = x + w * 64;
    for (size_t k = 0; k * 8 < count; ++k) {
      const __m256i byte = _mm256_set1_epi32(int((bits >> (8 * k)) & 0xFF));
      const __m256i clear =
          _mm256_cmpeq_epi32(_mm256_and_si256(byte, lane_bit), _mm256_setzero_si256());
      if (count - k * 8 >= 8) {
        const __m256 v = _mm256_loadu_ps(p + 8 * k);
        _mm256_storeu_ps(p + 8 * k, _mm256_blendv_ps(v, minus_inf, _mm256_castsi256_ps(clear)));
      } else {
        _mm256_maskstore_ps(p + 8 * k, clear, minus_inf);  // lanes past n have their bit set
      }
    }
  }
  return any != 0;
}

}  // namespace minillm::kernels::isa
