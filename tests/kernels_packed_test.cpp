// Packed weight rows (kernels/matmul/packed_rows.h): the packing is a lossless permutation, and a
// product with packed weights equals the product with the file layout bit for bit, on every
// code path, for one token and for batches, in both matmul modes and for any thread count.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "kernels/matmul/matmul.h"
#include "kernels/matmul/packed_rows.h"
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

size_t width_for(TensorType t) {
  return traits(t).block_size == 256 ? 512 : 96;  // several blocks per row
}

TEST(PackedRows, UnpackGivesBackTheFileRowsAndZeroPadding) {
  std::mt19937 rng(11);
  for (TensorType t : testing::kQuantizedTypes) {
    SCOPED_TRACE(type_name(t));
    const size_t n_in = width_for(t), n_out = 37;  // two whole groups and a partial one
    const auto w = make_weights(t, n_out, n_in, rng);
    const PackedRows p(t, w.data(), n_out, n_in, 2);
    ASSERT_EQ(p.n_groups(), 3u);
    const size_t rb = row_bytes(t, n_in);
    std::vector<uint8_t> back(kPackRows * rb);
    for (size_t g = 0; g < p.n_groups(); ++g) {
      p.unpack_group(g, back.data());
      for (size_t r = 0; r < kPackRows; ++r) {
        const size_t row = g * kPackRows + r;
        if (row < n_out) {
          EXPECT_EQ(std::memcmp(back.data() + r * rb, w.data() + row * rb, rb), 0) << row;
        } else {
          for (size_t i = 0; i < rb; ++i) ASSERT_EQ(back[r * rb + i], 0) << row;
        }
      }
    }
  }
}

TEST(PackedRows, LayoutPutsTheScaleFieldFirstThenWordsOfSixteenRows) {
  // Q4_0 (18 bytes: d, qs[16]): per block column, 16 scales then 4 words of 16 rows.
  std::vector<uint8_t> w(16 * 2 * 18);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint8_t>(i * 7 + 1);
  const PackedRows p(TensorType::Q4_0, w.data(), 16, 64, 1);
  const uint8_t* g = p.group(0);
  const size_t rb = 36;
  for (size_t r = 0; r < 16; ++r) {
    for (size_t b = 0; b < 2; ++b) {
      const uint8_t* blk = w.data() + r * rb + b * 18;
      const uint8_t* col = g + b * 16 * 18;
      EXPECT_EQ(std::memcmp(col + 2 * r, blk, 2), 0);
      for (size_t k = 0; k < 4; ++k)
        EXPECT_EQ(std::memcmp(col + 32 + 64 * k + 4 * r, blk + 2 + 4 * k, 4), 0);
    }
  }
}

TEST(PackedRows, IQ4_XSBlocksAreThirtyFourWordsWithNoFieldApart) {
  // IQ4_XS (136 bytes: d, scales_h, scales_l[4], qs[128]): a multiple of 4, so every byte goes
  // into words: word 0 of the block is d and scales_h, word 1 scales_l, words 2.. the indices.
  std::vector<uint8_t> w(16 * 2 * 136);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint8_t>(i * 13 + 5);
  const PackedRows p(TensorType::IQ4_XS, w.data(), 16, 512, 1);
  const uint8_t* g = p.group(0);
  for (size_t r = 0; r < 16; ++r)
    for (size_t b = 0; b < 2; ++b)
      for (size_t k = 0; k < 34; ++k)
        EXPECT_EQ(
            std::memcmp(g + b * 16 * 136 + 64 * k + 4 * r, w.data() + r * 272 + b * 136 + 4 * k, 4),
            0);
}

TEST(PackedRows, RejectsTypesWithoutAPackedLayoutAndPartialBlocks) {
  std::vector<uint8_t> w(4096);
  EXPECT_THROW(PackedRows(TensorType::F16, w.data(), 4, 64, 1), Error);
  EXPECT_THROW(PackedRows(TensorType::Q4_0, w.data(), 4, 40, 1), Error);
}

