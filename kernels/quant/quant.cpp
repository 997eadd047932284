// dequantize_row/quantize_row: checks, then the type table's reference conversion.
#include "kernels/quant/quant.h"

#include <string>

#include "kernels/type_table.h"
#include "minillm/error.h"

namespace minillm::kernels {
namespace {

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
  return kernel_type(type).dequantize != nullptr;
}
bool can_quantize(TensorType type) {
  return kernel_type(type).quantize != nullptr;
}

void dequantize_row(TensorType type, const void* src, float* dst, size_t n) {
  const auto fn = kernel_type(type).dequantize;
  if (fn == nullptr)
    throw Error(ErrorKind::Unsupported,
                "dequantization of " + describe(type) + " is not supported");
  check_length(type, n);
  fn(src, dst, n);
}

void quantize_row(TensorType type, const float* src, void* dst, size_t n) {
  const auto fn = kernel_type(type).quantize;
  if (fn == nullptr)
    throw Error(ErrorKind::Unsupported, "quantization to " + describe(type) + " is not supported");
  check_length(type, n);
  fn(src, dst, n);
}

}  // namespace minillm::kernels
