// GGUFWriter: reader(writer(x)) == x for every value type and several tensor types, the exact
// bytes of small files assembled by hand from the GGUF specification, input validation, and
// re-writing the real model files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <set>

#include "gguf_layout.h"
#include "minillm/gguf.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

using test::ByteBuilder;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

using test::error_of;
using test::TempDir;

#define EXPECT_ERROR_MENTIONS(stmt, text)                                 \
  do {                                                                    \
    const std::string msg_ = error_of([&] { stmt; });                     \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_; \
  } while (0)

// ---- metadata ----

std::vector<std::pair<std::string, GGUFValue>> every_value_type() {
  const float nan_f = std::bit_cast<float>(uint32_t{0x7FC01234});  // a NaN with a payload
  const double nan_d = std::bit_cast<double>(uint64_t{0x7FF8000000ABCDEF});
  using V = GGUFValue;
  const V nested = V::array(
      GGUFType::ARRAY, {V::array(GGUFType::INT32, {int32_t{1}, int32_t{-2}}),
                        V::array(GGUFType::STRING, {}), V::array(GGUFType::STRING, {"x", ""})});
  return {
      {"u8", uint8_t{255}},
      {"i8", int8_t{-128}},
      {"u16", uint16_t{65535}},
      {"i16", int16_t{-32768}},
      {"u32", uint32_t{0xFFFFFFFF}},
      {"i32", std::numeric_limits<int32_t>::min()},
      {"f32.nan", nan_f},
      {"f32.neg_zero", -0.0f},
      {"f32.inf", -std::numeric_limits<float>::infinity()},
      {"f32.denormal", std::numeric_limits<float>::denorm_min()},
      {"bool.true", true},
      {"bool.false", false},
      {"string.empty", ""},
      {"string.utf8", std::string("h\xC3\xA9llo \xE2\x96\x81 \xF0\x9F\x98\x80 nul\0byte", 26)},
      {"u64", std::numeric_limits<uint64_t>::max()},
      {"i64", std::numeric_limits<int64_t>::min()},
      {"f64.nan", nan_d},
      {"f64.neg_zero", -0.0},
      {"f64.max", std::numeric_limits<double>::max()},
      {"array.empty_u8", V::array(GGUFType::UINT8, {})},
      {"array.empty_array", V::array(GGUFType::ARRAY, {})},
      {"array.u8", V::array_of<uint8_t>({0, 1, 255})},
      {"array.i8", V::array_of<int8_t>({-1, 127})},
      {"array.u16", V::array_of<uint16_t>({1, 65535})},
      {"array.i16", V::array_of<int16_t>({-7})},
      {"array.u32", V::array_of<uint32_t>({0xDEADBEEF})},
      {"array.i32", V::array_of<int32_t>({-1, 0, 1})},
      {"array.f32", V::array_of<float>({nan_f, -0.0f, 1.5f})},
      {"array.bool", V::array_of<bool>({true, false, true})},
      {"array.string", V::string_array({"", "a", "\xE2\x96\x81the"})},
      {"array.u64", V::array_of<uint64_t>({std::numeric_limits<uint64_t>::max()})},
      {"array.i64", V::array_of<int64_t>({-5})},
      {"array.f64", V::array_of<double>({nan_d, -0.0})},
      {"array.nested", nested},
      {"array.nested3", V::array(GGUFType::ARRAY, {nested, nested})},
  };
}

