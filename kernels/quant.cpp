// Dispatch of dequantize_row/quantize_row by tensor type, and the unquantized float types.
#include "kernels/quant.h"

#include <cstring>
#include <string>

#include "kernels/f16.h"
#include "kernels/quant_impl.h"
#include "minillm/error.h"

namespace minillm::kernels {
namespace {

using DequantFn = void (*)(const void*, float*, size_t);
using QuantFn = void (*)(const float*, void*, size_t);

struct Converters {
  DequantFn dequant = nullptr;
  QuantFn quant = nullptr;
};

void dequant_f32(const void* src, float* dst, size_t n) {
  std::memcpy(dst, src, n * sizeof(float));
}
void quant_f32(const float* src, void* dst, size_t n) {
  std::memcpy(dst, src, n * sizeof(float));
}
void dequant_f16(const void* src, float* dst, size_t n) {
  convert_f16_to_f32(static_cast<const uint16_t*>(src), dst, n);
}
void quant_f16(const float* src, void* dst, size_t n) {
  convert_f32_to_f16(src, static_cast<uint16_t*>(dst), n);
}
void dequant_bf16(const void* src, float* dst, size_t n) {
  convert_bf16_to_f32(static_cast<const uint16_t*>(src), dst, n);
}
void quant_bf16(const float* src, void* dst, size_t n) {
  convert_f32_to_bf16(src, static_cast<uint16_t*>(dst), n);
}

Converters converters(TensorType type) {
  using namespace detail;
  switch (type) {
    case TensorType::F32:
      return {dequant_f32, quant_f32};
    case TensorType::F16:
      return {dequant_f16, quant_f16};
    case TensorType::BF16:
      return {dequant_bf16, quant_bf16};
    case TensorType::Q4_0:
      return {dequantize_row_q4_0, quantize_row_q4_0};
    case TensorType::Q4_1:
      return {dequantize_row_q4_1, quantize_row_q4_1};
    case TensorType::Q5_0:
      return {dequantize_row_q5_0, quantize_row_q5_0};
    case TensorType::Q5_1:
      return {dequantize_row_q5_1, quantize_row_q5_1};
    case TensorType::Q8_0:
      return {dequantize_row_q8_0, quantize_row_q8_0};
    case TensorType::Q8_1:
      return {dequantize_row_q8_1, quantize_row_q8_1};
    case TensorType::Q8_K:
      return {dequantize_row_q8_k, quantize_row_q8_k};
    case TensorType::Q2_K:
      return {dequantize_row_q2_k, quantize_row_q2_k};
    case TensorType::Q3_K:
      return {dequantize_row_q3_k, quantize_row_q3_k};
    case TensorType::Q4_K:
      return {dequantize_row_q4_k, quantize_row_q4_k};
    case TensorType::Q5_K:
      return {dequantize_row_q5_k, quantize_row_q5_k};
    case TensorType::Q6_K:
      return {dequantize_row_q6_k, quantize_row_q6_k};
    case TensorType::IQ4_NL:
      return {dequantize_row_iq4_nl, quantize_row_iq4_nl};
    case TensorType::IQ4_XS:
      return {dequantize_row_iq4_xs, quantize_row_iq4_xs};
    default:
      return {};
  }
}

std::string describe(TensorType type) {
  const auto t = tensor_type_traits(static_cast<uint32_t>(type));
  return t ? std::string(t->name) : "type id " + std::to_string(static_cast<uint32_t>(type));
}

void check_length(TensorType type, size_t n) {
  const uint32_t bs = traits(type).block_size;
  if (n % bs != 0)
    throw Error(ErrorKind::InvalidArgument, describe(type) + " row of " + std::to_string(n) +
                                                " elements is not a multiple of the block size " +
                                                std::to_string(bs));
}

}  // namespace

bool can_dequantize(TensorType type) {
  return converters(type).dequant != nullptr;
}
bool can_quantize(TensorType type) {
  return converters(type).quant != nullptr;
}

void dequantize_row(TensorType type, const void* src, float* dst, size_t n) {
  const DequantFn fn = converters(type).dequant;
  if (fn == nullptr)
    throw Error(ErrorKind::Unsupported,
                "dequantization of " + describe(type) + " is not supported");
  check_length(type, n);
  fn(src, dst, n);
}

void quantize_row(TensorType type, const float* src, void* dst, size_t n) {
  const QuantFn fn = converters(type).quant;
  if (fn == nullptr)
    throw Error(ErrorKind::Unsupported, "quantization to " + describe(type) + " is not supported");
  check_length(type, n);
  fn(src, dst, n);
}

}  // namespace minillm::kernels
