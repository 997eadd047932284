// Read-only memory mapping of a whole file. Model weights stay in the mapping (no copy), so the
// mapping is shared (shared_ptr) by every object holding a view into it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

namespace minillm {

class MappedFile {
 public:
  // Throws Error naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace minillm