TEST(GGUFWriter, EveryValueTypeRoundTrips) {
  const auto values = every_value_type();
  std::set<GGUFType> types;
  for (const auto& [k, v] : values) {
    types.insert(v.type());
    if (v.is_array()) types.insert(v.array().element_type);
  }
  EXPECT_EQ(types.size(), 13u) << "all 13 metadata types are covered";

  GGUFWriter w(64);
  for (const auto& [k, v] : values) w.set(k, v);
  const GGUFFile f = GGUFFile::parse_copy(w.to_bytes());
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  // general.alignment comes first (the writer records its non-default alignment), then the keys
  // in insertion order.
  ASSERT_EQ(f.metadata().size(), values.size() + 1);
  EXPECT_EQ(f.metadata()[0].first, "general.alignment");
  EXPECT_EQ(f.metadata()[0].second.type(), GGUFType::UINT32);
  EXPECT_EQ(f.get<uint32_t>("general.alignment"), 64u);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(f.metadata()[i + 1].first, values[i].first);
    EXPECT_TRUE(f.metadata()[i + 1].second == values[i].second) << values[i].first;
  }
  // Independent checks of the special floats.
  EXPECT_TRUE(std::signbit(f.get<float>("f32.neg_zero")));
  EXPECT_EQ(std::bit_cast<uint32_t>(f.get<float>("f32.nan")), 0x7FC01234u);
  EXPECT_EQ(std::bit_cast<uint64_t>(f.get<double>("f64.nan")), 0x7FF8000000ABCDEFu);
  EXPECT_EQ(f.get<std::string>("string.utf8").size(), 26u);
  EXPECT_TRUE(f.get_array<bool>("array.bool")[0]);
  EXPECT_EQ(f.at("array.nested").array().items[2].as_vector<std::string>()[1], "");
}

TEST(GGUFWriter, SetReplacesInPlace) {
  GGUFWriter w;
  w.set("a", uint32_t{1});
  w.set("b", "x");
  w.set("a", "now a string");
  const GGUFFile f = GGUFFile::parse_copy(w.to_bytes());
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "a");
  EXPECT_EQ(f.get<std::string>("a"), "now a string");
  EXPECT_FALSE(f.has("general.alignment")) << "32 is the default and is not written";
}

TEST(GGUFWriter, NestingUpToEightLevelsRoundTrips) {
  GGUFValue v = GGUFValue::array_of<uint8_t>({7});
  for (int depth = 1; depth < 8; ++depth) v = GGUFValue::array(GGUFType::ARRAY, {v});
  GGUFWriter w;
  w.set("deep", v);
  const GGUFFile f = GGUFFile::parse_copy(w.to_bytes());
  EXPECT_TRUE(f.at("deep") == v);

  GGUFWriter too_deep;
  too_deep.set("deep", GGUFValue::array(GGUFType::ARRAY, {v}));
  EXPECT_ERROR_MENTIONS((void)too_deep.to_bytes(), "nested");
}

// ---- tensors ----

struct TensorCase {
  const char* name;
  TensorType type;
  std::vector<uint64_t> shape;
  size_t expected_bytes;  // from the block layouts in the specification / ggml
};

const std::vector<TensorCase>& tensor_cases() {
  static const std::vector<TensorCase> cases = {
      {"f32", TensorType::F32, {3, 5}, 3 * 5 * 4},
      {"f16", TensorType::F16, {7}, 7 * 2},
      // Q4_0: blocks of 32 = f16 scale + 16 bytes of nibbles = 18 bytes.
      {"q4_0", TensorType::Q4_0, {64, 3}, 2 * 3 * 18},
      // Q8_0: blocks of 32 = f16 scale + 32 int8 = 34 bytes.
      {"q8_0", TensorType::Q8_0, {32, 2, 2}, 4 * 34},
      // Q4_K: super-blocks of 256 = f16 d + f16 dmin + 12 bytes of scales + 128 of nibbles.
      {"q4_k", TensorType::Q4_K, {256, 2}, 2 * 144},
      {"q4_k.4d", TensorType::Q4_K, {512, 1, 2, 1}, 4 * 144},
      {"bf16", TensorType::BF16, {1}, 2},
  };
  return cases;
}

