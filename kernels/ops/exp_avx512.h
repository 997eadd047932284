// e^x on 16 floats, for the AVX-512 files only (compiled with -mavx512*): internal linkage, as
// isa_local.h explains.
#pragma once

#include <immintrin.h>

namespace minillm::kernels::isa {
namespace {

// e^x: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so n ln2 is exact enough), e^r by its
// Taylor polynomial to degree 7 (truncation below 6e-9 relative), then times 2^n with VSCALEFPS,
// which is exact and gives 0 or infinity past the float range. SwiGLU built on it stays within 4
// ulp of std::exp's over the whole range (tests/kernels_activations_test.cpp).
inline __m512 exp16(__m512 x) {
  // MINPS/MAXPS return their second operand where either is NaN: x second keeps a NaN a NaN.
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

}  // namespace
}  // namespace minillm::kernels::isa
