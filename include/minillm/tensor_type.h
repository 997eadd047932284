// Tensor element types, numbered exactly as the GGUF file format numbers them (append-only),
// with the block geometry of each: how many elements share one block and how many bytes it takes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace minillm {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  // 4 and 5 (Q4_2, Q4_3) were removed from the format.
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  // 31..33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) were removed from the format.
  TQ1_0 = 34,
  TQ2_0 = 35,
  // 36..38 (IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8) were removed from the format.
  MXFP4 = 39,
};

struct TensorTypeTraits {
  std::string_view name;  // as GGUF tools print it: "F32", "Q4_K", ...
  uint32_t block_size;    // elements per block (1 for plain scalar types)
  uint32_t block_bytes;   // bytes per block
};

// Traits of a type id read from a file; nullopt for ids the format does not define.
std::optional<TensorTypeTraits> tensor_type_traits(uint32_t type_id);
// Traits of a known type.
const TensorTypeTraits& traits(TensorType type);
std::string_view type_name(TensorType type);
// Parses a name such as "q4_0" or "F16" (case-insensitive).
std::optional<TensorType> parse_tensor_type(std::string_view name);
// Bytes taken by `n_elements` consecutive elements; n_elements must be a multiple of the block
// size.
uint64_t row_bytes(TensorType type, uint64_t n_elements);

}  // namespace minillm
