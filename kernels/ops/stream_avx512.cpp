// AVX-512 memory streaming for the bandwidth probe (stream.h; compiled with -mavx512*).
// GCC 12 reports its own _mm512_undefined_* helpers (in the reduction) as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/isa_entry.h"

namespace minillm::kernels::isa {

uint64_t stream_read_avx512(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 256) {
    a0 = _mm512_add_epi64(a0, _mm512_load_si512(b + i));
    a1 = _mm512_add_epi64(a1, _mm512_load_si512(b + i + 64));
    a2 = _mm512_add_epi64(a2, _mm512_load_si512(b + i + 128));
    a3 = _mm512_add_epi64(a3, _mm512_load_si512(b + i + 192));
  }
  const __m512i s = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(s));
}

}  // namespace minillm::kernels::isa