TEST(PackedRows, AllocatesZeroedMemoryOnALargePageBoundary) {
  const auto region = allocate_packed(3 << 20);
  ASSERT_NE(region, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(region.get()) % (2 << 20), 0u);
  for (size_t i = 0; i < (size_t(3) << 20); i += 4093) ASSERT_EQ(region.get()[i], 0) << i;
  region.get()[(3 << 20) - 1] = 1;  // writable to its last byte
}

// Two matrices packed into slices of one region hold the same bytes as packed on their own, and
// keep the region alive after its last other owner lets go.
TEST(PackedRows, PacksIntoSlicesOfASharedRegion) {
  std::mt19937 rng(5);
  const size_t n_in = 96, rows_a = 37, rows_b = 16;
  const auto wa = make_weights(TensorType::Q4_0, rows_a, n_in, rng);
  const auto wb = make_weights(TensorType::Q8_0, rows_b, n_in, rng);
  const size_t bytes_a = packed_bytes(TensorType::Q4_0, rows_a, n_in);
  ASSERT_EQ(bytes_a, 48 * row_bytes(TensorType::Q4_0, n_in));  // three whole groups
  const size_t offset_b = (bytes_a + 63) / 64 * 64;
  auto region = allocate_packed(offset_b + packed_bytes(TensorType::Q8_0, rows_b, n_in));
  const PackedRows a(TensorType::Q4_0, wa.data(), rows_a, n_in, 2, region);
  const PackedRows b(TensorType::Q8_0, wb.data(), rows_b, n_in, 1,
                     std::shared_ptr<uint8_t>(region, region.get() + offset_b));
  EXPECT_EQ(a.group(0), region.get());
  EXPECT_EQ(b.group(0), region.get() + offset_b);
  region.reset();
  const PackedRows own_a(TensorType::Q4_0, wa.data(), rows_a, n_in, 1);
  const PackedRows own_b(TensorType::Q8_0, wb.data(), rows_b, n_in, 1);
  EXPECT_EQ(std::memcmp(a.group(0), own_a.group(0), bytes_a), 0);
  EXPECT_EQ(std::memcmp(b.group(0), own_b.group(0), packed_bytes(TensorType::Q8_0, rows_b, n_in)),
            0);
}

TEST(PackedRows, RejectsMisalignedOrMissingMemory) {
  std::vector<uint8_t> w(16 * 36);
  const auto region = allocate_packed(4096);
  EXPECT_THROW(PackedRows(TensorType::Q4_0, w.data(), 16, 64, 1,
                          std::shared_ptr<uint8_t>(region, region.get() + 32)),
               Error);
  EXPECT_THROW(PackedRows(TensorType::Q4_0, w.data(), 16, 64, 1, nullptr), Error);
  EXPECT_THROW(packed_bytes(TensorType::BF16, 16, 64), Error);
  EXPECT_THROW(packed_bytes(TensorType::Q4_K, 16, 64), Error);  // not whole blocks
}

TEST(PackedRows, EmptyRowsGiveZeros) {
  const PackedRows p(TensorType::Q4_0, nullptr, 5, 0, 1);
  std::vector<float> x(2), y(10, 7.0f);
  for (MatmulMode mode : {MatmulMode::Fast, MatmulMode::Exact}) {
    matmul(p, x.data(), 2, y.data(), 2, mode);
    for (float v : y) EXPECT_EQ(v, 0.0f);
  }
  std::vector<uint8_t> rows(1);
  EXPECT_THROW(p.unpack_group(1, rows.data()), Error);  // one group only
}

