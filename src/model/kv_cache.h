// Per-layer keys and values of the positions a session has evaluated.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "minillm/session.h"

namespace minillm {

class KvCache {
 public:
  KvCache(uint32_t n_layer, uint32_t capacity, uint32_t width, KvCacheType type);

  uint32_t capacity() const { return capacity_; }
  uint32_t width() const { return width_; }  // n_head_kv * head_dim

  // Stores the K and V rows (width floats each) of one position of one layer.
  void store(uint32_t layer, uint32_t position, const float* k, const float* v);
  // Rows of one KV head (its head_dim columns at column offset head * head_dim).
  kernels::KvRows keys(uint32_t layer, uint32_t head, uint32_t head_dim) const;
  kernels::KvRows values(uint32_t layer, uint32_t head, uint32_t head_dim) const;

 private:
  kernels::KvRows rows(const std::vector<uint8_t>& buf, uint32_t head, uint32_t head_dim) const;
  uint32_t capacity_;
  uint32_t width_;
  KvCacheType type_;
  size_t element_bytes_;
  std::vector<std::vector<uint8_t>> k_;  // (n_layer) × (capacity, width) elements
  std::vector<std::vector<uint8_t>> v_;  // (n_layer) × (capacity, width) elements
};

}  // namespace minillm
