// A hostile corpus for the GGUF reader, built in memory: truncations, flipped and random bytes,
// huge counts, bad headers, unknown types, bad offsets, duplicates, deep nesting. Every input must
// either parse into a consistent GGUFFile or throw minillm::Error; the specifically malformed
// inputs must throw an Error whose message names the problem. This file is also compiled with
// AddressSanitizer + UndefinedBehaviorSanitizer (gguf_corpus_asan_test).
#include <gtest/gtest.h>

#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <random>

#include "gguf_layout.h"
#include "minillm/gguf.h"
#include "test_data.h"

namespace minillm {
namespace {

using test::ByteBuilder;
using test::GGUFLayout;
using test::store_le;
using test::walk_gguf;

// The small valid file the corpus grows from: alignment 16 (so general.alignment is present),
// several value types, and three tensors of different types.
std::vector<uint8_t> small_file() {
  GGUFWriter w(16);
  w.set("general.architecture", "llama");
  w.set("k1", uint32_t{5});
  w.set("k2", uint32_t{6});
  w.set("flag", true);
  w.set("eps", 1e-5f);
  w.set("names", GGUFValue::string_array({"a", "bc", ""}));
  w.set("nested", GGUFValue::array(GGUFType::ARRAY, {GGUFValue::array_of<uint16_t>({1, 2}),
                                                     GGUFValue::array_of<uint16_t>({})}));
  w.set("big", int64_t{-1});
  std::vector<uint8_t> t1(4 * 2 * 4), t2(34), t3(3 * 2);
  for (size_t i = 0; i < t1.size(); ++i) t1[i] = uint8_t(i);
  for (size_t i = 0; i < t2.size(); ++i) t2[i] = uint8_t(100 + i);
  w.add_tensor("t1", TensorType::F32, {4, 2}, t1);  // 32 bytes at offset 0
  w.add_tensor("t2", TensorType::Q8_0, {32}, t2);   // 34 bytes at offset 32
  w.add_tensor("t3", TensorType::F16, {3}, t3);     // 6 bytes at offset 80
  return w.to_bytes();
}

const std::vector<uint8_t>& small() {
  static const std::vector<uint8_t> bytes = small_file();
  return bytes;
}
const GGUFLayout& small_layout() {
  static const GGUFLayout layout = walk_gguf(small());
  return layout;
}

std::optional<std::vector<uint8_t>> stories_bytes() {
  const auto path = test::shared_file("models/stories260K.gguf");
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Offset of the n-th field of `kind` (0-based).
uint64_t field_at(const GGUFLayout& l, std::string_view kind, int nth = 0) {
  for (const test::GGUFField& f : l.fields)
    if (f.kind == kind && nth-- == 0) return f.offset;
  throw std::runtime_error("test: no such field");
}
// Offset of the value bytes of metadata key `key` (just after its value type).
uint64_t value_of(const GGUFLayout& l, std::string_view key) {
  for (size_t i = 0; i + 2 < l.fields.size(); ++i) {
    const test::GGUFField& f = l.fields[i];
    if (f.kind == "key" && f.size == key.size() &&
        std::equal(key.begin(), key.end(), small().begin() + f.offset))
      return l.fields[i + 2].offset;
  }
  throw std::runtime_error("test: no such key");
}
uint64_t tensor_field(const GGUFLayout& l, int tensor, std::string_view kind, int nth = 0) {
  for (const test::GGUFField& f : l.fields)
    if (f.offset >= l.tensors[tensor].info_offset && f.kind == kind && nth-- == 0) return f.offset;
  throw std::runtime_error("test: no such tensor field");
}

// Checks what a successful parse promises: every tensor inside the bytes, aligned, not
// overlapping, readable; metadata readable.
void check_parsed(const GGUFFile& f, size_t size) {
  EXPECT_EQ(f.file_size(), size);
  EXPECT_TRUE(f.alignment() > 0 && (f.alignment() & (f.alignment() - 1)) == 0);
  const uint8_t* base = nullptr;
  uint64_t sum = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const GGUFTensorInfo& t : f.tensors()) {
    EXPECT_EQ(t.offset % f.alignment(), 0u);
    EXPECT_EQ(t.data.size(), t.n_bytes);
    EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, size);
    const uint8_t* b = t.data.data() - f.data_offset() - t.offset;
    if (!base) base = b;
    EXPECT_EQ(b, base);
    for (uint8_t x : t.data) sum += x;  // reads every byte: the sanitizers watch these reads
    ranges.emplace_back(t.offset, t.offset + t.n_bytes);
    EXPECT_FALSE(t.name.empty());
    EXPECT_TRUE(!t.shape.empty() && t.shape.size() <= 4);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) EXPECT_LE(ranges[i - 1].second, ranges[i].first);
  for (const auto& [k, v] : f.metadata()) {
    EXPECT_FALSE(k.empty());
    EXPECT_EQ(f.find(k), &v);  // keys are unique
    if (v.is_array()) {
      for (const GGUFValue& item : v.array().items) EXPECT_EQ(item.type(), v.array().element_type);
    }
  }
  volatile uint64_t sink = sum;  // keeps the reads above
  (void)sink;
}

// nullopt when `bytes` parses, otherwise the Error's message. Any other exception is a failure.
std::optional<std::string> parse_result(std::span<const uint8_t> bytes) {
  try {
    const GGUFFile f = GGUFFile::parse_copy(bytes, "corpus");
    check_parsed(f, bytes.size());
    return std::nullopt;
  } catch (const Error& e) {
    return std::string(e.what());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "exception other than minillm::Error: " << e.what();
  } catch (...) {
    ADD_FAILURE() << "exception other than minillm::Error";
  }
  return "<bad exception>";
}

// `bytes` must fail, with a message that contains every one of `parts`.
void expect_error(std::span<const uint8_t> bytes, std::initializer_list<std::string_view> parts,
                  const std::string& what) {
  SCOPED_TRACE(what);
  const auto error = parse_result(bytes);
  ASSERT_TRUE(error.has_value()) << "parsed, but should not have";
  for (std::string_view p : parts)
    EXPECT_NE(error->find(p), std::string::npos) << "'" << p << "' not in: " << *error;
  EXPECT_EQ(error->find("corpus: invalid GGUF"), 0u) << *error;
}

std::vector<uint8_t> patched(uint64_t at, uint64_t value, int n) {
  std::vector<uint8_t> b = small();
  store_le(b, at, value, n);
  return b;
}

bool mentions_truncation(const std::string& msg) {
  return msg.find("truncated") != std::string::npos ||
         msg.find("past the end") != std::string::npos;
}

TEST(GGUFCorpus, TheSeedFileIsValid) {
  const GGUFLayout& l = small_layout();
  ASSERT_EQ(l.tensors.size(), 3u);
  EXPECT_EQ(l.alignment, 16u);
  EXPECT_EQ(parse_result(small()), std::nullopt);
}

// ---- truncation ----

TEST(GGUFCorpus, EveryTruncationOfTheSmallFile) {
  const std::vector<uint8_t>& b = small();
  const GGUFLayout& l = small_layout();
  const uint64_t data_offset = (l.end_of_infos + 15) / 16 * 16;
  // Sizes from the writer: t1 32 bytes at 0, t2 34 at 32, t3 6 at 80.
  const std::pair<const char*, uint64_t> ends[] = {{"t1", 32}, {"t2", 66}, {"t3", 86}};
  const uint64_t end_of_data = data_offset + 86;
  for (size_t len = 0; len < b.size(); ++len) {
    SCOPED_TRACE("length " + std::to_string(len));
    const auto error = parse_result({b.data(), len});
    if (len >= end_of_data) {
      EXPECT_EQ(error, std::nullopt) << "only padding is missing";
      continue;
    }
    ASSERT_TRUE(error.has_value());
    if (len < 4) {
      EXPECT_NE(error->find("magic"), std::string::npos) << *error;
    } else if (len < l.end_of_infos) {
      EXPECT_TRUE(mentions_truncation(*error)) << *error;
    } else {
      // The header is whole; the first tensor whose data is cut off is named.
      const uint64_t available = len > data_offset ? len - data_offset : 0;
      for (const auto& [name, end] : ends) {
        if (end > available) {
          EXPECT_NE(error->find(std::string("'") + name + "'"), std::string::npos) << *error;
          EXPECT_NE(error->find("outside"), std::string::npos) << *error;
          break;
        }
      }
    }
  }
}

TEST(GGUFCorpus, TruncationsOfStories260KAtEveryFieldBoundary) {
  REQUIRE_SHARED_FILE(test::shared_file("models/stories260K.gguf"));
  const auto bytes = stories_bytes();
  const GGUFLayout l = walk_gguf(*bytes);
  // Every boundary of the header's top-level fields and tensor infos, and of every 32nd field
  // inside the 512-entry vocabulary arrays (each cut re-parses everything before it).
  const uint64_t infos = l.tensors.front().info_offset;
  size_t cases = 0;
  for (size_t i = 0; i < l.fields.size(); ++i) {
    const test::GGUFField& f = l.fields[i];
    const bool top_level = f.kind == "key_len" || f.kind == "key" || f.kind == "value_type" ||
                           f.kind == "elem_type" || f.kind == "array_len";
    if (!top_level && f.offset < infos && i % 32 != 0) continue;
    for (uint64_t cut : {f.offset, f.offset + f.size / 2}) {
      if (cut == 0 || cut >= l.end_of_infos) continue;
      const auto error = parse_result({bytes->data(), cut});
      ++cases;
      ASSERT_TRUE(error.has_value()) << "cut at " << cut;
      if (cut < 4) {
        EXPECT_NE(error->find("magic"), std::string::npos) << *error;
      } else {
        EXPECT_TRUE(mentions_truncation(*error)) << *error;
      }
    }
  }
  EXPECT_GT(cases, 800u);
  // Cuts inside the data section name the tensor that no longer fits.
  const uint64_t data_offset = (l.end_of_infos + 31) / 32 * 32;
  for (const test::GGUFLayoutTensor& t : l.tensors) {
    const uint64_t cut = data_offset + t.offset + 1;
    const auto error = parse_result({bytes->data(), cut});
    ASSERT_TRUE(error.has_value());
    EXPECT_NE(error->find("'" + t.name + "'"), std::string::npos) << *error;
    EXPECT_NE(error->find("outside"), std::string::npos) << *error;
  }
  EXPECT_EQ(parse_result(*bytes), std::nullopt);
}

// ---- flipped and random bytes ----

TEST(GGUFCorpus, FlippedBytesParseOrThrowError) {
  const std::vector<uint8_t>& b = small();
  size_t parsed = 0, rejected = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    for (uint8_t mask : {0x01, 0x10, 0x80, 0xFF}) {
      std::vector<uint8_t> m = b;
      m[i] ^= mask;
      (parse_result(m) ? rejected : parsed)++;
    }
  }
  EXPECT_GT(rejected, 0u);
  EXPECT_GT(parsed, 0u);  // e.g. flips inside tensor data or string contents
}

