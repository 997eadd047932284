// Keys and values of every layer, for one sequence or many: a pool of blocks of kBlockRows
// positions that sequences take as they grow and give back when they end or shrink. A sequence
// is a block table (KvSequence); sequences forked from a common prefix share its blocks, and a
// shared block is copied only when one of them writes into it (copy on write).
//
// Storage is one anonymous mapping per cache, reserved for its capacity: the OS backs a page only
// when a block is first written, so a cache sized for 16 long conversations costs the memory of
// the tokens actually held. Each layer's keys (and values) are stored head by head: one KV
// head's rows follow each other (head_dim elements apart), so attention reads each head's rows
// as one stream rather than a slice of every wider row: the hardware prefetchers then keep up
// (one token's F16 attention at depth 4,096, rows from memory: 23 -> 14 ms on one Zen 4 core).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/attention/attention.h"
#include "minillm/session.h"
#include "runtime/reserved_memory.h"

namespace minillm {

class KvSequence;

class KvCache {
 public:
  static constexpr uint32_t kBlockShift = 4;
  static constexpr uint32_t kBlockRows = 1u << kBlockShift;  // positions per block

  // Room for at least `capacity` positions (rounded up to whole blocks) of `width` (n_head_kv *
  // head_dim) keys and values per layer. Throws Error (Unsupported) for Q8_0 when head_dim is not
  // a multiple of its 32-value blocks.
  KvCache(uint32_t n_layer, uint32_t capacity, uint32_t width, uint32_t head_dim, KvCacheType type);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  uint32_t width() const { return width_; }
  // Bytes of one position's keys (or values) of one layer: width elements of the cache's type.
  static size_t row_bytes(KvCacheType type, uint32_t width);
  size_t row_bytes() const { return row_bytes_; }
  uint32_t n_blocks() const { return n_blocks_; }
  uint32_t free_blocks() const { return uint32_t(free_.size()); }

  // Blocks: take a free one (throws Error, "KV cache full", when none is left), count another
  // holder, let go (a block nobody holds is free again), copy the first n_rows rows of every
  // layer's keys and values.
  uint32_t allocate();
  void retain(uint32_t block);
  void release(uint32_t block);
  uint32_t holders(uint32_t block) const { return refs_[block]; }
  void copy_rows(uint32_t from, uint32_t to, uint32_t n_rows);

  // Stores the K and V rows (width floats each, all heads, converted to the cache's type) of one
  // layer at a cache row (block << kBlockShift | position within the block).
  void store(uint32_t layer, uint32_t row, const float* k, const float* v);
  // Rows of one KV head (columns head * head_dim .. + head_dim of the rows store() wrote), as
  // laid out by a sequence's block table (plain strided rows when its blocks follow each other, the
  // usual case of a Session: the attention kernels then skip the table).
  kernels::KvRows keys(uint32_t layer, uint32_t head, const KvSequence& seq) const;
  kernels::KvRows values(uint32_t layer, uint32_t head, const KvSequence& seq) const;

 private:
  // Head `head`'s rows of one layer's keys or values: (n_blocks * kBlockRows, head_dim) elements.
  uint8_t* head_plane(uint32_t layer, bool values, uint32_t head) const;
  kernels::KvRows rows(const uint8_t* head_plane, const KvSequence& seq) const;

  uint32_t n_layer_;
  uint32_t width_;
  uint32_t head_dim_;
  uint32_t n_head_;  // width / head_dim
  KvCacheType type_;
  size_t row_bytes_;       // one row of one layer, all heads
  size_t head_row_bytes_;  // one row of one head
  uint32_t n_blocks_;
  size_t head_plane_bytes_;
  ReservedMemory memory_;
  uint8_t* data_;  // in memory_: per layer its K heads then its V heads, each a head plane
  std::vector<uint32_t> refs_;  // (n_blocks) holders of each block
  std::vector<uint32_t> free_;  // free blocks, the next to hand out last
};

// One sequence's positions in a KvCache: position p lives at row row(p).
class KvSequence {
 public:
  uint32_t n_past() const { return n_past_; }
  const uint32_t* blocks() const { return blocks_.data(); }
  // True when block i is blocks()[0] + i for every i (positions are then consecutive rows).
  bool contiguous() const { return contiguous_; }
  uint32_t row(uint32_t pos) const {
    return blocks_[pos >> KvCache::kBlockShift] << KvCache::kBlockShift |
           (pos & (KvCache::kBlockRows - 1));
  }
  // Blocks needed to append n positions (new blocks, plus a shared last block to copy).
  uint32_t blocks_needed(const KvCache& cache, uint32_t n) const;
  // Makes positions [n_past, n_past + n) writable: new blocks, and a private copy of a shared
  // block they fall into. Throws Error ("KV cache full") without changing anything when the cache
  // has too few free blocks.
  void reserve(KvCache& cache, uint32_t n);
  void advance(uint32_t n) { n_past_ += n; }
  // Forgets positions >= n_keep, giving back the blocks that no longer hold any.
  void truncate(KvCache& cache, uint32_t n_keep);
  // A sequence holding this one's first n_keep positions, sharing their blocks.
  KvSequence fork(KvCache& cache, uint32_t n_keep) const;

 private:
  void note_blocks_changed();

  std::vector<uint32_t> blocks_;
  uint32_t n_past_ = 0;
  bool contiguous_ = true;
};

}  // namespace minillm
