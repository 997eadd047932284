// Softmax and SwiGLU on every code path against the scalar references (std::exp) and float64:
// SwiGLU within 4 ulp of the reference over the whole float range of e^-g, softmax within 2e-6
// relative, so the AVX-512 vector e^x they are built on is checked across its range.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops/activations.h"
#include "kernels_test_util.h"

namespace minillm::kernels {
namespace {

using testing::ScopedIsa;
using testing::supported_isas;

// Distance in units in the last place between two finite floats of the same sign.
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::llabs(int64_t(ia) - int64_t(ib));
}

TEST(Activations, SwigluMatchesTheReferenceOverTheWholeRange) {
  // Gates from -120 to 120 (exp(-g) from 0 to overflow) in fine steps, plus special values.
  std::vector<float> gate, up;
  for (float g = -120.0f; g <= 120.0f; g += 0.0137f) gate.push_back(g), up.push_back(1.0f);
  for (float g : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 89.5f, -89.5f, -103.9f, -104.5f})
    gate.push_back(g), up.push_back(0.75f);
  std::vector<float> want(gate.size());
  swiglu_reference(gate.data(), up.data(), want.data(), gate.size());
  for (Isa isa : supported_isas()) {
    SCOPED_TRACE(isa_name(isa));
    ScopedIsa scope(isa);
    std::vector<float> got(gate.size(), std::nanf(""));
    swiglu(gate.data(), up.data(), got.data(), gate.size());
    for (size_t i = 0; i < gate.size(); ++i) {
      const double truth = double(gate[i]) / (1.0 + std::exp(-double(gate[i]))) * up[i];
      ASSERT_LE(ulps(got[i], want[i]), 4)
          << "g " << gate[i] << " got " << got[i] << " want " << want[i];
      // 1e-36: below g = -88.7 e^-g overflows in float, silu rounds to -0 (truth ~ -1e-37).
      ASSERT_NEAR(got[i], truth, 1e-6 * std::fabs(truth) + 1e-36) << "g " << gate[i];
    }
  }
}

TEST(Activations, SoftmaxMatchesTheReferenceAndSumsToOne) {
  std::mt19937 rng(3);
  for (size_t n : {1u, 5u, 16u, 17u, 100u, 1000u, 4096u}) {
    for (float spread : {0.1f, 3.0f, 40.0f}) {  // from flat to one dominant value
      std::normal_distribution<float> normal(0.0f, spread);
      std::vector<float> x(n);
      for (float& v : x) v = normal(rng) + 50.0f;  // offset: the max subtraction matters
      std::vector<float> want = x;
      softmax_reference(want.data(), n);
      for (Isa isa : supported_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " n " + std::to_string(n) + " spread " +
                     std::to_string(spread));
        ScopedIsa scope(isa);
        std::vector<float> got = x;
        softmax(got.data(), n);
        double sum = 0;
        for (size_t i = 0; i < n; ++i) {
          sum += got[i];
          ASSERT_NEAR(got[i], want[i], 2e-6 * want[i] + 1e-30) << i;
        }
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
    }
  }
  std::vector<float> none;
  softmax(none.data(), 0);  // no values: nothing to do, no read
}

}  // namespace
}  // namespace minillm::kernels