TEST(GGUFCorpus, InterestingValuesInEveryHeaderField) {
  const GGUFLayout& l = small_layout();
  for (const test::GGUFField& f : l.fields) {
    if (f.size != 2 && f.size != 4 && f.size != 8) continue;
    const int n = static_cast<int>(f.size);
    const uint64_t current = test::load_le(small(), f.offset, n);
    const uint64_t top = n == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1;
    for (uint64_t v : {uint64_t{0}, uint64_t{1}, current + 1, current - 1, current * 2, top / 2,
                       top / 2 + 1, top, top - 15, uint64_t{1} << 31, uint64_t{0xFFFFFFFF}}) {
      SCOPED_TRACE(f.kind + " at " + std::to_string(f.offset) + " = " + std::to_string(v & top));
      (void)parse_result(patched(f.offset, v & top, n));
    }
  }
}

TEST(GGUFCorpus, RandomMutationsParseOrThrowError) {
  const std::vector<uint8_t>& seed = small();
  const GGUFLayout& l = small_layout();
  std::mt19937_64 rng(20240531);
  size_t parsed = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::vector<uint8_t> b = seed;
    const int n_ops = 1 + static_cast<int>(rng() % 4);
    for (int op = 0; op < n_ops && !b.empty(); ++op) {
      switch (rng() % 6) {
        case 0:  // random byte
          b[rng() % b.size()] = static_cast<uint8_t>(rng());
          break;
        case 1: {  // random value over a header field
          const test::GGUFField& f = l.fields[rng() % l.fields.size()];
          if (f.offset + f.size <= b.size() && f.size <= 8)
            store_le(b, f.offset, rng() >> (rng() % 64), static_cast<int>(f.size));
          break;
        }
        case 2: {  // insert bytes
          const size_t at = rng() % (b.size() + 1);
          b.insert(b.begin() + at, 1 + rng() % 16, static_cast<uint8_t>(rng()));
          break;
        }
        case 3: {  // delete bytes
          const size_t at = rng() % b.size();
          b.erase(b.begin() + at, b.begin() + std::min(b.size(), at + 1 + rng() % 16));
          break;
        }
        case 4:  // truncate
          b.resize(rng() % b.size());
          break;
        default:  // flip one bit
          b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
      }
    }
    if (!parse_result(b)) ++parsed;
    if (HasFailure()) FAIL() << "iteration " << iter;
  }
  EXPECT_GT(parsed, 0u);
}

