#include "runtime/reserved_memory.h"

#include <sys/mman.h>

#include <string>

#include "minillm/error.h"

namespace minillm {

ReservedMemory::ReservedMemory(size_t bytes, const char* what) : bytes_(bytes == 0 ? 1 : bytes) {
  void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    throw Error(ErrorKind::OutOfMemory,
                "cannot reserve " + std::to_string(bytes_ >> 20) + " MiB for " + what);
  data_ = static_cast<uint8_t*>(p);
}

ReservedMemory::~ReservedMemory() {
  munmap(data_, bytes_);
}

}  // namespace minillm
