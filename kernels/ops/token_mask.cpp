#include "kernels/ops/token_mask.h"

#include <limits>

#include "kernels/cpu.h"
#include "kernels/isa_entry.h"

namespace minillm::kernels {

bool mask_tokens_reference(float* x, const uint64_t* allowed, size_t n) {
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    const bool on = (allowed[i / 64] >> (i % 64)) & 1;
    if (!on) x[i] = -std::numeric_limits<float>::infinity();
    any |= on;
  }
  return any;
}

bool mask_tokens(float* x, const uint64_t* allowed, size_t n) {
  switch (active_isa()) {
    case Isa::Avx512:
      return isa::mask_tokens_avx512(x, allowed, n);
    case Isa::Avx2:
      return isa::mask_tokens_avx2(x, allowed, n);
    default:
      return mask_tokens_reference(x, allowed, n);
  }
}

}  // namespace minillm::kernels