TEST(GGUFCorpus, RandomHeaderMutationsOfStories260K) {
  REQUIRE_SHARED_FILE(test::shared_file("models/stories260K.gguf"));
  const auto seed = stories_bytes();
  const GGUFLayout l = walk_gguf(*seed);
  std::mt19937_64 rng(7);
  std::vector<uint8_t> b;
  for (int iter = 0; iter < 100; ++iter) {
    b = *seed;
    for (int op = 0; op < 3; ++op) {
      const test::GGUFField& f = l.fields[rng() % l.fields.size()];
      if (f.size == 0) continue;
      if (rng() % 2)
        b[f.offset + rng() % f.size] = static_cast<uint8_t>(rng());
      else if (f.size <= 8)
        store_le(b, f.offset, rng() >> (rng() % 64), static_cast<int>(f.size));
    }
    (void)parse_result(b);
    if (HasFailure()) FAIL() << "iteration " << iter;
  }
}

// ---- specific malformed files ----

TEST(GGUFCorpus, BadMagicAndVersions) {
  std::vector<uint8_t> b = small();
  b[3] = 'X';
  expect_error(b, {"magic"}, "bad magic");
  expect_error(std::vector<uint8_t>{'G', 'G', 'U'}, {"magic"}, "3 bytes");
  expect_error(std::vector<uint8_t>{}, {"magic"}, "empty");
  expect_error(patched(4, 1, 4), {"version 1"}, "v1");
  expect_error(patched(4, 4, 4), {"version 4"}, "v4");
  expect_error(patched(4, 0, 4), {"version 0"}, "v0");
  expect_error(patched(4, 0x03000000, 4), {"big-endian"}, "big-endian v3");
  // Version 2 has the same layout: accepted.
  EXPECT_EQ(parse_result(patched(4, 2, 4)), std::nullopt);
}

