#include "kernels/ops/stream.h"

#include <cstring>

#include "kernels/cpu.h"
#include "kernels/isa_entry.h"

namespace minillm::kernels {

uint64_t stream_read(const void* p, size_t n) {
  switch (active_isa()) {
    case Isa::Avx512:
      return isa::stream_read_avx512(p, n);
    case Isa::Avx2:
      return isa::stream_read_avx2(p, n);
    case Isa::Scalar:
      break;
  }
  // Eight independent sums, so that the loads, not the adds, set the pace.
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t a[8] = {};
  for (size_t i = 0; i < n; i += 64)
    for (size_t k = 0; k < 8; ++k) {
      uint64_t w;
      std::memcpy(&w, b + i + 8 * k, 8);
      a[k] += w;
    }
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

}  // namespace minillm::kernels
