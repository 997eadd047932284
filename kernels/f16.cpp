// Bulk fp16/bf16 row conversions: scalar loops, and dispatch to the AVX2/AVX-512 units.
#include "kernels/f16.h"

#include "kernels/cpu.h"
#include "kernels/isa_entry.h"

namespace minillm::kernels {

void convert_f16_to_f32_scalar(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}
void convert_f32_to_f16_scalar(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}
void convert_bf16_to_f32_scalar(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}
void convert_f32_to_bf16_scalar(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = fp32_to_bf16(src[i]);
}

void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n) {
  switch (active_isa()) {
    case Isa::Avx512:
      return isa::convert_f16_to_f32_avx512(src, dst, n);
    case Isa::Avx2:
      return isa::convert_f16_to_f32_avx2(src, dst, n);
    case Isa::Scalar:
      break;
  }
  convert_f16_to_f32_scalar(src, dst, n);
}

void convert_f32_to_f16(const float* src, uint16_t* dst, size_t n) {
  switch (active_isa()) {
    case Isa::Avx512:
      return isa::convert_f32_to_f16_avx512(src, dst, n);
    case Isa::Avx2:
      return isa::convert_f32_to_f16_avx2(src, dst, n);
    case Isa::Scalar:
      break;
  }
  convert_f32_to_f16_scalar(src, dst, n);
}

void convert_bf16_to_f32(const uint16_t* src, float* dst, size_t n) {
  switch (active_isa()) {
    case Isa::Avx512:
      return isa::convert_bf16_to_f32_avx512(src, dst, n);
    case Isa::Avx2:
      return isa::convert_bf16_to_f32_avx2(src, dst, n);
    case Isa::Scalar:
      break;
  }
  convert_bf16_to_f32_scalar(src, dst, n);
}

void convert_f32_to_bf16(const float* src, uint16_t* dst, size_t n) {
  switch (active_isa()) {
    case Isa::Avx512:
      return isa::convert_f32_to_bf16_avx512(src, dst, n);
    case Isa::Avx2:
      return isa::convert_f32_to_bf16_avx2(src, dst, n);
    case Isa::Scalar:
      break;
  }
  convert_f32_to_bf16_scalar(src, dst, n);
}

}  // namespace minillm::kernels