TEST(GGUFCorpus, HugeCountsAndLengths) {
  const GGUFLayout& l = small_layout();
  const uint64_t max = ~uint64_t{0};
  for (uint64_t v : {max, uint64_t{1} << 40, uint64_t{1} << 62}) {
    expect_error(patched(8, v, 8), {"tensor count"}, "tensor count");
    expect_error(patched(16, v, 8), {"metadata count"}, "metadata count");
    expect_error(patched(field_at(l, "key_len", 1), v, 8), {"metadata key", "string length"},
                 "key length");
    expect_error(patched(field_at(l, "string_len", 0), v, 8), {"string length"},
                 "string value length");
    expect_error(patched(field_at(l, "array_len", 0), v, 8), {"array length", "'names'"},
                 "array length");
    expect_error(patched(field_at(l, "name_len", 1), v, 8), {"tensor name", "string length"},
                 "tensor name length");
  }
  // One more tensor or key than the file holds: the reader runs out of bytes.
  const auto more_tensors = parse_result(patched(8, l.n_tensors + 1, 8));
  ASSERT_TRUE(more_tensors);
  for (uint32_t n_dims : {0u, 5u, 0xFFFFFFFFu})
    expect_error(patched(tensor_field(l, 0, "n_dims"), n_dims, 4), {"'t1'", "dimensions"},
                 "n_dims " + std::to_string(n_dims));
  // t1 is 4 x 2: dimensions whose product overflows 64 bits, or whose byte size does.
  std::vector<uint8_t> b = small();
  store_le(b, tensor_field(l, 0, "dim", 0), uint64_t{1} << 40, 8);
  store_le(b, tensor_field(l, 0, "dim", 1), uint64_t{1} << 40, 8);
  expect_error(b, {"'t1'", "overflows"}, "element count overflow");
  b = small();
  store_le(b, tensor_field(l, 0, "dim", 0), uint64_t{1} << 62, 8);
  store_le(b, tensor_field(l, 0, "dim", 1), 1, 8);
  expect_error(b, {"'t1'", "overflows"}, "byte size overflow");
  expect_error(patched(tensor_field(l, 0, "dim", 1), 0, 8), {"'t1'", "dimension 0"}, "dim 0");
  expect_error(patched(tensor_field(l, 0, "dim", 1), uint64_t{1} << 63, 8), {"'t1'", "dimension"},
               "dim > INT64_MAX");
  // Large but representable: the data cannot be in the file.
  expect_error(patched(tensor_field(l, 0, "dim", 1), uint64_t{1} << 40, 8), {"'t1'", "outside"},
               "dim too big for the file");
}

