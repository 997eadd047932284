// Quantized weight rows regrouped for the integer kernels, 16 rows at a time.
//
// Why: a one-token product (decoding) must stream every weight byte once. Read in file order, the
// 16 rows a kernel works on together are 16 separate streams, and turning them into "rows in
// lanes" vectors costs a transpose per block; both keep the file layout well below the memory
// bandwidth. Packed, each group of 16 rows is one sequential stream and the vectors the kernel
// needs are plain 64-byte loads.
//
// The layout is a lossless byte permutation of the file's blocks, so it costs no extra memory
// beyond the copy (the file pages it came from can be dropped) and any path can get the original
// rows back. For each group of 16 rows (the last one padded with zero rows) and each block
// column b, the 16 blocks of column b are stored as:
//   [the 2-byte scale field of rows 0..15]        only for block sizes of 4k + 2 bytes
//   [word 0 of rows 0..15][word 1 of rows 0..15]...  64 bytes each
// where the words are the 4-byte pieces of the block's other bytes, in file order or, for the
// K-quants whose decoders read out of file order, in the order they read them (packed_order.h).
// A group therefore takes exactly 16 file rows' bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/cpu.h"
#include "kernels/matmul/packed_format.h"
#include "minillm/tensor_type.h"

namespace minillm::kernels {

// Whether the integer kernels of `isa` read packed rows of type t directly: the AVX-512 and AVX2
// kernels do for every type with a packed layout. The scalar path still works on a packed
// matrix, through a slower route that unpacks each group.
bool kernel_reads_packed(Isa isa, TensorType t);

// Whether packing pays on this machine: the active instruction set's kernels read the packed
// layout of type t directly (kernel_reads_packed).
bool packing_pays(TensorType t);

// Bytes that n_out packed rows of n_in elements take: whole groups of 16 rows. Throws
// minillm::Error for a type without a packed format or an n_in that is not whole blocks.
size_t packed_bytes(TensorType type, size_t n_out, size_t n_in);

// Memory for packed matrices: `bytes` zeroed bytes on 2 MiB boundaries with large pages advised
// (a decoding step streams it once per token; with 4 KiB pages a single core reads it ~7 % more
// slowly). Several matrices can share one allocation, laid out in the order a forward pass reads
// them, so decoding streams one region. Throws minillm::Error when out of memory.
std::shared_ptr<uint8_t> allocate_packed(size_t bytes);

class PackedRows {
 public:
  // Packs n_out rows of n_in elements (file layout, row_bytes(type, n_in) bytes each) using up
  // to n_threads threads, into memory of its own. Throws minillm::Error for a type without a
  // packed format or an n_in that is not whole blocks.
  PackedRows(TensorType type, const void* rows, size_t n_out, size_t n_in, int n_threads);
  // The same, into `dest`: packed_bytes(type, n_out, n_in) bytes, 64-byte aligned, typically a
  // slice of an allocate_packed() region (an aliasing shared_ptr keeps the region alive).
  PackedRows(TensorType type, const void* rows, size_t n_out, size_t n_in, int n_threads,
             std::shared_ptr<uint8_t> dest);

  TensorType type() const { return type_; }
  size_t n_out() const { return n_out_; }
  size_t n_in() const { return n_in_; }
  size_t row_bytes() const { return row_bytes_; }
  size_t n_groups() const { return (n_out_ + kPackRows - 1) / kPackRows; }
  const uint8_t* group(size_t g) const { return data_.get() + g * kPackRows * row_bytes_; }

  // Writes group g back in file layout: 16 rows of row_bytes() each (rows past n_out all zero).
  void unpack_group(size_t g, uint8_t* rows) const;

 private:
  TensorType type_;
  size_t n_out_, n_in_, row_bytes_;
  std::shared_ptr<uint8_t> data_;  // n_groups() * 16 * row_bytes_ bytes, 64-byte aligned
};

}  // namespace minillm::kernels
