// The float kernels of the AVX-512 path (compiled with -mavx512*; see isa_entry.h): row
// conversions, the float dot product, the matrix-product tile and the row-at-a-time attention
// pieces, all written once in float_kernels.h over the F512 vector (float_vec.h).
// GCC 12 reports its own _mm*_undefined_* helpers (self-initialised on purpose) as uninitialised
// when they are inlined here; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/float/float_kernels.h"

namespace minillm::kernels::isa {

void convert_f16_to_f32_avx512(const uint16_t* src, float* dst, size_t n) {
  convert_f16_to_f32<F512>(src, dst, n);
}
void convert_f32_to_f16_avx512(const float* src, uint16_t* dst, size_t n) {
  convert_f32_to_f16<F512>(src, dst, n);
}
void convert_bf16_to_f32_avx512(const uint16_t* src, float* dst, size_t n) {
  convert_bf16_to_f32<F512>(src, dst, n);
}
void convert_f32_to_bf16_avx512(const float* src, uint16_t* dst, size_t n) {
  convert_f32_to_bf16<F512>(src, dst, n);
}

float dot_f32_avx512(const float* a, const float* b, size_t n) {
  return dot_f32<F512>(a, b, n);
}

void matmul_tile_avx512(const MatmulTile& tile) {
  matmul_tile<F512>(tile);
}

void attention_scores_avx512(const float* q, const KvRows& k, size_t first, size_t n,
                             size_t head_dim, float scale, float* out) {
  with_element(k.type, [&](auto e) {
    attention_scores<F512, decltype(e)::value>(q, k, first, n, head_dim, scale, out);
  });
}

void attention_values_avx512(const float* p, const KvRows& v, size_t first, size_t n,
                             size_t head_dim, float* out) {
  with_element(v.type, [&](auto e) {
    attention_values<F512, decltype(e)::value>(p, v, first, n, head_dim, out);
  });
}

}  // namespace minillm::kernels::isa