TEST(GGUFCorpus, UnknownValueAndTensorTypes) {
  const GGUFLayout& l = small_layout();
  for (uint32_t t : {13u, 100u, 0xFFFFFFFFu}) {
    expect_error(patched(field_at(l, "value_type", 1), t, 4), {"unknown metadata value type"},
                 "value type " + std::to_string(t));
    expect_error(patched(field_at(l, "elem_type", 0), t, 4),
                 {"unknown metadata value type", "'names'"}, "element type");
  }
  // 4, 5, 31-33 and 36-38 were removed from the format; 40 and beyond are not defined.
  for (uint32_t t : {4u, 5u, 31u, 36u, 40u, 1000u, 0xFFFFFFFFu})
    expect_error(patched(tensor_field(l, 1, "tensor_type"), t, 4), {"'t2'", "unknown type id"},
                 "tensor type " + std::to_string(t));
  // Q8_0 (block 32) for a row of 33 elements.
  expect_error(patched(tensor_field(l, 1, "dim"), 33, 8), {"'t2'", "block size"}, "row 33");
}

// IQ4_NL (32 elements in 18 bytes) and IQ4_XS (256 in 136): a row that is not whole blocks, and
// data cut short, are errors naming the tensor, as for every other type.
TEST(GGUFCorpus, IQ4RowsOfPartialBlocksAndTruncatedData) {
  struct Type {
    uint32_t id;
    uint64_t block, bytes;
  };
  for (const Type t : {Type{20, 32, 18}, Type{23, 256, 136}}) {
    SCOPED_TRACE(t.id);
    // One 2-D tensor [row, 2] of type t at offset 0 of the data section, and data_bytes bytes.
    auto file = [&](uint64_t row, uint64_t data_bytes) {
      ByteBuilder b;
      b.header(3, 1, 0).str("blk.0.ffn_up.weight").u32(2).u64(row).u64(2).u32(t.id).u64(0);
      b.pad(32).zeros(data_bytes);
      return b.bytes;
    };
    EXPECT_EQ(parse_result(file(2 * t.block, 4 * t.bytes)), std::nullopt);
    expect_error(file(t.block + 16, 4 * t.bytes), {"'blk.0.ffn_up.weight'", "block size"},
                 "row of partial blocks");
    expect_error(file(2 * t.block, 4 * t.bytes - 1), {"'blk.0.ffn_up.weight'", "outside"},
                 "truncated data");
  }
}

