#include "kernels/matmul/packed_rows.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/cpu.h"
#include "kernels/matmul/packed_order.h"
#include "kernels/thread_pool.h"
#include "kernels/type_table.h"
#include "minillm/error.h"

namespace minillm::kernels {
namespace {

PackedFormat make_format(uint32_t block_bytes, int32_t half_at) {
  return PackedFormat{block_bytes, half_at, half_at >= 0 ? 32u : 0u, half_at == 0 ? 2u : 0u};
}

// Moves one group between the file layout (16 rows, `rb` bytes apart) and the packed layout.
// kPack: file -> packed, else packed -> file. Rows at or past n_rows are zero in the packed
// layout (pack) and come back as zero rows (unpack).
template <bool kPack>
void permute_group(const PackedFormat& f, const SlotOf& slots, size_t n_blocks, size_t rb,
                   size_t n_rows, const uint8_t* from, uint8_t* to) {
  const size_t bb = f.block_bytes, n_words = (bb - (f.half_at >= 0 ? 2 : 0)) / 4;
  // Copies n bytes from file offset `file` / packed offset `packed` to the other one.
  auto move = [&](size_t file, size_t packed, size_t n) {
    std::memcpy(to + (kPack ? packed : file), from + (kPack ? file : packed), n);
  };
  if constexpr (kPack) std::memset(to, 0, kPackRows * rb);
  const size_t rows = std::min(n_rows, kPackRows);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t b = 0; b < n_blocks; ++b) {
      const size_t file = r * rb + b * bb, packed = b * kPackRows * bb;
      if (f.half_at >= 0) move(file + size_t(f.half_at), packed + 2 * r, 2);
      for (size_t k = 0; k < n_words; ++k)
        move(file + f.word_base + 4 * k, packed + f.head_bytes + 64 * slots.slot[k] + 4 * r, 4);
    }
  }
  if constexpr (!kPack)
    if (rows < kPackRows) std::memset(to + rows * rb, 0, (kPackRows - rows) * rb);
}

}  // namespace

PackedFormat packed_format(TensorType t) {
  const KernelType& k = kernel_type(t);
  return k.packed ? make_format(traits(t).block_bytes, k.packed_half_at)
                  : PackedFormat{0, -1, 0, 0};
}

bool kernel_reads_packed(Isa isa, TensorType t) {
  if (packed_format(t).block_bytes == 0) return false;
  return isa == Isa::Avx512 || isa == Isa::Avx2;
}

bool packing_pays(TensorType t) {
  return kernel_reads_packed(active_isa(), t);
}

namespace {
PackedFormat packed_format_or_throw(TensorType type) {
  const PackedFormat f = packed_format(type);
  if (f.block_bytes == 0)
    throw Error(ErrorKind::Unsupported,
                "no packed layout for weights of type " + std::string(type_name(type)));
  return f;
}
}  // namespace

size_t packed_bytes(TensorType type, size_t n_out, size_t n_in) {
  packed_format_or_throw(type);
  const size_t rb = minillm::row_bytes(type, n_in);  // throws if n_in is not whole blocks
  return (n_out + kPackRows - 1) / kPackRows * kPackRows * rb;
}

std::shared_ptr<uint8_t> allocate_packed(size_t bytes) {
  constexpr size_t kLarge = size_t(2) << 20;
  if (bytes > SIZE_MAX / 2) throw Error(ErrorKind::OutOfMemory, "out of memory packing weights");
  // Mapped with room to start on a large-page boundary; the unused head and tail stay untouched
  // address space and go back with the whole mapping.
  const size_t mapped = std::max<size_t>(bytes, 1) + kLarge;
  void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw Error(ErrorKind::OutOfMemory, "out of memory packing weights");
  auto* start = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(base) + kLarge - 1) &
                                           ~uintptr_t(kLarge - 1));
  madvise(start, std::max<size_t>(bytes, 1), MADV_HUGEPAGE);  // only advice; may be ignored
  return std::shared_ptr<uint8_t>(start, [base, mapped](uint8_t*) { munmap(base, mapped); });
}

PackedRows::PackedRows(TensorType type, const void* rows, size_t n_out, size_t n_in, int n_threads)
    : PackedRows(type, rows, n_out, n_in, n_threads,
                 allocate_packed(packed_bytes(type, n_out, n_in))) {}

PackedRows::PackedRows(TensorType type, const void* rows, size_t n_out, size_t n_in, int n_threads,
                       std::shared_ptr<uint8_t> dest)
    : type_(type),
      n_out_(n_out),
      n_in_(n_in),
      row_bytes_(minillm::row_bytes(type, n_in)),
      data_(std::move(dest)) {
  const PackedFormat f = packed_format_or_throw(type);
  if (!data_ || reinterpret_cast<uintptr_t>(data_.get()) % 64 != 0)
    throw Error(ErrorKind::Internal, "packed weights need 64-byte aligned memory");
  const auto* src = static_cast<const uint8_t*>(rows);
  const size_t n_blocks = row_bytes_ / f.block_bytes, rb = row_bytes_;
  uint8_t* dst = data_.get();
  const SlotOf slots = slots_of(type);
  auto pack = [&](size_t g) {
    permute_group<true>(f, slots, n_blocks, rb, n_out - g * kPackRows, src + g * kPackRows * rb,
                        dst + g * kPackRows * rb);
  };
  run_chunks(std::max(n_threads, 1), n_groups(), pack);
}

void PackedRows::unpack_group(size_t g, uint8_t* rows) const {
  if (g >= n_groups())
    throw Error(ErrorKind::Internal, "packed group " + std::to_string(g) + " out of range");
  const PackedFormat f = packed_format(type_);
  permute_group<false>(f, slots_of(type_), row_bytes_ / f.block_bytes, row_bytes_,
                       n_out_ - g * kPackRows, group(g), rows);
}

}  // namespace minillm::kernels
