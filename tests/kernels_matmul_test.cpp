// Matrix product (Exact mode; Fast mode is in kernels_qdot_test.cpp) and dot product on every code
// path this machine supports: against a float64
// product of the exactly dequantized weights, against the scalar path, bitwise reproducibility
// across thread counts and batch sizes, and odd shapes. Also the CPU/ISA selection.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/cpu.h"
#include "kernels/f16.h"
#include "kernels/matmul/matmul.h"
#include "kernels/quant/quant.h"
#include "kernels_test_util.h"
#include "minillm/error.h"

namespace minillm::kernels {
namespace {

using testing::IsaPath;
using testing::make_weights;
using testing::random_floats;
using testing::ScopedIsa;
using testing::supported_isas;
using testing::supported_paths;

const TensorType kAllTypes[] = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,   TensorType::Q4_1,
    TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q2_K,   TensorType::Q3_K,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};

struct Reference {
  std::vector<double> y;    // float64 product of the dequantized weights
  std::vector<double> mag;  // sum |w| |x| per output, the scale of the rounding error
};

Reference reference(TensorType t, const std::vector<uint8_t>& w, size_t n_out, size_t n_in,
                    const std::vector<float>& x, size_t n_tok) {
  Reference r{std::vector<double>(n_out * n_tok), std::vector<double>(n_out * n_tok)};
  std::vector<float> row(n_in);
  const size_t rb = row_bytes(t, n_in);
  for (size_t o = 0; o < n_out; ++o) {
    dequantize_row(t, w.data() + o * rb, row.data(), n_in);
    for (size_t tok = 0; tok < n_tok; ++tok) {
      double s = 0, m = 0;
      for (size_t i = 0; i < n_in; ++i) {
        s += static_cast<double>(row[i]) * x[tok * n_in + i];
        m += std::fabs(static_cast<double>(row[i]) * x[tok * n_in + i]);
      }
      r.y[tok * n_out + o] = s;
      r.mag[tok * n_out + o] = m;
    }
  }
  return r;
}

std::vector<float> run(TensorType t, const std::vector<uint8_t>& w, size_t n_out, size_t n_in,
                       const std::vector<float>& x, size_t n_tok, int threads) {
  std::vector<float> y(n_out * n_tok, std::nanf(""));
  matmul(t, w.data(), n_out, n_in, x.data(), n_tok, y.data(), threads, MatmulMode::Exact);
  return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Matmul, HandComputedF32) {
  // W = [[1, 2, 3], [-1, 0, 0.5]], x = [[1, 1, 1], [2, -1, 4]].
  const float w[6] = {1, 2, 3, -1, 0, 0.5f};
  const float x[6] = {1, 1, 1, 2, -1, 4};
  for (const IsaPath isa : supported_paths()) {
    ScopedIsa scope(isa);
    float y[4];
    matmul(TensorType::F32, w, 2, 3, x, 2, y, 2);
    EXPECT_EQ(y[0], 6.0f) << isa_name(isa);
    EXPECT_EQ(y[1], -0.5f);  // -1 + 0 + 0.5
    EXPECT_EQ(y[2], 12.0f);  // 2 - 2 + 12
    EXPECT_EQ(y[3], 0.0f);   // -2 + 0 + 2
  }
}

TEST(Matmul, HandComputedQ4_0) {
  // One row, one block: d = 0.5, every nibble 9 -> every weight (9 - 8) * 0.5 = 0.5.
  BlockQ4_0 b{};
  b.d = 0x3800;
  std::memset(b.qs, 0x99, sizeof(b.qs));
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i);  // sum 496
  for (const IsaPath isa : supported_paths()) {
    ScopedIsa scope(isa);
    float y = 0;
    matmul(TensorType::Q4_0, &b, 1, 32, x.data(), 1, &y, 1, MatmulMode::Exact);
    EXPECT_EQ(y, 248.0f) << isa_name(isa);
    // Fast mode: x quantized with da = 31 / 127, qa_i = round(i * 127 / 31); sum qa = 2032.
    matmul(TensorType::Q4_0, &b, 1, 32, x.data(), 1, &y, 1, MatmulMode::Fast);
    EXPECT_EQ(y, 2032.0f * (0.5f * (31.0f / 127.0f))) << isa_name(isa);
  }
}

