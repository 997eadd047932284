// libFuzzer target for the GGUF reader: any input must parse or throw minillm::Error. Built with
// -DMINILLM_FUZZ=ON and clang (see tests/CMakeLists.txt); run e.g.
//   build-fuzz/tests/gguf_fuzz -max_total_time=70 corpus/ seeds/
#include <cstddef>
#include <cstdint>
#include <span>

#include "minillm/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const minillm::GGUFFile f = minillm::GGUFFile::parse_copy(std::span<const uint8_t>(data, size));
    // Touch what a caller would: every tensor byte and every metadata value.
    volatile uint8_t sink = 0;
    for (const minillm::GGUFTensorInfo& t : f.tensors())
      for (uint8_t b : t.data) sink = sink ^ b;
    for (const auto& [key, value] : f.metadata()) {
      if (value.is_array()) sink = sink ^ static_cast<uint8_t>(value.array().items.size());
      sink = sink ^ static_cast<uint8_t>(key.size());
    }
  } catch (const minillm::Error&) {
    // Rejected cleanly.
  }
  return 0;
}
