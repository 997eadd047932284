// Token masking on every code path against the scalar reference: the same bits in every value,
// the same "any allowed" answer, and nothing written past n; bitmaps from empty to full, with
// sizes around the 8-, 16- and 64-value steps the vector paths take.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/ops/token_mask.h"
#include "kernels_test_util.h"

namespace minillm::kernels {
namespace {

using testing::ScopedIsa;
using testing::supported_isas;

std::vector<uint64_t> random_bitmap(size_t n, double density, std::mt19937& rng) {
  std::vector<uint64_t> bits((n + 63) / 64 + 1, 0);
  std::bernoulli_distribution on(density);
  for (size_t i = 0; i < n; ++i)
    if (on(rng)) bits[i / 64] |= uint64_t(1) << (i % 64);
  // Bits past n are set or not at random: the kernels must ignore them.
  for (size_t i = n; i < bits.size() * 64; ++i)
    if (rng() & 1) bits[i / 64] |= uint64_t(1) << (i % 64);
  return bits;
}

TEST(TokenMask, EveryPathEqualsTheReference) {
  std::mt19937 rng(7);
  const size_t sizes[] = {0,  1,  7,   8,   9,    15,    16,     17,    63,
                          64, 65, 100, 128, 1000, 32000, 128256, 128257};
  const double densities[] = {0.0, 0.001, 0.3, 0.97, 0.9999, 1.0};
  for (size_t n : sizes)
    for (double density : densities) {
      const std::vector<uint64_t> bits = random_bitmap(n, density, rng);
      std::vector<float> x = testing::random_floats(n + 16, rng);
      std::vector<float> want = x;
      const bool want_any = mask_tokens_reference(want.data(), bits.data(), n);
      size_t set = 0;
      for (size_t i = 0; i < n; ++i) set += (bits[i / 64] >> (i % 64)) & 1;
      ASSERT_EQ(want_any, set > 0);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(std::isinf(want[i]) && want[i] < 0, !((bits[i / 64] >> (i % 64)) & 1));
      for (Isa isa : supported_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " n " + std::to_string(n) + " density " +
                     std::to_string(density));
        ScopedIsa scope(isa);
        std::vector<float> got = x;
        EXPECT_EQ(mask_tokens(got.data(), bits.data(), n), want_any);
        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
            << "values differ (or a value past n was written)";
      }
    }
}

}  // namespace
}  // namespace minillm::kernels
