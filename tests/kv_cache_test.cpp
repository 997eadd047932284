// The KV cache's layout: each layer's keys and values are stored head by head, so the rows of one
// KV head follow one another (stride head_dim) and attention streams them; what a row stored comes
// back through keys()/values() for contiguous sequences, for ones read through a block table, and
// after copy on write; a width that is not whole heads is refused.
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "kernels/attention/attention.h"
#include "kernels/f16.h"
#include "minillm/error.h"
#include "model/kv_cache.h"

namespace minillm {
namespace {

constexpr uint32_t kLayers = 2, kHeads = 3, kHeadDim = 32, kWidth = kHeads * kHeadDim;

// A value that says where it was stored: layer, position, K or V, column.
float value_at(uint32_t layer, uint32_t pos, bool v, uint32_t col) {
  return float(layer * 1000 + pos * 10 + (v ? 5 : 0)) + float(col) / 128.0f;
}

void store(KvCache& cache, const KvSequence& seq, uint32_t layer, uint32_t pos) {
  std::vector<float> k(kWidth), v(kWidth);
  for (uint32_t c = 0; c < kWidth; ++c) k[c] = value_at(layer, pos, false, c);
  for (uint32_t c = 0; c < kWidth; ++c) v[c] = value_at(layer, pos, true, c);
  cache.store(layer, seq.row(pos), k.data(), v.data());
}

// Element d of row j of `rows` (F32 cache).
float element(const kernels::KvRows& rows, size_t j, size_t d) {
  return static_cast<const float*>(rows.base)[kernels::kv_row_offset(rows, j) + d];
}

void expect_rows(const KvCache& cache, const KvSequence& seq, uint32_t n) {
  for (uint32_t l = 0; l < kLayers; ++l)
    for (uint32_t h = 0; h < kHeads; ++h) {
      const kernels::KvRows k = cache.keys(l, h, seq), v = cache.values(l, h, seq);
      EXPECT_EQ(k.stride, kHeadDim);  // one head's rows follow each other
      for (uint32_t p = 0; p < n; ++p)
        for (uint32_t d = 0; d < kHeadDim; ++d) {
          ASSERT_EQ(element(k, p, d), value_at(l, p, false, h * kHeadDim + d)) << l << h << p;
          ASSERT_EQ(element(v, p, d), value_at(l, p, true, h * kHeadDim + d)) << l << h << p;
        }
    }
}

TEST(KvCache, EachHeadsRowsFollowEachOther) {
  KvCache cache(kLayers, 64, kWidth, kHeadDim, KvCacheType::F32);
  KvSequence seq;
  seq.reserve(cache, 40);
  for (uint32_t p = 0; p < 40; ++p)
    for (uint32_t l = 0; l < kLayers; ++l) store(cache, seq, l, p);
  seq.advance(40);
  ASSERT_TRUE(seq.contiguous());
  expect_rows(cache, seq, 40);
  // Head 1's rows start past all of head 0's (64 positions of head_dim elements).
  const auto* h0 = static_cast<const float*>(cache.keys(1, 0, seq).base);
  const auto* h1 = static_cast<const float*>(cache.keys(1, 1, seq).base);
  EXPECT_GE(h1 - h0, 64 * ptrdiff_t{kHeadDim});
}

TEST(KvCache, BlockTablesAndCopyOnWriteKeepEachHeadsRows) {
  KvCache cache(kLayers, 128, kWidth, kHeadDim, KvCacheType::F32);
  KvSequence a;
  a.reserve(cache, 20);
  for (uint32_t p = 0; p < 20; ++p)
    for (uint32_t l = 0; l < kLayers; ++l) store(cache, a, l, p);
  a.advance(20);
  // A fork sharing 20 positions, then a sequence taking the next blocks, then the fork grows:
  // its last shared block is copied (4 rows of every head) and its new block is not next to it.
  KvSequence b = a.fork(cache, 20);
  KvSequence other;
  other.reserve(cache, 16);
  b.reserve(cache, 20);
  for (uint32_t p = 20; p < 40; ++p)
    for (uint32_t l = 0; l < kLayers; ++l) store(cache, b, l, p);
  b.advance(20);
  ASSERT_FALSE(b.contiguous());
  expect_rows(cache, b, 40);
  expect_rows(cache, a, 20);
}

TEST(KvCache, F16AndQ8_0RowsAreHeadRows) {
  KvCache f16(1, 16, kWidth, kHeadDim, KvCacheType::F16);
  KvCache q8(1, 16, kWidth, kHeadDim, KvCacheType::Q8_0);
  KvSequence s16, s8;
  s16.reserve(f16, 2);
  s8.reserve(q8, 2);
  store(f16, s16, 0, 1);
  store(q8, s8, 0, 1);
  for (uint32_t h = 0; h < kHeads; ++h) {
    const kernels::KvRows r = f16.values(0, h, s16);
    EXPECT_EQ(r.stride, kHeadDim);
    const uint16_t* row1 = static_cast<const uint16_t*>(r.base) + kHeadDim;
    for (uint32_t d = 0; d < kHeadDim; d += 7)
      EXPECT_EQ(
          kernels::fp16_to_fp32(row1[d]),
          kernels::fp16_to_fp32(kernels::fp32_to_fp16(value_at(0, 1, true, h * kHeadDim + d))));
    EXPECT_EQ(q8.keys(0, h, s8).stride, kHeadDim);
  }
}

TEST(KvCache, WidthThatIsNotWholeHeadsIsRefused) {
  EXPECT_THROW(KvCache(1, 16, 100, 32, KvCacheType::F32), Error);
}

}  // namespace
}  // namespace minillm
