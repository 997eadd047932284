// Helpers shared by the kernel tests: run a body once per code path this machine supports.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "kernels/cpu.h"

namespace minillm::kernels::testing {

// Every ISA up to best_isa(): on an AVX-512 machine, scalar, avx2 and avx512.
inline std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (static_cast<int>(isa) <= static_cast<int>(best_isa())) out.push_back(isa);
  return out;
}

// Forces a path for the lifetime of the object.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa) { set_isa_for_testing(isa); }
  ~ScopedIsa() { set_isa_for_testing(std::nullopt); }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;
};

}  // namespace minillm::kernels::testing
