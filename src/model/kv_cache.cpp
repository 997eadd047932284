#include "model/kv_cache.h"

#include <cstring>

#include "kernels/f16.h"

namespace minillm {

KvCache::KvCache(uint32_t n_layer, uint32_t capacity, uint32_t width, KvCacheType type)
    : capacity_(capacity),
      width_(width),
      type_(type),
      element_bytes_(type == KvCacheType::F16 ? 2 : 4),
      k_(n_layer, std::vector<uint8_t>(size_t(capacity) * width * element_bytes_)),
      v_(n_layer, std::vector<uint8_t>(size_t(capacity) * width * element_bytes_)) {}

void KvCache::store(uint32_t layer, uint32_t position, const float* k, const float* v) {
  const size_t offset = size_t(position) * width_ * element_bytes_;
  uint8_t* kd = k_[layer].data() + offset;
  uint8_t* vd = v_[layer].data() + offset;
  if (type_ == KvCacheType::F16) {
    kernels::convert_f32_to_f16(k, reinterpret_cast<uint16_t*>(kd), width_);
    kernels::convert_f32_to_f16(v, reinterpret_cast<uint16_t*>(vd), width_);
  } else {
    std::memcpy(kd, k, width_ * sizeof(float));
    std::memcpy(vd, v, width_ * sizeof(float));
  }
}

kernels::KvRows KvCache::rows(const std::vector<uint8_t>& buf, uint32_t head,
                              uint32_t head_dim) const {
  kernels::KvRows r;
  r.base = buf.data() + size_t(head) * head_dim * element_bytes_;
  r.stride = width_;
  r.type = type_ == KvCacheType::F16 ? kernels::KvElement::F16 : kernels::KvElement::F32;
  return r;
}

kernels::KvRows KvCache::keys(uint32_t layer, uint32_t head, uint32_t head_dim) const {
  return rows(k_[layer], head, head_dim);
}
kernels::KvRows KvCache::values(uint32_t layer, uint32_t head, uint32_t head_dim) const {
  return rows(v_[layer], head, head_dim);
}

}  // namespace minillm