TEST(GGUFWriter, TensorsRoundTripWithNonDefaultAlignment) {
  for (uint32_t alignment : {1u, 8u, 64u, 4096u}) {
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    GGUFWriter w(alignment);
    w.set("general.architecture", "test");
    std::vector<std::vector<uint8_t>> data;
    uint32_t seed = 1;
    for (const TensorCase& c : tensor_cases()) {
      data.push_back(random_bytes(c.expected_bytes, seed++));
      w.add_tensor_view(c.name, c.type, c.shape, data.back());
    }
    const std::vector<uint8_t> bytes = w.to_bytes();
    const GGUFFile f = GGUFFile::parse_copy(bytes);
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), tensor_cases().size());
    uint64_t expected_offset = 0;
    for (size_t i = 0; i < tensor_cases().size(); ++i) {
      const TensorCase& c = tensor_cases()[i];
      const GGUFTensorInfo& t = f.tensors()[i];
      SCOPED_TRACE(c.name);
      EXPECT_EQ(t.name, c.name);
      EXPECT_EQ(t.type, c.type);
      EXPECT_EQ(t.shape, c.shape);
      EXPECT_EQ(t.n_bytes, c.expected_bytes);
      // Tensors follow each other in order, each starting at the next aligned offset.
      EXPECT_EQ(t.offset, expected_offset);
      EXPECT_EQ(t.offset % alignment, 0u);
      EXPECT_TRUE(std::ranges::equal(t.data, data[i]));
      // The gap up to the next tensor is zero bytes.
      const uint64_t end = f.data_offset() + t.offset + t.n_bytes;
      expected_offset = (t.offset + t.n_bytes + alignment - 1) / alignment * alignment;
      for (uint64_t p = end; p < f.data_offset() + expected_offset; ++p)
        EXPECT_EQ(bytes[p], 0) << "padding byte " << p;
    }
    EXPECT_EQ(bytes.size(), f.data_offset() + expected_offset);
    // The padding between the tensor infos and the data section is zero bytes too.
    const test::GGUFLayout l = test::walk_gguf(bytes);
    for (uint64_t p = l.end_of_infos; p < f.data_offset(); ++p) EXPECT_EQ(bytes[p], 0);
  }
}

