// The integer ("Fast") matrix product: activation quantization (SIMD vs scalar, bitwise), the
// reference decoding of every quantized type (agrees with dequantize_row), and matmul in Fast
// mode on every code path: bitwise equal to the scalar reference, bitwise independent of threads
// and batch size, and within the activation-quantization error bound of a float64 product.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/cpu.h"
#include "kernels/f16.h"
#include "kernels/isa_entry.h"
#include "kernels/matmul/matmul.h"
#include "kernels/matmul/packed_rows.h"
#include "kernels/quant/qdot.h"
#include "kernels/quant/quant.h"
#include "kernels_test_util.h"

namespace minillm::kernels {
namespace {

using testing::IsaPath;
using testing::make_weights;
using testing::random_floats;
using testing::ScopedIsa;
using testing::supported_isas;
using testing::supported_paths;

std::vector<float> fast(TensorType t, const std::vector<uint8_t>& w, size_t n_out, size_t n_in,
                        const std::vector<float>& x, size_t n_tok, int threads) {
  std::vector<float> y(n_out * n_tok, std::nanf(""));
  matmul(t, w.data(), n_out, n_in, x.data(), n_tok, y.data(), threads, MatmulMode::Fast);
  return y;
}

bool same_bits(const float* a, const float* b, size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

TEST(QuantizeAct, SimdMatchesScalarBitwise) {
  std::mt19937 rng(5);
  const size_t n = 4096;
  auto x = random_floats(n, rng, 3.0f);
  for (size_t i = 0; i < 32; ++i) x[i] = 0.0f;                            // an all-zero block
  for (size_t i = 32; i < 64; ++i) x[i] = static_cast<float>(i) - 40.5f;  // ties after scaling
  x[100] = 1e30f;                                                         // one huge element
  std::vector<int8_t> q0(n), q1(n);
  std::vector<float> d0(n / 32), d1(n / 32);
  std::vector<int32_t> s0(n / 16), s1(n / 16);
  q::quantize_act_row(x.data(), n, q0.data(), d0.data(), s0.data());
  for (size_t b = 0; b < n / 32; ++b) {
    int32_t sum = 0;
    for (size_t i = 0; i < 32; ++i) {
      // |x - da * qa| <= da / 2 (plus float rounding of the scale).
      EXPECT_LE(std::fabs(x[32 * b + i] - d0[b] * q0[32 * b + i]), 0.5001f * d0[b] + 1e-30f);
      sum += q0[32 * b + i];
    }
    EXPECT_EQ(sum, s0[2 * b] + s0[2 * b + 1]);
  }
  EXPECT_EQ(d0[0], 0.0f);
  for (const IsaPath isa : supported_paths()) {
    if (isa == Isa::Scalar) continue;
    SCOPED_TRACE(isa_name(isa));
    auto fn = isa == Isa::Avx512 ? isa::quantize_act_avx512 : isa::quantize_act_avx2;
    fn(x.data(), n, q1.data(), d1.data(), s1.data());
    EXPECT_EQ(q0, q1);
    EXPECT_TRUE(same_bits(d0.data(), d1.data(), d0.size()));
    EXPECT_EQ(s0, s1);
  }
}

// dw * (u - o) + mw, evaluated in float, is exactly the value dequantize_row gives.
TEST(Unpack, ReproducesDequantizeRow) {
  std::mt19937 rng(7);
  const size_t n = 512;
  for (TensorType t : testing::kQuantizedTypes) {
    SCOPED_TRACE(type_name(t));
    const q::Format f = q::format_of(t);
    ASSERT_NE(f.sub_len, 0);
    const auto w = make_weights(t, 1, n, rng);
    std::vector<float> ref(n);
    dequantize_row(t, w.data(), ref.data(), n);
    std::vector<uint8_t> u(n);
    std::vector<float> dw(n / f.sub_len), mw(n / f.sub_len);
    q::unpack_row(t, w.data(), n, u.data(), dw.data(), f.has_min ? mw.data() : nullptr);
    for (size_t i = 0; i < n; ++i) {
      const size_t j = i / f.sub_len;
      const float v = dw[j] * static_cast<float>(int{u[i]} - f.offset) + (f.has_min ? mw[j] : 0);
      ASSERT_EQ(v, ref[i]) << i;
    }
  }
}

// With unit scales and activations that are integers with a 127 in every block (so da = 1 and
// qa = x), the product is an exact integer: checks the integer paths with nothing rounded.
TEST(FastMatmul, UnitScalesGiveExactIntegers) {
  std::mt19937 rng(13);
  const size_t n_out = 40, n_in = 256;
  std::vector<float> x(n_in);
  for (size_t i = 0; i < n_in; ++i)
    x[i] = i % 32 == 5 ? 127.0f : static_cast<float>(static_cast<int>(rng() % 255) - 127);
  for (TensorType t : {TensorType::Q4_0, TensorType::Q5_0, TensorType::Q8_0, TensorType::Q4_1,
                       TensorType::Q5_1, TensorType::IQ4_NL, TensorType::IQ4_XS}) {
    SCOPED_TRACE(type_name(t));
    auto w = make_weights(t, n_out, n_in, rng);
    const size_t bb = traits(t).block_bytes;
    for (size_t off = 0; off < w.size(); off += bb) {
      const uint16_t one = 0x3C00, zero = 0;
      std::memcpy(&w[off], &one, 2);
      if (t == TensorType::Q4_1 || t == TensorType::Q5_1) std::memcpy(&w[off + 2], &zero, 2);
      if (t == TensorType::IQ4_XS) {  // every sub-block scale ls = 33: d * (33 - 32) = 1
        const uint8_t scales[6] = {0xAA, 0xAA, 0x11, 0x11, 0x11, 0x11};
        std::memcpy(&w[off + 2], scales, 6);
      }
    }
    std::vector<float> deq(n_in);
    for (const IsaPath isa : supported_paths()) {
      SCOPED_TRACE(isa_name(isa));
      ScopedIsa scope(isa);
      const auto y = fast(t, w, n_out, n_in, x, 1, 2);
      for (size_t o = 0; o < n_out; ++o) {
        dequantize_row(t, w.data() + o * row_bytes(t, n_in), deq.data(), n_in);
        int64_t exact = 0;
        for (size_t i = 0; i < n_in; ++i)
          exact += static_cast<int64_t>(deq[i]) * static_cast<int64_t>(x[i]);
        ASSERT_EQ(y[o], static_cast<float>(exact)) << o;
      }
    }
  }
}

struct Bound {
  std::vector<double> y, err;
};

// float64 product of the dequantized weights, and the bound on |Fast - exact|: each activation
// moves by at most da / 2 (plus scale rounding), each float step rounds by ~1e-6 of the magnitude.
Bound exact_with_bound(TensorType t, const std::vector<uint8_t>& w, size_t n_out, size_t n_in,
                       const std::vector<float>& x, size_t n_tok) {
  Bound b{std::vector<double>(n_out * n_tok), std::vector<double>(n_out * n_tok)};
  std::vector<float> row(n_in), da(n_in / 32);
  std::vector<int8_t> qa(n_in);
  std::vector<int32_t> s16(n_in / 16);
  for (size_t tok = 0; tok < n_tok; ++tok) {
    const float* xt = x.data() + tok * n_in;
    q::quantize_act_row(xt, n_in, qa.data(), da.data(), s16.data());
    for (size_t o = 0; o < n_out; ++o) {
      dequantize_row(t, w.data() + o * row_bytes(t, n_in), row.data(), n_in);
      double s = 0, e = 0;
      for (size_t i = 0; i < n_in; ++i) {
        s += static_cast<double>(row[i]) * xt[i];
        e += std::fabs(static_cast<double>(row[i])) *
             (0.5 * da[i / 32] + 1e-6 * std::fabs(xt[i]) + 1e-5 * std::fabs(xt[i]));
      }
      b.y[tok * n_out + o] = s;
      b.err[tok * n_out + o] = e;
    }
  }
  return b;
}

// The scalar path's product into `scalar`, asserted to lie within the exact product's error
// bound (call it through ASSERT_NO_FATAL_FAILURE).
void scalar_within_bound(TensorType t, const std::vector<uint8_t>& w, size_t n_out, size_t n_in,
                         const std::vector<float>& x, size_t n_tok, std::vector<float>& scalar) {
  const Bound ref = exact_with_bound(t, w, n_out, n_in, x, n_tok);
  {
    ScopedIsa scope(Isa::Scalar);
    scalar = fast(t, w, n_out, n_in, x, n_tok, 1);
  }
  for (size_t i = 0; i < scalar.size(); ++i) ASSERT_NEAR(scalar[i], ref.y[i], ref.err[i]) << i;
}

TEST(FastMatmul, AllTypesAllPathsBitwiseAndBounded) {
  std::mt19937 rng(17);
  // 150 rows: several 32-row panels and a partial one, over 1, 2 and 3 threads; 7 tokens: full
  // and partial token groups of every kernel.
  const size_t n_out = 150, n_in = 1024, n_tok = 7;
  const auto x = random_floats(n_in * n_tok, rng);
  for (TensorType t : testing::kQuantizedTypes) {
    SCOPED_TRACE(type_name(t));
    const auto w = make_weights(t, n_out, n_in, rng);
    std::vector<float> scalar;
    ASSERT_NO_FATAL_FAILURE(scalar_within_bound(t, w, n_out, n_in, x, n_tok, scalar));
    for (const IsaPath isa : supported_paths()) {
      SCOPED_TRACE(isa_name(isa));
      ScopedIsa scope(isa);
      const auto batch = fast(t, w, n_out, n_in, x, n_tok, 2);
      EXPECT_TRUE(same_bits(batch.data(), scalar.data(), batch.size())) << "differs from scalar";
      EXPECT_TRUE(
          same_bits(fast(t, w, n_out, n_in, x, n_tok, 1).data(), batch.data(), batch.size()));
      EXPECT_TRUE(
          same_bits(fast(t, w, n_out, n_in, x, n_tok, 3).data(), batch.data(), batch.size()));
      for (size_t tok = 0; tok < n_tok; ++tok) {
        const std::vector<float> xt(x.begin() + tok * n_in, x.begin() + (tok + 1) * n_in);
        const auto one = fast(t, w, n_out, n_in, xt, 1, 2);
        ASSERT_TRUE(same_bits(one.data(), batch.data() + tok * n_out, n_out)) << "token " << tok;
      }
    }
  }
}

// IQ4 blocks of random bytes (every index, every IQ4_XS sub-block scale, scales of both signs):
// every path, file layout and packed, one token and a batch, bitwise the scalar reference.
TEST(FastMatmul, IQ4RandomBlocksBitwiseOnEveryPath) {
  std::mt19937 rng(29);
  const size_t n_out = 70, n_in = 512;
  for (TensorType t : {TensorType::IQ4_NL, TensorType::IQ4_XS}) {
    const auto w = testing::random_iq4_weights(t, n_out, n_in, rng);
    const PackedRows packed(t, w.data(), n_out, n_in, 2);
    for (size_t n_tok : {1u, 5u}) {
      SCOPED_TRACE(std::string(type_name(t)) + " n_tok " + std::to_string(n_tok));
      const auto x = random_floats(n_in * n_tok, rng);
      std::vector<float> scalar;
      ASSERT_NO_FATAL_FAILURE(scalar_within_bound(t, w, n_out, n_in, x, n_tok, scalar));
      for (const IsaPath isa : supported_paths()) {
        SCOPED_TRACE(isa_name(isa));
        ScopedIsa scope(isa);
        EXPECT_TRUE(
            same_bits(fast(t, w, n_out, n_in, x, n_tok, 2).data(), scalar.data(), scalar.size()));
        std::vector<float> y(n_out * n_tok, std::nanf(""));
        matmul(packed, x.data(), n_tok, y.data(), 3, MatmulMode::Fast);
        EXPECT_TRUE(same_bits(y.data(), scalar.data(), scalar.size())) << "packed";
      }
    }
  }
}

TEST(FastMatmul, OddShapes) {
  std::mt19937 rng(19);
  struct Shape {
    TensorType t;
    size_t n_out, n_in, n_tok;
  };
  const Shape shapes[] = {
      {TensorType::Q4_0, 1, 32, 1},    {TensorType::Q4_0, 17, 64, 5},
      {TensorType::Q8_0, 33, 96, 9},   {TensorType::Q4_1, 5, 32, 2},
      {TensorType::Q5_0, 31, 64, 1},   {TensorType::Q5_1, 6, 32, 3},
      {TensorType::Q2_K, 1, 256, 1},   {TensorType::Q3_K, 3, 256, 2},
      {TensorType::Q4_K, 45, 512, 4},  {TensorType::Q5_K, 2, 512, 3},
      {TensorType::Q6_K, 9, 256, 6},   {TensorType::Q8_0, 600, 32, 2},
      {TensorType::IQ4_NL, 1, 32, 1},  {TensorType::IQ4_NL, 33, 96, 9},
      {TensorType::IQ4_XS, 3, 256, 2}, {TensorType::IQ4_XS, 47, 768, 5},
  };
  for (const Shape& s : shapes) {
    SCOPED_TRACE(std::string(type_name(s.t)) + " " + std::to_string(s.n_out) + "x" +
                 std::to_string(s.n_in) + " tok " + std::to_string(s.n_tok));
    const auto w = make_weights(s.t, s.n_out, s.n_in, rng);
    const auto x = random_floats(s.n_in * s.n_tok, rng);
    const Bound ref = exact_with_bound(s.t, w, s.n_out, s.n_in, x, s.n_tok);
    std::vector<float> scalar;
    {
      ScopedIsa scope(Isa::Scalar);
      scalar = fast(s.t, w, s.n_out, s.n_in, x, s.n_tok, 1);
    }
    for (const IsaPath isa : supported_paths()) {
      SCOPED_TRACE(isa_name(isa));
      ScopedIsa scope(isa);
      const auto y = fast(s.t, w, s.n_out, s.n_in, x, s.n_tok, 2);
      ASSERT_TRUE(same_bits(y.data(), scalar.data(), y.size()));
      for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref.y[i], ref.err[i]) << i;
    }
  }
}

// Float weights ignore the mode: Fast and Exact are the same float computation.
TEST(FastMatmul, FloatWeightsSameInBothModes) {
  std::mt19937 rng(23);
  const size_t n_out = 20, n_in = 96, n_tok = 3;
  const auto x = random_floats(n_in * n_tok, rng);
  for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    std::vector<uint8_t> w(row_bytes(t, n_in) * n_out);
    const auto vals = random_floats(n_in * n_out, rng);
    for (size_t o = 0; o < n_out; ++o)
      quantize_row(t, vals.data() + o * n_in, w.data() + o * row_bytes(t, n_in), n_in);
    std::vector<float> a(n_out * n_tok), b(n_out * n_tok);
    matmul(t, w.data(), n_out, n_in, x.data(), n_tok, a.data(), 2, MatmulMode::Fast);
    matmul(t, w.data(), n_out, n_in, x.data(), n_tok, b.data(), 2, MatmulMode::Exact);
    EXPECT_TRUE(same_bits(a.data(), b.data(), a.size())) << type_name(t);
  }
}

}  // namespace
}  // namespace minillm::kernels