// Every type on every path, a batch, several thread counts.
TEST(Matmul, AllTypesAllPathsMatchFloat64AndScalar) {
  std::mt19937 rng(11);
  // 2048 inputs give 16-row tiles: 150 rows are 10 tiles (the last one partial) over the threads.
  const size_t n_out = 150, n_in = 2048, n_tok = 5;
  const auto x = random_floats(n_in * n_tok, rng);
  for (TensorType t : kAllTypes) {
    SCOPED_TRACE(type_name(t));
    ASSERT_TRUE(matmul_supported(t));
    const auto w = make_weights(t, n_out, n_in, rng);
    const Reference ref = reference(t, w, n_out, n_in, x, n_tok);
    std::vector<float> scalar;
    {
      ScopedIsa scope(Isa::Scalar);
      scalar = run(t, w, n_out, n_in, x, n_tok, 1);
    }
    for (const IsaPath isa : supported_paths()) {
      SCOPED_TRACE(isa_name(isa));
      ScopedIsa scope(isa);
      const auto batch = run(t, w, n_out, n_in, x, n_tok, 3);
      for (size_t i = 0; i < batch.size(); ++i) {
        ASSERT_NEAR(batch[i], ref.y[i], 1e-5 * ref.mag[i] + 1e-30) << i;
        ASSERT_NEAR(batch[i], scalar[i], 1e-6 * ref.mag[i] + 1e-30) << i;
      }
      // Bitwise: any thread count, and one token at a time (the GEMV path) vs the batch.
      EXPECT_TRUE(same_bits(run(t, w, n_out, n_in, x, n_tok, 1), batch));
      EXPECT_TRUE(same_bits(run(t, w, n_out, n_in, x, n_tok, 2), batch));
      for (size_t tok = 0; tok < n_tok; ++tok) {
        const std::vector<float> xt(x.begin() + tok * n_in, x.begin() + (tok + 1) * n_in);
        const auto one = run(t, w, n_out, n_in, xt, 1, 3);
        ASSERT_EQ(std::memcmp(one.data(), batch.data() + tok * n_out, n_out * sizeof(float)), 0)
            << "token " << tok;
      }
    }
  }
}

TEST(Matmul, OddShapes) {
  std::mt19937 rng(3);
  struct Shape {
    TensorType t;
    size_t n_out, n_in, n_tok;
  };
  const Shape shapes[] = {
      {TensorType::F32, 1, 1, 1},      {TensorType::F32, 3, 7, 2},
      {TensorType::F32, 5, 17, 3},     {TensorType::F32, 9, 33, 1},
      {TensorType::F16, 7, 23, 2},     {TensorType::F16, 2, 8, 1},
      {TensorType::BF16, 13, 41, 3},   {TensorType::BF16, 1, 15, 1},
      {TensorType::Q4_0, 1, 32, 1},    {TensorType::Q4_0, 7, 32, 2},
      {TensorType::Q8_0, 3, 96, 4},    {TensorType::Q8_0, 1, 32, 3},
      {TensorType::Q4_1, 5, 32, 2},    {TensorType::Q5_0, 1, 64, 1},
      {TensorType::Q5_1, 6, 32, 1},    {TensorType::Q2_K, 1, 256, 1},
      {TensorType::Q3_K, 3, 256, 2},   {TensorType::Q4_K, 5, 256, 1},
      {TensorType::Q5_K, 2, 512, 3},   {TensorType::Q6_K, 9, 256, 2},
      {TensorType::F16, 300, 64, 2},   {TensorType::IQ4_NL, 3, 64, 2},
      {TensorType::IQ4_XS, 5, 512, 3}, {TensorType::Q4_0, 600, 32, 1},  // more rows than any tile
  };
  for (const Shape& s : shapes) {
    SCOPED_TRACE(std::string(type_name(s.t)) + " " + std::to_string(s.n_out) + "x" +
                 std::to_string(s.n_in) + " tok " + std::to_string(s.n_tok));
    const auto w = make_weights(s.t, s.n_out, s.n_in, rng);
    const auto x = random_floats(s.n_in * s.n_tok, rng);
    const Reference ref = reference(s.t, w, s.n_out, s.n_in, x, s.n_tok);
    for (const IsaPath isa : supported_paths()) {
      SCOPED_TRACE(isa_name(isa));
      ScopedIsa scope(isa);
      const auto y = run(s.t, w, s.n_out, s.n_in, x, s.n_tok, 2);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], ref.y[i], 1e-5 * ref.mag[i] + 1e-30) << i;
      for (size_t tok = 0; tok < s.n_tok; ++tok) {
        const std::vector<float> xt(x.begin() + tok * s.n_in, x.begin() + (tok + 1) * s.n_in);
        const auto one = run(s.t, w, s.n_out, s.n_in, xt, 1, 1);
        ASSERT_EQ(std::memcmp(one.data(), y.data() + tok * s.n_out, s.n_out * sizeof(float)), 0);
      }
    }
  }
}

