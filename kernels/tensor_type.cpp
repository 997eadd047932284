// Block geometry of every tensor type of the GGUF format (sizes from the ggml block layouts).
#include "minillm/tensor_type.h"

#include <array>
#include <cctype>

#include "minillm/error.h"

namespace minillm {
namespace {

constexpr uint32_t kQK = 32;    // elements per block of the original quant types
constexpr uint32_t kQKK = 256;  // elements per K-quant / IQ super-block

struct Entry {
  uint32_t id;
  TensorTypeTraits traits;
};

constexpr Entry kTypes[] = {
    {0, {"F32", 1, 4}},
    {1, {"F16", 1, 2}},
    {2, {"Q4_0", kQK, 2 + kQK / 2}},
    {3, {"Q4_1", kQK, 4 + kQK / 2}},
    {6, {"Q5_0", kQK, 2 + 4 + kQK / 2}},
    {7, {"Q5_1", kQK, 4 + 4 + kQK / 2}},
    {8, {"Q8_0", kQK, 2 + kQK}},
    {9, {"Q8_1", kQK, 4 + kQK}},
    {10, {"Q2_K", kQKK, kQKK / 16 + kQKK / 4 + 4}},
    {11, {"Q3_K", kQKK, kQKK / 8 + kQKK / 4 + 12 + 2}},
    {12, {"Q4_K", kQKK, 4 + 12 + kQKK / 2}},
    {13, {"Q5_K", kQKK, 4 + 12 + kQKK / 8 + kQKK / 2}},
    {14, {"Q6_K", kQKK, kQKK / 2 + kQKK / 4 + kQKK / 16 + 2}},
    {15, {"Q8_K", kQKK, 4 + kQKK + kQKK / 16 * 2}},
    {16, {"IQ2_XXS", kQKK, 2 + kQKK / 4}},
    {17, {"IQ2_XS", kQKK, 2 + kQKK / 4 + kQKK / 32}},
    {18, {"IQ3_XXS", kQKK, 2 + 3 * kQKK / 8}},
    {19, {"IQ1_S", kQKK, 2 + kQKK / 8 + kQKK / 16}},
    {20, {"IQ4_NL", kQK, 2 + kQK / 2}},
    {21, {"IQ3_S", kQKK, 2 + kQKK / 4 + kQKK / 32 + kQKK / 8 + kQKK / 64}},
    {22, {"IQ2_S", kQKK, 2 + kQKK / 4 + kQKK / 32 + kQKK / 32}},
    {23, {"IQ4_XS", kQKK, 2 + 2 + kQKK / 64 + kQKK / 2}},
    {24, {"I8", 1, 1}},
    {25, {"I16", 1, 2}},
    {26, {"I32", 1, 4}},
    {27, {"I64", 1, 8}},
    {28, {"F64", 1, 8}},
    {29, {"IQ1_M", kQKK, kQKK / 8 + kQKK / 16 + kQKK / 32}},
    {30, {"BF16", 1, 2}},
    {34, {"TQ1_0", kQKK, (kQKK - 4 * kQKK / 64) / 5 + kQKK / 64 + 2}},
    {35, {"TQ2_0", kQKK, kQKK / 4 + 2}},
    {39, {"MXFP4", kQK, 1 + kQK / 2}},
};

constexpr uint32_t kMaxId = 39;

constexpr std::array<std::optional<TensorTypeTraits>, kMaxId + 1> build_table() {
  std::array<std::optional<TensorTypeTraits>, kMaxId + 1> table{};
  for (const Entry& e : kTypes) table[e.id] = e.traits;
  return table;
}
constexpr auto kTable = build_table();

// Spot checks of the sizes against the published block layouts.
static_assert(kTable[2]->block_bytes == 18 && kTable[8]->block_bytes == 34);
static_assert(kTable[10]->block_bytes == 84 && kTable[11]->block_bytes == 110);
static_assert(kTable[12]->block_bytes == 144 && kTable[13]->block_bytes == 176);
static_assert(kTable[14]->block_bytes == 210 && kTable[15]->block_bytes == 292);
static_assert(kTable[21]->block_bytes == 110 && kTable[22]->block_bytes == 82);
static_assert(kTable[23]->block_bytes == 136 && kTable[29]->block_bytes == 56);
static_assert(kTable[34]->block_bytes == 54 && kTable[35]->block_bytes == 66);

}  // namespace

std::optional<TensorTypeTraits> tensor_type_traits(uint32_t type_id) {
  if (type_id > kMaxId) return std::nullopt;
  return kTable[type_id];
}

const TensorTypeTraits& traits(TensorType type) {
  const auto id = static_cast<uint32_t>(type);
  if (id > kMaxId || !kTable[id])
    throw Error(ErrorKind::Unsupported, "unknown tensor type id " + std::to_string(id));
  return *kTable[id];
}

std::string_view type_name(TensorType type) {
  return traits(type).name;
}

std::optional<TensorType> parse_tensor_type(std::string_view name) {
  for (const Entry& e : kTypes) {
    if (e.traits.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::toupper(static_cast<unsigned char>(name[i])) == e.traits.name[i];
    if (same) return static_cast<TensorType>(e.id);
  }
  return std::nullopt;
}

uint64_t row_bytes(TensorType type, uint64_t n_elements) {
  const TensorTypeTraits& t = traits(type);
  if (n_elements % t.block_size != 0)
    throw Error(ErrorKind::InvalidArgument, std::string(t.name) + " row of " +
                                                std::to_string(n_elements) +
                                                " elements is not a multiple of the block size " +
                                                std::to_string(t.block_size));
  return n_elements / t.block_size * t.block_bytes;
}

}  // namespace minillm
