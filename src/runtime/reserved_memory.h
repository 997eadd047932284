// Address space reserved up front and backed by memory only where it is written: for tables
// that must never move (their addresses stay valid as they grow) and whose final size is not
// known. Untouched pages cost nothing (MAP_NORESERVE: no swap accounting for them either).
#pragma once

#include <cstddef>
#include <cstdint>

namespace minillm {

class ReservedMemory {
 public:
  // Throws Error(OutOfMemory), naming `what` the memory is for, when it cannot.
  ReservedMemory(size_t bytes, const char* what);
  ~ReservedMemory();
  ReservedMemory(const ReservedMemory&) = delete;
  ReservedMemory& operator=(const ReservedMemory&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace minillm