TEST(GGUFWriter, OwnedTensorDataOutlivesTheCaller) {
  std::vector<uint8_t> bytes;
  {
    GGUFWriter w;
    {
      std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6, 7, 8};
      w.add_tensor("t", TensorType::F32, {2}, std::move(data));
    }
    const GGUFWriter copy = w;
    w = GGUFWriter();
    bytes = copy.to_bytes();
  }
  const GGUFFile f = GGUFFile::parse_copy(bytes);
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(std::vector<uint8_t>(f.tensors()[0].data.begin(), f.tensors()[0].data.end()),
            (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(GGUFWriter, TensorsMadeLaterAreMadeOnlyWhenWrittenOneAtATime) {
  // The same tensors given now and made later give the same file; each maker runs when the
  // writer reaches its tensor (after the previous one was written), never when it is added.
  const std::vector<uint8_t> a = random_bytes(8, 1), b = random_bytes(3 * 18, 2);
  GGUFWriter now;
  now.add_tensor_view("a", TensorType::F32, {2}, a);
  now.add_tensor_view("b", TensorType::Q4_0, {32, 3}, b);
  GGUFWriter later;
  std::vector<std::string> made;
  later.add_tensor_later("a", TensorType::F32, {2}, [&] {
    made.push_back("a");
    return a;
  });
  later.add_tensor_later("b", TensorType::Q4_0, {32, 3}, [&] {
    made.push_back("b");
    return b;
  });
  EXPECT_TRUE(made.empty());
  EXPECT_EQ(later.to_bytes(), now.to_bytes());
  EXPECT_EQ(made, (std::vector<std::string>{"a", "b"}));

  TempDir dir;
  later.write(dir.path / "later.gguf");
  EXPECT_EQ(test::read_file_u8(dir.path / "later.gguf"), now.to_bytes());
  EXPECT_EQ(made.size(), 4u);

  // The shape is checked when added; bytes of the wrong size fail the write and leave no file.
  EXPECT_ERROR_MENTIONS(
      later.add_tensor_later("c", TensorType::Q4_0, {20}, [] { return std::vector<uint8_t>(18); }),
      "block size");
  EXPECT_ERROR_MENTIONS(later.add_tensor_later("c", TensorType::F32, {2}, {}), "'c'");
  later.add_tensor_later("c", TensorType::F32, {2}, [] { return std::vector<uint8_t>(4); });
  EXPECT_ERROR_MENTIONS(later.write(dir.path / "short.gguf"), "'c' was made with 4 bytes");
  EXPECT_FALSE(std::filesystem::exists(dir.path / "short.gguf"));
  size_t n_files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++n_files;
  EXPECT_EQ(n_files, 1u);
}

// ---- exact bytes ----

TEST(GGUFWriter, TinyFileMatchesHandAssembledBytes) {
  GGUFWriter w;  // alignment 32
  w.set("a", uint8_t{7});
  // Tensor data is copied as given: the little-endian bytes of 1.0f and -2.0f.
  const std::vector<uint8_t> data = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0};
  w.add_tensor_view("t", TensorType::F32, {2}, data);
  const std::vector<uint8_t> expected = {
      'G',  'G',  'U',  'F',                                // magic
      3,    0,    0,    0,                                  // version 3
      1,    0,    0,    0,    0, 0, 0, 0,                   // tensor count
      1,    0,    0,    0,    0, 0, 0, 0,                   // metadata count
      1,    0,    0,    0,    0, 0, 0, 0, 'a',              // key "a"
      0,    0,    0,    0,                                  // UINT8
      7,                                                    // value
      1,    0,    0,    0,    0, 0, 0, 0, 't',              // tensor name "t"
      1,    0,    0,    0,                                  // n_dims
      2,    0,    0,    0,    0, 0, 0, 0,                   // dims[0]
      0,    0,    0,    0,                                  // type F32
      0,    0,    0,    0,    0, 0, 0, 0,                   // offset 0
      0,    0,    0,    0,    0, 0, 0, 0, 0,   0, 0, 0, 0,  // 71 bytes so far: pad to 96
      0,    0,    0,    0,    0, 0, 0, 0, 0,   0, 0, 0,     //
      0x00, 0x00, 0x80, 0x3F,                               // 1.0f
      0x00, 0x00, 0x00, 0xC0,                               // -2.0f
      0,    0,    0,    0,    0, 0, 0, 0, 0,   0, 0, 0,     // pad the tensor to 32 bytes
      0,    0,    0,    0,    0, 0, 0, 0, 0,   0, 0, 0,     //
  };
  ASSERT_EQ(expected.size(), 128u);
  EXPECT_EQ(w.to_bytes(), expected);

  TempDir dir;
  w.write(dir.path / "tiny.gguf");
  EXPECT_EQ(test::read_file_u8(dir.path / "tiny.gguf"), expected);
}

TEST(GGUFWriter, AlignmentKeyAndArraysMatchHandAssembledBytes) {
  GGUFWriter w(16);
  w.set("arr", GGUFValue::array_of<int16_t>({1, -2}));
  w.set("s", "");
  ByteBuilder b;
  b.header(3, 0, 3);
  b.str("general.alignment").u32(4).u32(16);
  b.str("arr").u32(9).u32(3).u64(2).u16(1).u16(0xFFFE);
  b.str("s").u32(8).u64(0);
  b.pad(16);
  EXPECT_EQ(w.to_bytes(), b.bytes);
  // By hand: 24 + (8+17+4+4) + (8+3+4+4+8+2+2) + (8+1+4+8) = 109, padded to 112.
  EXPECT_EQ(b.bytes.size(), 112u);
}

// ---- validation ----

TEST(GGUFWriter, RejectsBadInputsWithClearErrors) {
  EXPECT_ERROR_MENTIONS(GGUFWriter(0), "power of two");
  EXPECT_ERROR_MENTIONS(GGUFWriter(48), "power of two");
  EXPECT_ERROR_MENTIONS(GGUFWriter(3), "power of two");

  GGUFWriter w;
  EXPECT_ERROR_MENTIONS(w.set("", uint8_t{1}), "empty");
  EXPECT_ERROR_MENTIONS(w.set("general.alignment", uint32_t{64}), "general.alignment");
  EXPECT_ERROR_MENTIONS(w.set("general.alignment", uint64_t{32}), "general.alignment");
  w.set("general.alignment", uint32_t{32});  // agrees with the writer: fine

  std::vector<uint8_t> eight(8);
  w.add_tensor_view("x", TensorType::F32, {2}, eight);
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("x", TensorType::F32, {2}, eight), "'x'");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("y", TensorType::F32, {3}, eight), "'y'");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("y", TensorType::F32, {3}, eight), "12 bytes");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("y", TensorType::F16, {2, 3}, eight), "bytes");
  // Q4_0 rows must be a multiple of 32 elements.
  std::vector<uint8_t> q(18 * 2);
  EXPECT_ERROR_MENTIONS(w.add_tensor("q", TensorType::Q4_0, {48}, q), "block size");
  EXPECT_ERROR_MENTIONS(w.add_tensor("q", TensorType::Q4_0, {16, 4}, q), "block size");
  w.add_tensor("q", TensorType::Q4_0, {32, 2}, q);  // right: 2 blocks of 18 bytes
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("z", TensorType::F32, {}, {}), "dimensions");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("z", TensorType::F32, {1, 1, 1, 1, 1}, {}), "dimensions");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("z", TensorType::F32, {2, 0}, {}), "dimension 0");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("z", TensorType::F32, {1ull << 40, 1ull << 40}, {}),
                        "too many elements");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("z", TensorType::F32, {1ull << 62}, {}),
                        "too many elements");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("z", static_cast<TensorType>(4), {1}, {}),
                        "unknown type");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view("", TensorType::F32, {2}, eight), "empty name");
  EXPECT_ERROR_MENTIONS(w.add_tensor_view(std::string(64, 'n'), TensorType::F32, {2}, eight),
                        "longer than 63");
  w.add_tensor_view(std::string(63, 'n'), TensorType::F32, {2}, eight);

  // The rejected tensors left no trace.
  const GGUFFile f = GGUFFile::parse_copy(w.to_bytes());
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "x");
  EXPECT_EQ(f.tensors()[1].name, "q");
  EXPECT_EQ(f.metadata().size(), 1u);

  // An array value assembled without GGUFValue::array's check.
  GGUFWriter bad;
  bad.set("mixed", GGUFValue(GGUFValue::Array{GGUFType::UINT8, {uint8_t{1}, "s"}}));
  EXPECT_ERROR_MENTIONS((void)bad.to_bytes(), "mixed");
}

