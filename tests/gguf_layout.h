// A second, deliberately simple GGUF walker for tests: it knows nothing of the library's reader and
// records where every field of a (valid) file lies, so tests can check the reader against it and
// corrupt files at exact field boundaries. Written from the GGUF specification:
//   header: magic "GGUF", version u32, tensor count u64, metadata count u64;
//   metadata: key (u64 length + bytes), value type u32, value (arrays: element type u32,
//   count u64, elements); tensor infos: name, n_dims u32, dims u64 x n_dims, type u32, offset u64.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace minillm::test {

struct GGUFField {
  uint64_t offset;
  uint64_t size;
  std::string kind;  // "magic", "key_len", "array_len", "n_dims", "dim", "tensor_offset", ...
};

struct GGUFLayoutTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type = 0;
  uint64_t offset = 0;
  uint64_t info_offset = 0;  // where the tensor info starts (its name length)
};

struct GGUFLayout {
  uint32_t version = 0;
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
  std::vector<std::string> keys;
  std::vector<uint32_t> value_types;
  uint32_t alignment = 32;  // general.alignment when present as UINT32
  std::vector<GGUFLayoutTensor> tensors;
  uint64_t end_of_infos = 0;
  std::vector<GGUFField> fields;  // in file order, header through the last tensor info
};

inline uint64_t load_le(std::span<const uint8_t> b, uint64_t at, int n) {
  if (at + n > b.size()) throw std::runtime_error("test walker: file ends inside a field");
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}

inline GGUFLayout walk_gguf(std::span<const uint8_t> b) {
  GGUFLayout l;
  uint64_t p = 0;
  auto take = [&](int n, const char* kind) {
    const uint64_t v = load_le(b, p, n);
    l.fields.push_back({p, uint64_t(n), kind});
    p += n;
    return v;
  };
  auto take_string = [&](const char* len_kind, const char* kind) {
    const uint64_t n = take(8, len_kind);
    if (n > b.size() - p) throw std::runtime_error("test walker: string past the end");
    std::string s(reinterpret_cast<const char*>(b.data() + p), n);
    l.fields.push_back({p, n, kind});
    p += n;
    return s;
  };
  // Sizes of the fixed-size value types 0..12 (0 for string and array).
  static constexpr int kSize[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  auto take_value = [&](auto& self, uint32_t type) -> uint64_t {
    if (type > 12) throw std::runtime_error("test walker: unknown value type");
    if (type == 8) {
      take_string("string_len", "string");
      return 0;
    }
    if (type == 9) {
      const uint32_t elem = uint32_t(take(4, "elem_type"));
      const uint64_t n = take(8, "array_len");
      for (uint64_t i = 0; i < n; ++i) self(self, elem);
      return 0;
    }
    return take(kSize[type], type == 7 ? "bool" : "scalar");
  };

  if (take(4, "magic") != 0x46554747) throw std::runtime_error("test walker: bad magic");
  l.version = uint32_t(take(4, "version"));
  l.n_tensors = take(8, "tensor_count");
  l.n_kv = take(8, "kv_count");
  for (uint64_t i = 0; i < l.n_kv; ++i) {
    l.keys.push_back(take_string("key_len", "key"));
    const uint32_t type = uint32_t(take(4, "value_type"));
    l.value_types.push_back(type);
    const uint64_t v = take_value(take_value, type);
    if (l.keys.back() == "general.alignment" && type == 4) l.alignment = uint32_t(v);
  }
  for (uint64_t i = 0; i < l.n_tensors; ++i) {
    GGUFLayoutTensor t;
    t.info_offset = p;
    t.name = take_string("name_len", "name");
    const uint32_t n_dims = uint32_t(take(4, "n_dims"));
    if (n_dims > 16) throw std::runtime_error("test walker: too many dimensions");
    for (uint32_t d = 0; d < n_dims; ++d) t.dims.push_back(take(8, "dim"));
    t.type = uint32_t(take(4, "tensor_type"));
    t.offset = take(8, "tensor_offset");
    l.tensors.push_back(std::move(t));
  }
  l.end_of_infos = p;
  return l;
}

// Little-endian byte assembly for hand-made files.
struct ByteBuilder {
  std::vector<uint8_t> bytes;
  ByteBuilder& u8(uint8_t v) {
    bytes.push_back(v);
    return *this;
  }
  ByteBuilder& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  ByteBuilder& u16(uint16_t v) { return le(v, 2); }
  ByteBuilder& u32(uint32_t v) { return le(v, 4); }
  ByteBuilder& u64(uint64_t v) { return le(v, 8); }
  ByteBuilder& f32(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u32(u);
  }
  ByteBuilder& raw(std::string_view s) {
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  ByteBuilder& str(std::string_view s) { return u64(s.size()).raw(s); }
  ByteBuilder& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  }
  ByteBuilder& pad(size_t alignment) {
    while (bytes.size() % alignment) bytes.push_back(0);
    return *this;
  }
  ByteBuilder& zeros(size_t n) {
    bytes.insert(bytes.end(), n, 0);
    return *this;
  }
};

// Overwrites n little-endian bytes at `at`.
inline void store_le(std::vector<uint8_t>& b, uint64_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.at(at + i) = uint8_t(v >> (8 * i));
}

}  // namespace minillm::test
