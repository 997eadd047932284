// AVX-512 token masking (compiled with -mavx512*; see isa_entry.h): a masked store of -inf per
// 16 values, its mask the complement of 16 bits of the bitmap; all-set words are skipped.
#include <immintrin.h>

#include "kernels/isa_entry.h"

namespace minillm::kernels::isa {

bool mask_tokens_avx512(float* x, const uint64_t* allowed, size_t n) {
  const __m512 minus_inf = _mm512_set1_ps(-__builtin_inff());
  uint64_t any = 0;
  const size_t whole = n / 64;
  for (size_t w = 0; w < whole; ++w) {
    const uint64_t bits = allowed[w];
    any |= bits;
    if (bits == ~uint64_t(0)) continue;
    float* p = x + w * 64;
    for (int k = 0; k < 4; ++k)
      _mm512_mask_storeu_ps(p + 16 * k, __mmask16(~(bits >> (16 * k))), minus_inf);
  }
  if (const size_t rest = n - whole * 64) {  // the last, partial word: only its first bits
    const uint64_t bits = allowed[whole] | (~uint64_t(0) << rest);
    any |= allowed[whole] & ~(~uint64_t(0) << rest);
    float* p = x + whole * 64;
    for (int k = 0; k < 4; ++k)
      _mm512_mask_storeu_ps(p + 16 * k, __mmask16(~(bits >> (16 * k))), minus_inf);
  }
  return any != 0;
}

}  // namespace minillm::kernels::isa
