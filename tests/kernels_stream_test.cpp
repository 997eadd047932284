// The bandwidth probe's reader (kernels/ops/stream.h): every code path reads every byte and returns
// the same checksum, the sum of the 64-bit words modulo 2^64.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>

#include "kernels/ops/stream.h"
#include "kernels_test_util.h"

namespace minillm::kernels {
namespace {

TEST(StreamRead, EveryPathSumsEveryWord) {
  std::mt19937_64 rng(9);
  for (size_t n : {256u, 4096u, 65536u + 256u}) {
    std::unique_ptr<uint8_t[], decltype(&std::free)> buf(
        static_cast<uint8_t*>(std::aligned_alloc(64, n)), &std::free);
    uint64_t want = 0;
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t w = rng();
      std::memcpy(buf.get() + i, &w, 8);
      want += w;
    }
    for (Isa isa : testing::supported_isas()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " n " + std::to_string(n));
      const testing::ScopedIsa scope(isa);
      EXPECT_EQ(stream_read(buf.get(), n), want);
      buf[n - 1] ^= 1;  // the last byte is read too
      EXPECT_NE(stream_read(buf.get(), n), want);
      buf[n - 1] ^= 1;
    }
  }
}

}  // namespace
}  // namespace minillm::kernels
