// Builds small safetensors files in memory for tests: a JSON header and the data bytes, laid out
// as the format defines (u64 little-endian header length, header, data).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minillm::test {

inline std::vector<uint8_t> safetensors_bytes(const std::string& header,
                                              const std::vector<uint8_t>& data) {
  const uint64_t n = header.size();
  std::vector<uint8_t> out(8 + header.size() + data.size());
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(n >> (8 * i));
  if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

// Tensors added one after another in the data section.
class SafetensorsBuilder {
 public:
  SafetensorsBuilder& add(const std::string& name, const std::string& dtype,
                          std::vector<uint64_t> shape, const void* bytes, size_t n_bytes) {
    header_[name] = {{"dtype", dtype},
                     {"shape", shape},
                     {"data_offsets", {data_.size(), data_.size() + n_bytes}}};
    const auto* p = static_cast<const uint8_t*>(bytes);
    data_.insert(data_.end(), p, p + n_bytes);
    return *this;
  }
  SafetensorsBuilder& add_f32(const std::string& name, std::vector<uint64_t> shape,
                              const std::vector<float>& values) {
    return add(name, "F32", std::move(shape), values.data(), values.size() * sizeof(float));
  }
  nlohmann::json& header() { return header_; }
  std::vector<uint8_t>& data() { return data_; }
  std::vector<uint8_t> bytes() const { return safetensors_bytes(header_.dump(), data_); }
  void write(const std::filesystem::path& path) const {
    const auto b = bytes();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  }

 private:
  nlohmann::json header_ = nlohmann::json::object();
  std::vector<uint8_t> data_;
};

}  // namespace minillm::test
