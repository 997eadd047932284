// Where each quantized type's block bytes go in the packed row layout (packed_rows.h). A plain
// struct with no inline functions, so the per-ISA files may include it (see isa_entry.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "minillm/tensor_type.h"

namespace minillm::kernels {

// Rows per packed group.
inline constexpr size_t kPackRows = 16;

struct PackedFormat {
  uint32_t block_bytes;  // B; 0 for a type without a packed layout
  int32_t half_at;       // offset of the 2-byte field kept apart (B = 4k + 2), else -1
  uint32_t head_bytes;   // 32 if there is such a field (its 16 copies lead the group), else 0
  uint32_t word_base;    // block offset of word 0: 2 if the field leads the block, else 0
};

// The packed format of a quantized weight type with an integer kernel (block_bytes 0 otherwise).
PackedFormat packed_format(TensorType t);

}  // namespace minillm::kernels