TEST(Matmul, LargeRowAccuracy) {
  // A long row with large cancellation: still within float32 accumulation error.
  std::mt19937 rng(9);
  const size_t n_out = 8, n_in = 11008;
  const auto x = random_floats(n_in, rng);
  for (TensorType t : {TensorType::F32, TensorType::Q4_0, TensorType::Q6_K}) {
    const auto w = make_weights(t, n_out, n_in, rng);
    const Reference ref = reference(t, w, n_out, n_in, x, 1);
    for (const IsaPath isa : supported_paths()) {
      ScopedIsa scope(isa);
      const auto y = run(t, w, n_out, n_in, x, 1, 2);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], ref.y[i], 1e-5 * ref.mag[i]) << type_name(t) << " " << isa_name(isa);
    }
  }
}

TEST(Matmul, RejectsBadArguments) {
  float x[64] = {}, y[4];
  uint8_t w[1024] = {};
  EXPECT_FALSE(matmul_supported(TensorType::Q8_K));
  EXPECT_FALSE(matmul_supported(TensorType::IQ3_S));
  try {
    matmul(TensorType::IQ3_S, w, 1, 256, x, 1, y, 1);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("IQ3_S"), std::string::npos) << e.what();
  }
  EXPECT_THROW(matmul(TensorType::Q4_0, w, 1, 48, x, 1, y, 1), Error);  // not whole blocks
  EXPECT_THROW(matmul(TensorType::IQ4_XS, w, 1, 32, x, 1, y, 1), Error);
  EXPECT_THROW(matmul(TensorType::IQ4_NL, w, 1, 48, x, 1, y, 1), Error);
}

TEST(Dot, MatchesFloat64OnEveryPath) {
  std::mt19937 rng(21);
  for (size_t n :
       {size_t{0}, size_t{1}, size_t{5}, size_t{16}, size_t{31}, size_t{100}, size_t{4099}}) {
    const auto a = random_floats(n, rng), b = random_floats(n, rng);
    double ref = 0, mag = 0;
    for (size_t i = 0; i < n; ++i) {
      ref += static_cast<double>(a[i]) * b[i];
      mag += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    for (const IsaPath isa : supported_paths()) {
      ScopedIsa scope(isa);
      EXPECT_NEAR(dot_f32(a.data(), b.data(), n), ref, 1e-6 * mag + 1e-30)
          << n << " " << isa_name(isa);
    }
  }
}

TEST(Cpu, IsaSelection) {
  EXPECT_EQ(parse_isa("avx2"), Isa::Avx2);
  EXPECT_EQ(parse_isa("scalar"), Isa::Scalar);
  EXPECT_EQ(parse_isa("avx512"), Isa::Avx512);
  EXPECT_FALSE(parse_isa("sse9").has_value());
  EXPECT_EQ(isa_name(Isa::Avx512), "avx512");
  const CpuFeatures& f = cpu_features();
  if (best_isa() >= Isa::Avx2) {
    EXPECT_TRUE(f.avx2 && f.fma && f.f16c);
  }
  if (best_isa() == Isa::Avx512) {
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq);
  }
  for (const IsaPath isa : supported_paths()) {
    ScopedIsa scope(isa);
    EXPECT_EQ(active_isa(), isa);
  }
  if (best_isa() != Isa::Avx512) {
    EXPECT_THROW(set_isa_for_testing(Isa::Avx512), Error);
  }
  std::printf("best ISA here: %s (avx512_vnni %d, avx512_bf16 %d, avx_vnni %d)\n",
              std::string(isa_name(best_isa())).c_str(), f.avx512vnni, f.avx512bf16, f.avx_vnni);
}

// The identity CPUID gives agrees with what Linux shows in /proc/cpuinfo (read independently).
TEST(Cpu, IdentityMatchesProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  if (!in) GTEST_SKIP() << "no /proc/cpuinfo on this system";
  std::map<std::string, std::string> first;  // the first processor's fields
  for (std::string line; std::getline(in, line) && !line.empty();) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), value = line.substr(colon + 1);
    key.erase(key.find_last_not_of(" \t") + 1);
    value.erase(0, value.find_first_not_of(' '));
    first.emplace(key, value);
  }
  const CpuIdentity& id = cpu_identity();
  EXPECT_EQ(id.vendor, first["vendor_id"]);
  EXPECT_EQ(std::to_string(id.family), first["cpu family"]);
  EXPECT_EQ(std::to_string(id.model), first["model"]);
  EXPECT_EQ(id.brand, first["model name"]);
  const std::string summary = cpu_summary();
  EXPECT_EQ(summary.rfind(id.brand + " (" + id.vendor + " family ", 0), 0u) << summary;
  EXPECT_EQ(summary.find(" avx512") != std::string::npos, cpu_features().avx512f) << summary;
  std::printf("cpu: %s\n", summary.c_str());
}

}  // namespace
}  // namespace minillm::kernels
