// Attention of one head on every code path: against a float64 computation and against the
// scalar reference, for F16 and F32 KV rows, odd head sizes, row strides and offsets; and a group
// of query heads sharing a KV head, which must give each head the one-head result bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/f16.h"
#include "kernels_test_util.h"

namespace minillm::kernels {
namespace {

using testing::ScopedIsa;
using testing::supported_isas;

struct Cache {
  std::vector<float> f32;
  std::vector<uint16_t> f16;
  KvRows rows(KvElement t, size_t offset, size_t stride) const {
    if (t == KvElement::F16) return {f16.data() + offset, stride, t};
    return {f32.data() + offset, stride, t};
  }
};

Cache make_cache(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Cache c{std::vector<float>(n), std::vector<uint16_t>(n)};
  for (size_t i = 0; i < n; ++i) {
    c.f16[i] = fp32_to_fp16(normal(rng));
    c.f32[i] = fp16_to_fp32(c.f16[i]);  // same values in both caches
  }
  return c;
}

TEST(Attention, SimdMatchesReferenceAndFloat64) {
  std::mt19937 rng(31);
  struct Shape {
    size_t head_dim, stride, first, n;
  };
  const Shape shapes[] = {{64, 256, 0, 1},  {64, 256, 3, 37}, {64, 64, 0, 300},  {128, 512, 5, 90},
                          {80, 160, 1, 17}, {7, 9, 2, 5},     {256, 256, 0, 33}, {16, 48, 4, 8}};
  for (const Shape& s : shapes) {
    const size_t rows = s.first + s.n;
    const Cache keys = make_cache(rows * s.stride + 8, rng),
                values = make_cache(rows * s.stride + 8, rng);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> q(s.head_dim);
    for (float& v : q) v = normal(rng);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    const size_t off = 3;  // the head starts inside the row
    // float64 truth.
    std::vector<double> p(s.n), want(s.head_dim, 0.0);
    double mx = -HUGE_VAL, sum = 0;
    for (size_t j = 0; j < s.n; ++j) {
      double d = 0;
      for (size_t i = 0; i < s.head_dim; ++i)
        d += double(q[i]) * keys.f32[off + (s.first + j) * s.stride + i];
      p[j] = d * scale;
      mx = std::max(mx, p[j]);
    }
    for (double& v : p) sum += (v = std::exp(v - mx));
    for (size_t j = 0; j < s.n; ++j)
      for (size_t i = 0; i < s.head_dim; ++i)
        want[i] += p[j] / sum * values.f32[off + (s.first + j) * s.stride + i];
    for (KvElement t : {KvElement::F16, KvElement::F32}) {
      const KvRows k = keys.rows(t, off, s.stride), v = values.rows(t, off, s.stride);
      std::vector<float> sc(s.n), ref(s.head_dim);
      attend_one_head_reference(q.data(), k, v, s.first, s.n, s.head_dim, scale, sc.data(),
                                ref.data());
      for (Isa isa : supported_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " head_dim " + std::to_string(s.head_dim) +
                     " n " + std::to_string(s.n) + (t == KvElement::F16 ? " f16" : " f32"));
        ScopedIsa scope(isa);
        std::vector<float> out(s.head_dim, std::nanf("")), again(s.head_dim);
        attend_one_head(q.data(), k, v, s.first, s.n, s.head_dim, scale, sc.data(), out.data());
        attend_one_head(q.data(), k, v, s.first, s.n, s.head_dim, scale, sc.data(), again.data());
        EXPECT_EQ(out, again);  // deterministic
        for (size_t i = 0; i < s.head_dim; ++i) {
          ASSERT_NEAR(out[i], want[i], 1e-5) << i;
          ASSERT_NEAR(out[i], ref[i], 2e-6 + 2e-6 * std::fabs(ref[i])) << i;
        }
      }
    }
  }
}

TEST(Attention, HeadGroupEqualsOneHeadAtATimeBitwise) {
  std::mt19937 rng(32);
  struct Shape {
    size_t head_dim, g, stride, first, n;
  };
  // 64 and 128 have grouped kernels (4 and 2 heads per pass, so 8 and 3 heads take several
  // passes, 3 a partial one); 80 takes the one-head fallback.
  const Shape shapes[] = {{64, 8, 256, 0, 1},   {64, 8, 256, 2, 41}, {64, 3, 64, 0, 300},
                          {128, 4, 512, 5, 90}, {128, 3, 128, 0, 7}, {80, 2, 160, 1, 17}};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& s : shapes) {
    const size_t rows = s.first + s.n;
    const Cache keys = make_cache(rows * s.stride + 8, rng),
                values = make_cache(rows * s.stride + 8, rng);
    std::vector<float> q(s.g * s.head_dim);
    for (float& v : q) v = normal(rng);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    for (KvElement t : {KvElement::F16, KvElement::F32}) {
      const KvRows k = keys.rows(t, 3, s.stride), v = values.rows(t, 3, s.stride);
      for (Isa isa : supported_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " head_dim " + std::to_string(s.head_dim) +
                     " g " + std::to_string(s.g) + (t == KvElement::F16 ? " f16" : " f32"));
        ScopedIsa scope(isa);
        std::vector<float> sc(s.g * s.n), out(s.g * s.head_dim, std::nanf("")), one(s.head_dim);
        attend_head_group(q.data(), s.g, k, v, s.first, s.n, s.head_dim, scale, sc.data(),
                          out.data());
        for (size_t h = 0; h < s.g; ++h) {
          attend_one_head(q.data() + h * s.head_dim, k, v, s.first, s.n, s.head_dim, scale,
                          sc.data(), one.data());
          for (size_t i = 0; i < s.head_dim; ++i)
            ASSERT_EQ(out[h * s.head_dim + i], one[i]) << "head " << h << " dim " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace minillm::kernels
