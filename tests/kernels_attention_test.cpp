// Attention of one head on every code path: against a float64 computation and against the
// scalar reference, for F16, F32 and Q8_0 KV rows, odd head sizes, row strides and offsets; a
// group of query heads sharing a KV head, which must give each head the one-head result bit for
// bit; a tile of a prompt's tokens, each of which must get its own result bit for bit; and rows
// of a paged cache, read through a block table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention/attention.h"
#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant.h"
#include "kernels_test_util.h"

namespace minillm::kernels {
namespace {

using testing::ScopedIsa;
using testing::supported_isas;

// KV rows of one element type, and the float values they hold (what every kernel must see).
struct Cache {
  KvElement type;
  std::vector<float> f32;
  std::vector<uint16_t> f16;
  std::vector<BlockQ8_0> q8;
  KvRows rows(size_t offset, size_t stride) const {
    if (type == KvElement::F16) return {f16.data() + offset, stride, type};
    if (type == KvElement::Q8_0) return {q8.data() + offset / kQK, stride, type};
    return {f32.data() + offset, stride, type};
  }
};

Cache make_cache(KvElement type, size_t n, std::mt19937& rng) {
  n = (n + kQK - 1) / kQK * kQK;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Cache c{type, std::vector<float>(n), {}, {}};
  for (float& x : c.f32) x = normal(rng);
  if (type == KvElement::Q8_0) {
    c.q8.resize(n / kQK);
    quantize_row(TensorType::Q8_0, c.f32.data(), c.q8.data(), n);
    dequantize_row(TensorType::Q8_0, c.q8.data(), c.f32.data(), n);
  } else {
    c.f16.resize(n);
    for (size_t i = 0; i < n; ++i) {
      c.f16[i] = fp32_to_fp16(c.f32[i]);
      c.f32[i] = fp16_to_fp32(c.f16[i]);  // F32 rows hold the same values as F16 ones
    }
  }
  return c;
}

const char* name(KvElement t) {
  return t == KvElement::F16 ? " f16" : t == KvElement::Q8_0 ? " q8_0" : " f32";
}

// Q8_0 rows are whole 32-value blocks: the head dim, the row stride and the head's offset in the
// row are multiples of 32. The other types start the head 3 elements into the row.
bool fits(KvElement t, size_t head_dim, size_t stride) {
  return t != KvElement::Q8_0 || (head_dim % kQK == 0 && stride % kQK == 0);
}
size_t head_offset(KvElement t, size_t head_dim, size_t stride) {
  if (t != KvElement::Q8_0) return 3;
  return stride > head_dim ? kQK : 0;
}

constexpr KvElement kTypes[] = {KvElement::F16, KvElement::F32, KvElement::Q8_0};

TEST(Attention, SimdMatchesReferenceAndFloat64) {
  std::mt19937 rng(31);
  struct Shape {
    size_t head_dim, stride, first, n;
  };
  const Shape shapes[] = {{64, 256, 0, 1},  {64, 256, 3, 37}, {64, 64, 0, 300},  {128, 512, 5, 90},
                          {80, 160, 1, 17}, {7, 9, 2, 5},     {256, 256, 0, 33}, {16, 48, 4, 8},
                          {32, 96, 2, 21},  {96, 96, 1, 50},  {160, 320, 0, 41}};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& s : shapes) {
    std::vector<float> q(s.head_dim);
    for (float& v : q) v = normal(rng);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    for (KvElement t : kTypes) {
      if (!fits(t, s.head_dim, s.stride)) continue;
      const size_t rows = s.first + s.n, off = head_offset(t, s.head_dim, s.stride);
      const Cache keys = make_cache(t, rows * s.stride + 8, rng),
                  values = make_cache(t, rows * s.stride + 8, rng);
      // float64 truth over the values the rows hold.
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
      const KvRows k = keys.rows(off, s.stride), v = values.rows(off, s.stride);
      std::vector<float> sc(s.n), ref(s.head_dim);
      attend_one_head_reference(q.data(), k, v, s.first, s.n, s.head_dim, scale, sc.data(),
                                ref.data());
      for (Isa isa : supported_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " head_dim " + std::to_string(s.head_dim) +
                     " n " + std::to_string(s.n) + name(t));
        ScopedIsa scope(isa);
        std::vector<float> out(s.head_dim, std::nanf("")), again(s.head_dim);
        attend_one_head(q.data(), k, v, s.first, s.n, s.head_dim, scale, sc.data(), out.data());
        attend_one_head(q.data(), k, v, s.first, s.n, s.head_dim, scale, sc.data(), again.data());
        EXPECT_EQ(out, again);  // deterministic
        // AVX-512 reads Q8_0 rows with integer products: the query and the value weights are
        // rounded to 16 bits (within 2^-17 of their block's or tile's largest), not kept in 24.
        // Here that moves scores by ~2e-5 and outputs by up to ~3e-5 (float paths: ~2e-7); the
        // values' own 8-bit rounding, which `want` shares, is ~100 times coarser.
        const bool integer = isa == Isa::Avx512 && t == KvElement::Q8_0;
        const double rel = integer ? 4e-5 : 2e-6, truth = integer ? 5e-5 : 1e-5;
        for (size_t i = 0; i < s.head_dim; ++i) {
          ASSERT_NEAR(out[i], want[i], truth) << i;
          ASSERT_NEAR(out[i], ref[i], rel + rel * std::fabs(ref[i])) << i;
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
    std::vector<float> q(s.g * s.head_dim);
    for (float& v : q) v = normal(rng);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    for (KvElement t : kTypes) {
      if (!fits(t, s.head_dim, s.stride)) continue;
      const size_t rows = s.first + s.n, off = head_offset(t, s.head_dim, s.stride);
      const Cache keys = make_cache(t, rows * s.stride + 8, rng),
                  values = make_cache(t, rows * s.stride + 8, rng);
      const KvRows k = keys.rows(off, s.stride), v = values.rows(off, s.stride);
      for (Isa isa : supported_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " head_dim " + std::to_string(s.head_dim) +
                     " g " + std::to_string(s.g) + name(t));
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

// A tile of a prompt's tokens (consecutive positions: token i reads one row more than token
// i - 1), their query heads sharing one KV head: each token gets bit for bit what it gets alone,
// on every path, whether the tile's rows past a token's range exist or not.
TEST(Attention, QueryTileEqualsEachTokenAloneBitwise) {
  std::mt19937 rng(34);
  struct Shape {
    size_t head_dim, g, n_tok, first, n0;  // token i reads rows [first, first + n0 + i)
  };
  const Shape shapes[] = {{64, 8, 16, 0, 1},  {64, 4, 5, 3, 30}, {128, 2, 16, 0, 200},
                          {128, 3, 1, 2, 17}, {96, 2, 7, 0, 15}, {288, 1, 3, 0, 20}};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& s : shapes) {
    const size_t stride = s.head_dim * 2, n_max = s.n0 + s.n_tok - 1;
    const size_t q_stride = s.g * s.head_dim + 5;  // rows of other heads lie between tokens
    std::vector<float> q(s.n_tok * q_stride);
    for (float& v : q) v = normal(rng);
    std::vector<size_t> n(s.n_tok);
    for (size_t i = 0; i < s.n_tok; ++i) n[i] = s.n0 + i;
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    for (KvElement t : kTypes) {
      if (!fits(t, s.head_dim, stride)) continue;
      const size_t rows = s.first + n_max, off = head_offset(t, s.head_dim, stride);
      const Cache keys = make_cache(t, rows * stride + 8, rng),
                  values = make_cache(t, rows * stride + 8, rng);
      const KvRows k = keys.rows(off, stride), v = values.rows(off, stride);
      for (Isa isa : supported_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " head_dim " + std::to_string(s.head_dim) +
                     " tokens " + std::to_string(s.n_tok) + name(t));
        ScopedIsa scope(isa);
        std::vector<float> out(s.n_tok * q_stride, std::nanf("")), sc(s.n_tok * s.g * n_max),
            alone(s.g * s.head_dim), sc1(s.g * n_max);
        QueryTile tile;
        tile.q = q.data();
        tile.q_stride = q_stride;
        tile.out = out.data();
        tile.out_stride = q_stride;
        tile.n_tok = s.n_tok;
        tile.g = s.g;
        tile.first = s.first;
        tile.n = n.data();
        attend_query_tile(tile, k, v, s.head_dim, scale, sc.data());
        for (size_t i = 0; i < s.n_tok; ++i) {
          attend_head_group(q.data() + i * q_stride, s.g, k, v, s.first, n[i], s.head_dim, scale,
                            sc1.data(), alone.data());
          for (size_t e = 0; e < s.g * s.head_dim; ++e)
            ASSERT_EQ(out[i * q_stride + e], alone[e]) << "token " << i << " element " << e;
          EXPECT_TRUE(std::isnan(out[i * q_stride + s.g * s.head_dim])) << "wrote past its heads";
        }
      }
    }
  }
}

// Rows handed out in blocks of 4 through a block table (a paged cache) give exactly what the same
// rows laid out one after another give, on every path and for every element type.
TEST(Attention, PagedRowsEqualContiguousRows) {
  std::mt19937 rng(33);
  constexpr size_t kHeadDim = 64, kStride = 128, kShift = 2, kBlockRows = 1 << kShift;
  const uint32_t table[] = {5, 0, 3, 7, 1, 6};  // logical block i lives in physical block table[i]
  const size_t n_blocks = 8, n = 22, first = 1, g = 4;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(g * kHeadDim);
  for (float& v : q) v = normal(rng);
  for (KvElement t : kTypes) {
    const size_t off = head_offset(t, kHeadDim, kStride), n_rows = n_blocks * kBlockRows;
    const Cache keys = make_cache(t, n_rows * kStride, rng),
                values = make_cache(t, n_rows * kStride, rng);
    // The same rows in logical order, contiguous.
    auto gather = [&](const Cache& c) {
      Cache out = c;
      for (size_t j = 0; j < std::size(table) * kBlockRows; ++j) {
        const size_t from = (table[j >> kShift] << kShift | (j & (kBlockRows - 1))) * kStride;
        std::copy_n(c.f32.begin() + from, kStride, out.f32.begin() + j * kStride);
        if (!c.f16.empty())
          std::copy_n(c.f16.begin() + from, kStride, out.f16.begin() + j * kStride);
        if (!c.q8.empty())
          std::copy_n(c.q8.begin() + from / kQK, kStride / kQK, out.q8.begin() + j * kStride / kQK);
      }
      return out;
    };
    const Cache keys_flat = gather(keys), values_flat = gather(values);
    KvRows kp = keys.rows(off, kStride), vp = values.rows(off, kStride);
    kp.blocks = vp.blocks = table;
    kp.block_shift = vp.block_shift = kShift;
    const KvRows kc = keys_flat.rows(off, kStride), vc = values_flat.rows(off, kStride);
    for (Isa isa : supported_isas()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + name(t));
      ScopedIsa scope(isa);
      std::vector<float> sc(g * n), paged(g * kHeadDim), flat(g * kHeadDim, std::nanf(""));
      attend_head_group(q.data(), g, kp, vp, first, n, kHeadDim, 0.125f, sc.data(), paged.data());
      attend_head_group(q.data(), g, kc, vc, first, n, kHeadDim, 0.125f, sc.data(), flat.data());
      EXPECT_EQ(paged, flat);
      attend_one_head_reference(q.data(), kp, vp, first, n, kHeadDim, 0.125f, sc.data(),
                                paged.data());
      attend_one_head_reference(q.data(), kc, vc, first, n, kHeadDim, 0.125f, sc.data(),
                                flat.data());
      EXPECT_TRUE(std::equal(flat.begin(), flat.begin() + kHeadDim, paged.begin()));
    }
  }
}

// A NaN in a key or value row (here a Q8_0 block scale) makes the result NaN on every path, as
// float arithmetic would: the integer path must not round it away.
TEST(Attention, NanRowsGiveNanOnEveryPath) {
  std::mt19937 rng(35);
  const size_t hd = 64, n = 40;
  std::vector<float> q(hd, 0.25f), scores(n), out(hd);
  for (bool in_keys : {true, false}) {
    Cache keys = make_cache(KvElement::Q8_0, n * hd, rng),
          values = make_cache(KvElement::Q8_0, n * hd, rng);
    (in_keys ? keys : values).q8[2 * 21 + 1].d = 0x7E00;  // row 21, second block: fp16 NaN
    for (Isa isa : supported_isas()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + (in_keys ? " key" : " value"));
      ScopedIsa scope(isa);
      attend_one_head(q.data(), keys.rows(0, hd), values.rows(0, hd), 0, n, hd, 0.125f,
                      scores.data(), out.data());
      // A NaN key scale spoils every weight; a NaN value scale at least its own block's dims.
      for (size_t d = in_keys ? 0 : 32; d < hd; d += 5) EXPECT_TRUE(std::isnan(out[d])) << d;
    }
  }
}

}  // namespace
}  // namespace minillm::kernels