TEST(GGUFWriter, WriteReplacesTheTargetAndLeavesNoTemporaryFiles) {
  TempDir dir;
  const auto target = dir.path / "model.gguf";
  { std::ofstream(target) << "old contents"; }
  GGUFWriter w;
  w.set("k", "v");
  w.write(target);
  EXPECT_EQ(test::read_file_u8(target), w.to_bytes());
  size_t n_files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++n_files;
  EXPECT_EQ(n_files, 1u);

  EXPECT_ERROR_MENTIONS(w.write(dir.path / "no" / "such" / "dir.gguf"), "dir.gguf");
  EXPECT_EQ(std::filesystem::file_size(target), w.to_bytes().size());
}

// ---- re-writing real files ----

class Rewrite : public ::testing::TestWithParam<const char*> {};

TEST_P(Rewrite, ReaderLoadsIdenticalMetadataAndTensors) {
  const auto path = test::shared_file(GetParam());
  REQUIRE_SHARED_FILE(path);
  const GGUFFile original = GGUFFile::open(path);
  GGUFWriter w(static_cast<uint32_t>(original.alignment()));
  for (const auto& [k, v] : original.metadata()) w.set(k, v);
  for (const GGUFTensorInfo& t : original.tensors())
    w.add_tensor_view(t.name, t.type, t.shape, t.data);
  TempDir dir;
  const auto out = dir.path / "rewritten.gguf";
  w.write(out);

  const GGUFFile copy = GGUFFile::open(out);
  ASSERT_EQ(copy.metadata().size(), original.metadata().size());
  for (size_t i = 0; i < original.metadata().size(); ++i) {
    EXPECT_EQ(copy.metadata()[i].first, original.metadata()[i].first);
    EXPECT_TRUE(copy.metadata()[i].second == original.metadata()[i].second)
        << original.metadata()[i].first;
  }
  ASSERT_EQ(copy.tensors().size(), original.tensors().size());
  for (size_t i = 0; i < original.tensors().size(); ++i) {
    const GGUFTensorInfo& a = original.tensors()[i];
    const GGUFTensorInfo& b = copy.tensors()[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.type, a.type);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_TRUE(std::ranges::equal(b.data, a.data)) << a.name;
  }
  // These files were written by another implementation; every tensor size is a multiple of 32 and
  // the original has no trailing bytes, so a writer following the specification reproduces them
  // byte for byte.
  EXPECT_TRUE(test::read_file_u8(out) == test::read_file_u8(path))
      << "not byte-identical to " << GetParam();
}

INSTANTIATE_TEST_SUITE_P(SharedModels, Rewrite,
                         ::testing::Values("models/stories260K.gguf",
                                           "models/llama-2-tiny-random.gguf"));

}  // namespace
}  // namespace minillm
