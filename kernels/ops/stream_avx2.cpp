// AVX2 memory streaming for the bandwidth probe (stream.h; compiled with -mavx2).
#include <immintrin.h>

#include "kernels/isa_entry.h"

namespace minillm::kernels::isa {

uint64_t stream_read_avx2(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  __m256i a[8];
  for (__m256i& v : a) v = _mm256_setzero_si256();
  for (size_t i = 0; i < n; i += 256)
    for (int k = 0; k < 8; ++k)
      a[k] = _mm256_add_epi64(
          a[k], _mm256_load_si256(reinterpret_cast<const __m256i*>(b + i + 32 * size_t(k))));
  __m256i s = _mm256_setzero_si256();
  for (const __m256i& v : a) s = _mm256_add_epi64(s, v);
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

}  // namespace minillm::kernels::isa