TEST(PackedRows, MatmulEqualsTheFileLayoutBitwiseOnEveryPath) {
  std::mt19937 rng(5);
  for (TensorType t : testing::kQuantizedTypes) {
    const size_t n_in = width_for(t);
    for (size_t n_out : {16u, 45u, 70u}) {
      const auto w = make_weights(t, n_out, n_in, rng);
      const PackedRows p(t, w.data(), n_out, n_in, 2);
      for (size_t n_tok : {1u, 3u, 6u}) {
        const auto x = random_floats(n_tok * n_in, rng);
        for (const IsaPath isa : supported_paths()) {
          const ScopedIsa scoped(isa);
          for (MatmulMode mode : {MatmulMode::Fast, MatmulMode::Exact}) {
            SCOPED_TRACE(std::string(type_name(t)) + " n_out " + std::to_string(n_out) + " n_tok " +
                         std::to_string(n_tok) + " " + std::string(isa_name(isa)) +
                         (mode == MatmulMode::Fast ? " fast" : " exact"));
            std::vector<float> want(n_tok * n_out, -1.0f), got(n_tok * n_out, -2.0f);
            // Also across thread counts: file layout on 1 thread, packed on 2.
            matmul(t, w.data(), n_out, n_in, x.data(), n_tok, want.data(), 1, mode);
            matmul(p, x.data(), n_tok, got.data(), 2, mode);
            ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0);
          }
        }
      }
    }
  }
}

// Small batches (2 to a few dozen tokens, the decoding steps of many sequences) take their own
// GEMV-like paths: every token's results must still be the bits of the one-token product and of
// a large batch (the panel path), on every path, packed or not, for any thread count. The counts
// cover every remainder of the kernels' token blocks and the thresholds between the paths.
TEST(PackedRows, SmallBatchesGiveEveryTokenItsOneTokenBits) {
  std::mt19937 rng(13);
  const size_t n_big = 40;  // past every small-batch threshold: the panel path
  std::vector<size_t> counts;
  for (size_t n = 2; n <= 17; ++n) counts.push_back(n);
  for (size_t n : {23u, 31u, 32u, 33u}) counts.push_back(n);
  for (TensorType t : testing::kQuantizedTypes) {
    const size_t n_in = width_for(t), n_out = 45;  // two whole groups of 16 rows and a partial one
    const auto w = make_weights(t, n_out, n_in, rng);
    const PackedRows p(t, w.data(), n_out, n_in, 2);
    const auto x = random_floats(n_big * n_in, rng);
    for (const IsaPath isa : supported_paths()) {
      const ScopedIsa scoped(isa);
      for (bool packed : {false, true}) {
        auto product = [&](size_t n_tok, const float* xs, int threads) {
          std::vector<float> y(n_tok * n_out, -1.0f);
          if (packed)
            matmul(p, xs, n_tok, y.data(), threads, MatmulMode::Fast);
          else
            matmul(t, w.data(), n_out, n_in, xs, n_tok, y.data(), threads, MatmulMode::Fast);
          return y;
        };
        const auto big = product(n_big, x.data(), 2);
        for (size_t tok = 0; tok < n_big; ++tok) {
          const auto one = product(1, x.data() + tok * n_in, 1);
          ASSERT_EQ(std::memcmp(one.data(), big.data() + tok * n_out, n_out * sizeof(float)), 0)
              << type_name(t) << " " << isa_name(isa) << (packed ? " packed" : " file")
              << " one token vs the large batch, token " << tok;
        }
        for (size_t n_tok : counts)
          for (int threads : {1, 2}) {
            const auto y = product(n_tok, x.data(), threads);
            for (size_t tok = 0; tok < n_tok; ++tok)
              ASSERT_EQ(std::memcmp(y.data() + tok * n_out, big.data() + tok * n_out,
                                    n_out * sizeof(float)),
                        0)
                  << type_name(t) << " " << isa_name(isa) << (packed ? " packed" : " file")
                  << " n_tok " << n_tok << " threads " << threads << " token " << tok;
          }
      }
    }
  }
}