TEST(GGUFCorpus, BadTensorOffsets) {
  const GGUFLayout& l = small_layout();
  const uint64_t t2 = tensor_field(l, 1, "tensor_offset");
  const uint64_t t3 = tensor_field(l, 2, "tensor_offset");
  expect_error(patched(t2, 33, 8), {"'t2'", "offset", "alignment"}, "misaligned");
  expect_error(patched(t3, 1 << 20, 8), {"'t3'", "outside"}, "past EOF");
  expect_error(patched(t3, ~uint64_t{15}, 8), {"'t3'", "outside"}, "offset near 2^64");
  expect_error(patched(t3, 96, 8), {"'t3'", "outside"}, "ends past EOF");
  expect_error(patched(t2, 0, 8), {"'t1'", "'t2'", "overlap"}, "same offset");
  expect_error(patched(t3, 64, 8), {"'t2'", "'t3'", "overlap"}, "partial overlap");
}

TEST(GGUFCorpus, DuplicateKeysAndTensorNames) {
  const GGUFLayout& l = small_layout();
  std::vector<uint8_t> b = small();
  b[field_at(l, "key", 3) + 1] = '1';  // "k2" -> "k1" (keys: alignment, architecture, k1, k2)
  expect_error(b, {"duplicate metadata key 'k1'"}, "duplicate key");
  b = small();
  b[field_at(l, "name", 1) + 1] = '1';  // "t2" -> "t1"
  expect_error(b, {"duplicate tensor name 't1'"}, "duplicate tensor");
}

TEST(GGUFCorpus, BadAlignment) {
  const GGUFLayout& l = small_layout();
  const uint64_t value = value_of(l, "general.alignment");
  for (uint32_t a : {0u, 3u, 48u, 0x80000001u})
    expect_error(patched(value, a, 4), {"general.alignment", "power of two"},
                 "alignment " + std::to_string(a));
  // A larger power of two makes t2's offset (32) misaligned.
  expect_error(patched(value, 64, 4), {"'t2'", "alignment 64"}, "alignment 64");
  // general.alignment must be UINT32 (INT32 has the same size, so the file stays well-formed).
  expect_error(patched(value - 4, 5, 4), {"general.alignment"}, "alignment as INT32");
  (void)parse_result(patched(value, 1, 4));
}

TEST(GGUFCorpus, BoolBytesOtherThanZeroOrOne) {
  const uint64_t value = value_of(small_layout(), "flag");
  for (uint8_t v : {2, 0x80, 0xFF}) expect_error(patched(value, v, 1), {"BOOL", "'flag'"}, "bool");
  EXPECT_EQ(parse_result(patched(value, 0, 1)), std::nullopt);
}

TEST(GGUFCorpus, DeeplyNestedArrays) {
  auto nested = [](int depth) {
    ByteBuilder b;
    b.header(3, 0, 1).str("deep").u32(9);  // ARRAY
    for (int d = 1; d < depth; ++d) b.u32(9).u64(1);
    b.u32(0).u64(1).u8(42);  // innermost: one UINT8
    return b.bytes;
  };
  EXPECT_EQ(parse_result(nested(8)), std::nullopt);
  for (int depth : {9, 100, 100000}) expect_error(nested(depth), {"nested", "'deep'"}, "deep");
}

TEST(GGUFCorpus, EmptyKeyAndTensorName) {
  ByteBuilder k;
  k.header(3, 0, 1).str("").u32(0).u8(1);
  expect_error(k.bytes, {"empty metadata key"}, "empty key");
  ByteBuilder t;
  t.header(3, 1, 0).str("").u32(1).u64(1).u32(0).u64(0).pad(32).zeros(32);
  expect_error(t.bytes, {"empty name"}, "empty tensor name");
}

TEST(GGUFCorpus, HandMadeMinimalFilesParse) {
  // No metadata, no tensors: just the 24-byte header.
  ByteBuilder empty;
  empty.header(3, 0, 0);
  EXPECT_EQ(parse_result(empty.bytes), std::nullopt);
  // One F32 scalar tensor at offset 0 of a data section that starts at 64 (24+8+1+4+8+4+8 = 57).
  ByteBuilder one;
  one.header(3, 1, 0).str("w").u32(1).u64(1).u32(0).u64(0).pad(32).f32(2.5f);
  ASSERT_EQ(one.bytes.size(), 68u);
  const GGUFFile f = GGUFFile::parse_copy(one.bytes);
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.data_offset(), 64u);
  float v = 0;
  std::memcpy(&v, f.tensors()[0].data.data(), 4);
  EXPECT_EQ(v, 2.5f);
}

}  // namespace
}  // namespace minillm
