#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant.h"
#include "minillm/error.h"

namespace minillm {

size_t KvCache::row_bytes(KvCacheType type, uint32_t width) {
  switch (type) {
    case KvCacheType::F16:
      return size_t(width) * 2;
    case KvCacheType::Q8_0:
      return size_t(width) / kernels::kQK * sizeof(kernels::BlockQ8_0);
    case KvCacheType::F32:
      break;
  }
  return size_t(width) * 4;
}

KvCache::KvCache(uint32_t n_layer, uint32_t capacity, uint32_t width, uint32_t head_dim,
                 KvCacheType type)
    : n_layer_(n_layer),
      width_(width),
      head_dim_(head_dim),
      n_head_(head_dim > 0 ? width / head_dim : 0),
      type_(type),
      row_bytes_(row_bytes(type, width)),
      head_row_bytes_(row_bytes(type, head_dim)),
      n_blocks_(std::max<uint32_t>(1, (capacity + kBlockRows - 1) / kBlockRows)),
      head_plane_bytes_(size_t(n_blocks_) * kBlockRows * head_row_bytes_),
      // Reserved, not committed: pages cost memory once written.
      memory_(2 * size_t(n_layer) * n_head_ * head_plane_bytes_, "the KV cache"),
      data_(memory_.data()),
      refs_(n_blocks_, 0) {
  if (head_dim == 0 || width % head_dim != 0)
    throw Error(ErrorKind::InvalidArgument, "KV cache: width " + std::to_string(width) +
                                                " is not whole heads of " +
                                                std::to_string(head_dim));
  if (type == KvCacheType::Q8_0 && head_dim % kernels::kQK != 0)
    throw Error(ErrorKind::Unsupported,
                "a Q8_0 KV cache needs a head dim that is a multiple of 32; this model's is " +
                    std::to_string(head_dim));
  free_.reserve(n_blocks_);
  for (uint32_t b = n_blocks_; b-- > 0;) free_.push_back(b);  // block 0 is handed out first
}

KvCache::~KvCache() = default;

uint32_t KvCache::allocate() {
  if (free_.empty())
    throw Error(
        ErrorKind::ContextFull,
        "KV cache full: all " + std::to_string(n_blocks_ * kBlockRows) + " positions are in use");
  const uint32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

void KvCache::retain(uint32_t block) {
  ++refs_[block];
}

void KvCache::release(uint32_t block) {
  if (--refs_[block] == 0) free_.push_back(block);
}

uint8_t* KvCache::head_plane(uint32_t layer, bool values, uint32_t head) const {
  return data_ + ((2 * size_t(layer) + (values ? 1 : 0)) * n_head_ + head) * head_plane_bytes_;
}

void KvCache::copy_rows(uint32_t from, uint32_t to, uint32_t n_rows) {
  for (size_t p = 0; p < 2 * size_t(n_layer_) * n_head_; ++p) {
    uint8_t* base = data_ + p * head_plane_bytes_;
    std::memcpy(base + size_t(to) * kBlockRows * head_row_bytes_,
                base + size_t(from) * kBlockRows * head_row_bytes_, n_rows * head_row_bytes_);
  }
}

void KvCache::store(uint32_t layer, uint32_t row, const float* k, const float* v) {
  const size_t offset = size_t(row) * head_row_bytes_;
  for (uint32_t h = 0; h < n_head_; ++h) {
    uint8_t* kd = head_plane(layer, false, h) + offset;
    uint8_t* vd = head_plane(layer, true, h) + offset;
    const float* kh = k + size_t(h) * head_dim_;
    const float* vh = v + size_t(h) * head_dim_;
    switch (type_) {
      case KvCacheType::F16:
        kernels::convert_f32_to_f16(kh, reinterpret_cast<uint16_t*>(kd), head_dim_);
        kernels::convert_f32_to_f16(vh, reinterpret_cast<uint16_t*>(vd), head_dim_);
        break;
      case KvCacheType::Q8_0:  // head_dim is a multiple of 32: whole blocks
        kernels::quantize_row(TensorType::Q8_0, kh, kd, head_dim_);
        kernels::quantize_row(TensorType::Q8_0, vh, vd, head_dim_);
        break;
      case KvCacheType::F32:
        std::memcpy(kd, kh, head_dim_ * sizeof(float));
        std::memcpy(vd, vh, head_dim_ * sizeof(float));
        break;
    }
  }
}

kernels::KvRows KvCache::rows(const uint8_t* head_plane, const KvSequence& seq) const {
  kernels::KvRows r;
  r.base = head_plane;
  r.stride = head_dim_;
  r.type = type_ == KvCacheType::F16    ? kernels::KvElement::F16
           : type_ == KvCacheType::Q8_0 ? kernels::KvElement::Q8_0
                                        : kernels::KvElement::F32;
  if (seq.contiguous()) {  // rows from the first block on, one after another
    const size_t first_row = size_t(seq.blocks()[0]) << kBlockShift;
    r.base = static_cast<const uint8_t*>(r.base) + first_row * head_row_bytes_;
  } else {
    r.blocks = seq.blocks();
    r.block_shift = kBlockShift;
  }
  return r;
}

kernels::KvRows KvCache::keys(uint32_t layer, uint32_t head, const KvSequence& seq) const {
  return rows(head_plane(layer, false, head), seq);
}
kernels::KvRows KvCache::values(uint32_t layer, uint32_t head, const KvSequence& seq) const {
  return rows(head_plane(layer, true, head), seq);
}

void KvSequence::note_blocks_changed() {
  contiguous_ = true;
  for (size_t i = 1; i < blocks_.size() && contiguous_; ++i)
    contiguous_ = blocks_[i] == blocks_[0] + i;
}

uint32_t KvSequence::blocks_needed(const KvCache& cache, uint32_t n) const {
  const uint32_t have = uint32_t(blocks_.size());
  const uint32_t want = (n_past_ + n + KvCache::kBlockRows - 1) >> KvCache::kBlockShift;
  uint32_t needed = want > have ? want - have : 0;
  // Appending into a block another sequence also holds: that block is copied first.
  const uint32_t in_block = n_past_ & (KvCache::kBlockRows - 1);
  if (n > 0 && in_block != 0 && cache.holders(blocks_[n_past_ >> KvCache::kBlockShift]) > 1)
    ++needed;
  return needed;
}

void KvSequence::reserve(KvCache& cache, uint32_t n) {
  const uint32_t needed = blocks_needed(cache, n);
  if (needed > cache.free_blocks())
    throw Error(ErrorKind::ContextFull,
                "KV cache full: " + std::to_string(n) + " more positions need " +
                    std::to_string(needed) + " blocks of " + std::to_string(KvCache::kBlockRows) +
                    ", " + std::to_string(cache.free_blocks()) + " are free");
  const uint32_t in_block = n_past_ & (KvCache::kBlockRows - 1);
  if (n > 0 && in_block != 0) {
    uint32_t& last = blocks_[n_past_ >> KvCache::kBlockShift];
    if (cache.holders(last) > 1) {  // copy on write
      const uint32_t copy = cache.allocate();
      cache.copy_rows(last, copy, in_block);
      cache.release(last);
      last = copy;
    }
  }
  const uint32_t want = (n_past_ + n + KvCache::kBlockRows - 1) >> KvCache::kBlockShift;
  while (blocks_.size() < want) blocks_.push_back(cache.allocate());
  note_blocks_changed();
}

void KvSequence::truncate(KvCache& cache, uint32_t n_keep) {
  const uint32_t keep_blocks = (n_keep + KvCache::kBlockRows - 1) >> KvCache::kBlockShift;
  while (blocks_.size() > keep_blocks) {
    cache.release(blocks_.back());
    blocks_.pop_back();
  }
  n_past_ = std::min(n_past_, n_keep);
  note_blocks_changed();
}

KvSequence KvSequence::fork(KvCache& cache, uint32_t n_keep) const {
  KvSequence child;
  const uint32_t keep_blocks = (n_keep + KvCache::kBlockRows - 1) >> KvCache::kBlockShift;
  child.blocks_.assign(blocks_.begin(), blocks_.begin() + keep_blocks);
  for (uint32_t b : child.blocks_) cache.retain(b);
  child.n_past_ = n_keep;
  child.note_blocks_changed();
  return child;
}

}  // namespace minillm
