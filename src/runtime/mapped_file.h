// Read-only memory mapping of a whole file. Model weights stay in the mapping (no copy), so the
// mapping is shared (shared_ptr) by every object holding a view into it.
#pragma once

#include <cstddef>
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

// Tells the OS that the mapped pages inside [p, p + n) will not be read again, so they leave the
// process's memory (a later read still works: it faults the page in from the file again).
void release_mapped_pages(const void* p, size_t n);

}  // namespace minillm
