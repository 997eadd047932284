// The panel buffers of the integer GEMM paths (qgemm_avx2.cpp, qgemm_avx512.cpp), taken from the
// calling thread's scratch (isa_entry.h). Internal linkage, like isa_local.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/isa_entry.h"

namespace minillm::kernels::isa {
namespace {

// A panel of panel_rows weight rows in slot layout, and the generic path's 16 unpacked rows.
struct Panel {
  uint8_t* u;     // [n_in / 4][slot_bytes]: slot vectors
  float* dw;      // [n_sub][panel_rows]
  float* mw;      // [n_sub][panel_rows]
  uint8_t* rows;  // [16][n_in]: generic path, rows unpacked by the reference decoder
  float* rdw;     // [16][n_sub]
  float* rmw;     // [16][n_sub]
};

inline Panel thread_panel(size_t n_in, size_t n_sub, size_t slot_bytes, size_t panel_rows) {
  auto bytes = [](int slot, size_t n) { return static_cast<uint8_t*>(thread_scratch(slot, n)); };
  auto floats = [](int slot, size_t n) {
    return static_cast<float*>(thread_scratch(slot, n * sizeof(float)));
  };
  return {bytes(0, n_in / 4 * slot_bytes), floats(1, n_sub * panel_rows),
          floats(2, n_sub * panel_rows),   bytes(3, 16 * n_in),
          floats(4, 16 * n_sub),           floats(5, 16 * n_sub)};
}

}  // namespace
}  // namespace minillm::kernels::isa