// Packed matrices in one call (kernels::matmul over PackedProducts) give each matrix's own
// product bit for bit: same types (one pool job whose chunks run across matrix boundaries) and
// mixed types (one product each), for any thread count, ISA and mode; with the call's input
// shared, with one matrix on an input of its own, and with every matrix on its own (two of them
// the same pointer, quantized once) and no shared input.
TEST(PackedRows, SharedInputProductsEqualSeparateProducts) {
  std::mt19937 rng(9);
  const std::vector<std::vector<TensorType>> sets = {
      {TensorType::Q4_0, TensorType::Q4_0, TensorType::Q4_0},
      {TensorType::Q4_K, TensorType::Q4_K},
      {TensorType::Q8_0, TensorType::Q5_1},
      {TensorType::Q6_K, TensorType::Q6_K, TensorType::Q6_K},
      {TensorType::IQ4_NL, TensorType::IQ4_NL},
      {TensorType::IQ4_XS, TensorType::IQ4_XS, TensorType::IQ4_XS}};
  const size_t rows[] = {70, 16, 45};
  enum class Inputs { Shared, OneOwn, AllOwn };
  for (const auto& types : sets) {
    const size_t n_in = width_for(types[0]) == width_for(types.back()) ? width_for(types[0]) : 512;
    std::vector<std::vector<uint8_t>> w;
    std::vector<std::unique_ptr<PackedRows>> p;
    for (size_t i = 0; i < types.size(); ++i) {
      w.push_back(make_weights(types[i], rows[i], n_in, rng));
      p.push_back(std::make_unique<PackedRows>(types[i], w[i].data(), rows[i], n_in, 1));
    }
    for (size_t n_tok : {1u, 3u}) {
      const auto x = random_floats(n_tok * n_in, rng);
      std::vector<std::vector<float>> own;  // matrix i's own input; the last reuses the first's
      for (size_t i = 0; i < types.size(); ++i) own.push_back(random_floats(n_tok * n_in, rng));
      if (types.size() > 2) own.back() = own.front();
      for (const IsaPath isa : supported_paths()) {
        const ScopedIsa scoped(isa);
        for (MatmulMode mode : {MatmulMode::Fast, MatmulMode::Exact}) {
          for (int threads : {1, 2, 3}) {
            for (Inputs inputs : {Inputs::Shared, Inputs::OneOwn, Inputs::AllOwn}) {
              SCOPED_TRACE(
                  std::string(type_name(types[0])) + "/" + std::string(type_name(types[1])) +
                  " n_tok " + std::to_string(n_tok) + " " + std::string(isa_name(isa)) +
                  (mode == MatmulMode::Fast ? " fast " : " exact ") + std::to_string(threads) +
                  " threads, inputs " + std::to_string(int(inputs)));
              auto input_of = [&](size_t i) -> const float* {
                if (inputs == Inputs::AllOwn || (inputs == Inputs::OneOwn && i == 1))
                  return types.size() > 2 && i + 1 == types.size() ? own[0].data() : own[i].data();
                return nullptr;
              };
              std::vector<std::vector<float>> want, got;
              std::vector<PackedProduct> products;
              for (size_t i = 0; i < types.size(); ++i) {
                want.emplace_back(n_tok * rows[i], -1.0f);
                got.emplace_back(n_tok * rows[i], -2.0f);
                const float* in = input_of(i) != nullptr ? input_of(i) : x.data();
                matmul(*p[i], in, n_tok, want[i].data(), 1, mode);
              }
              for (size_t i = 0; i < types.size(); ++i)
                products.push_back({p[i].get(), got[i].data(), input_of(i)});
              matmul(products, inputs == Inputs::AllOwn ? nullptr : x.data(), n_tok, threads, mode);
              for (size_t i = 0; i < types.size(); ++i)
                ASSERT_EQ(
                    std::memcmp(want[i].data(), got[i].data(), want[i].size() * sizeof(float)), 0)
                    << "matrix " << i;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace minillm::kernels
