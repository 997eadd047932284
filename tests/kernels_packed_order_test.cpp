// The packed layout stores each type's block words in the order its decoder first reads them
// (kernels/matmul/packed_order.h), so that a GEMV streams each block column front to back. This
// runs the real decoders (kernels/matmul/block_decode.h) over a source that records which packed
// word each read lands on, with a vector type whose operations do nothing, and checks that the
// first reads come in packed order, every word read.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/matmul/block_decode.h"
#include "kernels/matmul/packed_order.h"
#include "kernels/matmul/packed_rows.h"
#include "kernels/type_table.h"
#include "minillm/tensor_type.h"

namespace minillm::kernels {
namespace {

// A vector of nothing: the decoders' arithmetic compiles and does nothing.
struct NullVec {
  using I = int;
  using F = float;
  static I and_(I, I) { return 0; }
  static I or_(I, I) { return 0; }
  static I sub32(I, I) { return 0; }
  static I srl16(I, int) { return 0; }
  static I sll16(I, int) { return 0; }
  static I srl32(I, int) { return 0; }
  static I sll32(I, int) { return 0; }
  static I sra32(I, int) { return 0; }
  static I set8(char) { return 0; }
  static I set32(int) { return 0; }
  static F to_f(I) { return 0; }
  static F half_lo(I) { return 0; }
  static F mul(F, F) { return 0; }
  static F sub(F, F) { return 0; }
  static F zero_f() { return 0; }
  static F set1f(float) { return 0; }
  static F fmadd(F, F, F) { return 0; }
  static I dot4(I, I, I) { return 0; }
  static I shuffle8(I, I) { return 0; }
  static I set4x32(int, int, int, int) { return 0; }
  static I where_any(I, I, I) { return 0; }
};

// A packed source that records the packed word of every read (-1: the field kept apart).
struct Recorder {
  static constexpr bool kCheapReload = true;
  static constexpr bool kPacked = true;
  std::vector<int>* reads;
  int word_at(size_t w) const {
    reads->push_back(static_cast<int>(w));
    return 0;
  }
  float kept_half() const {
    reads->push_back(-1);
    return 0;
  }
  float half_in(size_t w, bool) const { return static_cast<float>(word_at(w)); }
  // File-order reads, for the types packed_order.h leaves in file order.
  size_t base() const { return packed_format(type).word_base; }
  void words(size_t off, int out[4]) const {
    for (size_t k = 0; k < 4; ++k) out[k] = word_at((off - base()) / 4 + k);
  }
  int word(size_t off) const { return word_at((off - base()) / 4); }
  float half(size_t off) const {
    if (static_cast<int32_t>(off) == packed_format(type).half_at) return kept_half();
    return half_in((off - base()) / 4, false);
  }
  TensorType type;
};

struct NullSink {
  void slot(int, int, int) {}
  void done(int, float, float) {}
};

TEST(PackedOrder, DecodersReadEachPackedColumnFrontToBack) {
  for (TensorType t : {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                       TensorType::Q6_K, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                       TensorType::IQ4_NL, TensorType::IQ4_XS}) {
    SCOPED_TRACE(type_name(t));
    std::vector<int> reads;
    const Recorder src{&reads, t};
    NullSink sink;
    isa::with_decoded_type(t, [&]<TensorType kT>() { isa::decode<NullVec, kT>(src, sink); });
    const PackedFormat f = packed_format(t);
    const size_t n_words = (f.block_bytes - (f.half_at >= 0 ? 2 : 0)) / 4;
    // First reads of each word, in the order they happen.
    std::vector<bool> seen(n_words, false);
    std::vector<int> first;
    for (int w : reads) {
      if (w < 0) continue;
      ASSERT_LT(static_cast<size_t>(w), n_words);
      if (!seen[w]) {
        first.push_back(w);
        seen[w] = true;
      }
    }
    ASSERT_EQ(first.size(), n_words) << "every word is read";
    // The reordered types must be read strictly front to back; file-order types keep file order
    // (they may read a field at the block's start last).
    if (packed_word_order(t).n != 0) {
      for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i], static_cast<int>(i));
    }
  }
}

TEST(PackedOrder, EachOrderIsAPermutationOfTheBlockWords) {
  for (TensorType t : {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q5_K, TensorType::Q6_K}) {
    SCOPED_TRACE(type_name(t));
    const WordOrder o = packed_word_order(t);
    const PackedFormat f = packed_format(t);
    ASSERT_EQ(o.n, (f.block_bytes - (f.half_at >= 0 ? 2 : 0)) / 4);
    EXPECT_EQ(f.word_base, 0u);  // InReadOrder numbers words from the block's start
    std::vector<int> count(o.n, 0);
    for (size_t i = 0; i < o.n; ++i) {
      ASSERT_LT(o.word[i], o.n);
      ++count[o.word[i]];
    }
    for (int c : count) EXPECT_EQ(c, 1);
  }
}

}  // namespace
}  // namespace minillm::kernels
