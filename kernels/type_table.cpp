#include "kernels/type_table.h"

#include <array>
#include <cstring>

#include "kernels/f16.h"
#include "kernels/quant/quant_impl.h"

namespace minillm::kernels {
namespace {

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

struct Row {
  TensorType type;
  KernelType k;
};

// Integer formats are {sub_len, offset, has_min} (qdot.h says what they mean); packed_half_at is
// where the 2-byte field kept apart in the packed layout sits (-1: none; packed_format.h).
using namespace detail;
using namespace q;
// A row names what its type has; the other fields keep KernelType's defaults (nothing).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
// clang-format off
const Row kRows[] = {
    // Float types: converted, and matrix products dequantize them (no integer path).
    {TensorType::F32, {.dequantize = dequant_f32, .quantize = quant_f32, .matmul = true}},
    {TensorType::F16, {.dequantize = dequant_f16, .quantize = quant_f16, .matmul = true}},
    {TensorType::BF16, {.dequantize = dequant_bf16, .quantize = quant_bf16, .matmul = true}},
    {TensorType::Q4_0, {.dequantize = dequantize_row_q4_0, .quantize = quantize_row_q4_0, .matmul = true,
        .integer = {32, 8, false}, .unpack = unpack_block_q4_0, .packed = true, .packed_half_at = 0}},
    {TensorType::Q4_1, {.dequantize = dequantize_row_q4_1, .quantize = quantize_row_q4_1, .matmul = true,
        .integer = {32, 0, true}, .unpack = unpack_block_q4_1, .packed = true, .packed_half_at = -1}},
    {TensorType::Q5_0, {.dequantize = dequantize_row_q5_0, .quantize = quantize_row_q5_0, .matmul = true,
        .integer = {32, 16, false}, .unpack = unpack_block_q5_0, .packed = true, .packed_half_at = 0}},
    {TensorType::Q5_1, {.dequantize = dequantize_row_q5_1, .quantize = quantize_row_q5_1, .matmul = true,
        .integer = {32, 0, true}, .unpack = unpack_block_q5_1, .packed = true, .packed_half_at = -1}},
    {TensorType::Q8_0, {.dequantize = dequantize_row_q8_0, .quantize = quantize_row_q8_0, .matmul = true,
        .integer = {32, 128, false}, .unpack = unpack_block_q8_0, .packed = true, .packed_half_at = 0}},
    {TensorType::Q8_1, {.dequantize = dequantize_row_q8_1, .quantize = quantize_row_q8_1}},  // activations only
    {TensorType::Q8_K, {.dequantize = dequantize_row_q8_k, .quantize = quantize_row_q8_k}},  // activations only
    {TensorType::Q2_K, {.dequantize = dequantize_row_q2_k, .quantize = quantize_row_q2_k, .matmul = true,
        .integer = {16, 0, true}, .unpack = unpack_block_q2_k, .packed = true, .packed_half_at = -1}},
    {TensorType::Q3_K, {.dequantize = dequantize_row_q3_k, .quantize = quantize_row_q3_k, .matmul = true,
        .integer = {16, 4, false}, .unpack = unpack_block_q3_k, .packed = true, .packed_half_at = 108}},
    {TensorType::Q4_K, {.dequantize = dequantize_row_q4_k, .quantize = quantize_row_q4_k, .matmul = true,
        .integer = {32, 0, true}, .unpack = unpack_block_q4_k, .packed = true, .packed_half_at = -1}},
    {TensorType::Q5_K, {.dequantize = dequantize_row_q5_k, .quantize = quantize_row_q5_k, .matmul = true,
        .integer = {32, 0, true}, .unpack = unpack_block_q5_k, .packed = true, .packed_half_at = -1}},
    {TensorType::Q6_K, {.dequantize = dequantize_row_q6_k, .quantize = quantize_row_q6_k, .matmul = true,
        .integer = {16, 32, false}, .unpack = unpack_block_q6_k, .packed = true, .packed_half_at = 208}},
    {TensorType::IQ4_NL, {.dequantize = dequantize_row_iq4_nl, .quantize = quantize_row_iq4_nl, .matmul = true,
        .integer = {32, 128, false}, .unpack = unpack_block_iq4_nl, .packed = true, .packed_half_at = 0}},
    {TensorType::IQ4_XS, {.dequantize = dequantize_row_iq4_xs, .quantize = quantize_row_iq4_xs, .matmul = true,
        .integer = {32, 128, false}, .unpack = unpack_block_iq4_xs, .packed = true, .packed_half_at = -1}},
};
// clang-format on
#pragma GCC diagnostic pop

constexpr size_t kIds = 64;  // above every GGUF type id (tensor_type.cpp)

std::array<KernelType, kIds> by_id() {
  std::array<KernelType, kIds> table{};
  for (const Row& r : kRows) table[static_cast<size_t>(r.type)] = r.k;
  return table;
}

}  // namespace

const KernelType& kernel_type(TensorType t) {
  static const std::array<KernelType, kIds> table = by_id();
  static const KernelType none{};
  const auto id = static_cast<size_t>(t);
  return id < kIds ? table[id] : none;
}

}  // namespace minillm::kernels
