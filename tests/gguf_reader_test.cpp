// GGUFFile against the real files in the shared data folder. Expected figures come from
// ../shared/README.md (hyperparameters), the GGUF specification (layout, alignment, type sizes) and
// an independent walk over the file's bytes (tests/gguf_layout.h), never from the reader itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "gguf_layout.h"
#include "minillm/gguf.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

using test::shared_file;

uint64_t align_up(uint64_t n, uint64_t a) {
  return (n + a - 1) / a * a;
}

// Checks that the reader agrees with the independent walk over the same bytes, and that every
// tensor lies inside the file at an aligned offset without overlapping another.
void expect_consistent_with_bytes(const GGUFFile& f, std::span<const uint8_t> bytes) {
  const test::GGUFLayout l = test::walk_gguf(bytes);
  EXPECT_EQ(f.version(), l.version);
  EXPECT_EQ(f.file_size(), bytes.size());
  ASSERT_EQ(f.metadata().size(), l.n_kv);
  for (size_t i = 0; i < l.keys.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].first, l.keys[i]) << "metadata keeps file order";
    EXPECT_EQ(static_cast<uint32_t>(f.metadata()[i].second.type()), l.value_types[i]) << l.keys[i];
  }
  EXPECT_EQ(f.alignment(), l.alignment);
  EXPECT_EQ(f.data_offset(), align_up(l.end_of_infos, l.alignment));
  ASSERT_EQ(f.tensors().size(), l.n_tensors);
  const uint8_t* base = bytes.data();
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (size_t i = 0; i < l.tensors.size(); ++i) {
    const GGUFTensorInfo& t = f.tensors()[i];
    const test::GGUFLayoutTensor& w = l.tensors[i];
    SCOPED_TRACE(w.name);
    EXPECT_EQ(t.name, w.name);
    EXPECT_EQ(t.shape, w.dims);
    EXPECT_EQ(static_cast<uint32_t>(t.type), w.type);
    EXPECT_EQ(t.offset, w.offset);
    EXPECT_EQ(t.offset % l.alignment, 0u) << "the specification requires aligned offsets";
    uint64_t n = 1;
    for (uint64_t d : w.dims) n *= d;
    EXPECT_EQ(t.n_elements, n);
    EXPECT_EQ(t.data.size(), t.n_bytes);
    // The view must point into these bytes, at data section + offset.
    EXPECT_EQ(static_cast<uint64_t>(t.data.data() - base), f.data_offset() + w.offset);
    EXPECT_LE(f.data_offset() + w.offset + t.n_bytes, bytes.size());
    ranges.emplace_back(w.offset, w.offset + t.n_bytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    EXPECT_LE(ranges[i - 1].second, ranges[i].first) << "tensors overlap";
}

// ---- stories260K ----

class Stories260K : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = shared_file("models/stories260K.gguf");
    REQUIRE_SHARED_FILE(path_);
  }
  std::filesystem::path path_;
};

TEST_F(Stories260K, HeaderBytesMatchTheReader) {
  const std::vector<uint8_t> bytes = test::read_file_u8(path_);
  ASSERT_GE(bytes.size(), 24u);
  // magic 'G' 'G' 'U' 'F', version 3, then the two u64 counts, all little-endian.
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "GGUF");
  EXPECT_EQ(test::load_le(bytes, 4, 4), 3u);
  const uint64_t n_tensors = test::load_le(bytes, 8, 8);
  const uint64_t n_kv = test::load_le(bytes, 16, 8);
  // README: 5 layers x 9 tensors + token_embd, output_norm, output.
  EXPECT_EQ(n_tensors, 5u * 9u + 3u);

  const GGUFFile f = GGUFFile::open(path_);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.tensors().size(), n_tensors);
  EXPECT_EQ(f.metadata().size(), n_kv);
  EXPECT_EQ(f.alignment(), 32u);  // no general.alignment key: the default
  EXPECT_FALSE(f.has("general.alignment"));
  EXPECT_EQ(f.source_name(), path_.string());
}

TEST_F(Stories260K, AgreesWithAnIndependentWalkOfTheBytes) {
  const std::vector<uint8_t> bytes = test::read_file_u8(path_);
  const GGUFFile f = GGUFFile::parse_copy(bytes);
  // parse_copy keeps its own copy; walk the copy the views point into.
  const uint8_t* copy_base = f.tensors().front().data.data() - f.data_offset();
  expect_consistent_with_bytes(f, {copy_base, bytes.size()});
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), copy_base));

  // open() (memory-mapped) reads the same.
  const GGUFFile g = GGUFFile::open(path_);
  ASSERT_EQ(g.metadata().size(), f.metadata().size());
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    EXPECT_EQ(g.metadata()[i].first, f.metadata()[i].first);
    EXPECT_TRUE(g.metadata()[i].second == f.metadata()[i].second) << f.metadata()[i].first;
  }
  ASSERT_EQ(g.tensors().size(), f.tensors().size());
  for (size_t i = 0; i < f.tensors().size(); ++i)
    EXPECT_TRUE(std::ranges::equal(g.tensors()[i].data, f.tensors()[i].data));
}

TEST_F(Stories260K, HyperparametersMatchTheReadme) {
  const GGUFFile f = GGUFFile::open(path_);
  EXPECT_EQ(f.get<std::string>("general.architecture"), "llama");
  EXPECT_EQ(f.at("llama.embedding_length").as_uint(), 64u);
  EXPECT_EQ(f.at("llama.block_count").as_uint(), 5u);
  EXPECT_EQ(f.at("llama.attention.head_count").as_uint(), 8u);
  EXPECT_EQ(f.at("llama.attention.head_count_kv").as_uint(), 4u);
  EXPECT_EQ(f.at("llama.feed_forward_length").as_uint(), 172u);
  EXPECT_EQ(f.at("llama.rope.dimension_count").as_uint(), 8u);  // head_dim = 64 / 8
  EXPECT_EQ(f.at("llama.context_length").as_uint(), 2048u);     // "the file says 2048"
  // rms eps 1e-5, stored as FLOAT32: exactly the float nearest to 1e-5.
  EXPECT_EQ(f.get<float>("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_FALSE(f.has("llama.rope.freq_base"));
  EXPECT_EQ(f.get_or<float>("llama.rope.freq_base", 10000.0f), 10000.0f);

  // Vocabulary: 512 SentencePiece tokens with a score and a type each.
  EXPECT_EQ(f.get<std::string>("tokenizer.ggml.model"), "llama");
  const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(tokens[3], "<0x00>");  // byte-fallback tokens follow the three specials
  EXPECT_EQ(tokens[3 + 255], "<0xFF>");
  EXPECT_EQ(f.get_array<float>("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(f.get_array<int32_t>("tokenizer.ggml.token_type").size(), 512u);

  // Quirk: padding/separator ids are 0xFFFFFFFF. (The file spells the key "seperator".)
  EXPECT_EQ(f.get<uint32_t>("tokenizer.ggml.padding_token_id"), 0xFFFFFFFFu);
  const GGUFValue* sep = f.find("tokenizer.ggml.separator_token_id");
  if (!sep) sep = f.find("tokenizer.ggml.seperator_token_id");
  ASSERT_NE(sep, nullptr);
  EXPECT_EQ(sep->as<uint32_t>(), 0xFFFFFFFFu);
}

TEST_F(Stories260K, TensorShapesFollowFromTheHyperparameters) {
  const GGUFFile f = GGUFFile::open(path_);
  const uint64_t dim = 64, kv_dim = 4 * 8, ffn = 172, vocab = 512;
  // GGUF order: shape[0] is the row length (the input dimension of a projection).
  std::map<std::string, std::vector<uint64_t>> expected = {
      {"token_embd.weight", {dim, vocab}},
      {"output_norm.weight", {dim}},
      {"output.weight", {dim, vocab}},
  };
  for (int l = 0; l < 5; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    expected[b + "attn_norm.weight"] = {dim};
    expected[b + "attn_q.weight"] = {dim, dim};
    expected[b + "attn_k.weight"] = {dim, kv_dim};
    expected[b + "attn_v.weight"] = {dim, kv_dim};
    expected[b + "attn_output.weight"] = {dim, dim};
    expected[b + "ffn_norm.weight"] = {dim};
    expected[b + "ffn_gate.weight"] = {dim, ffn};
    expected[b + "ffn_up.weight"] = {dim, ffn};
    expected[b + "ffn_down.weight"] = {ffn, dim};
  }
  ASSERT_EQ(f.tensors().size(), expected.size());
  uint64_t total_bytes = 0;
  for (const GGUFTensorInfo& t : f.tensors()) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(expected.count(t.name));
    EXPECT_EQ(t.shape, expected[t.name]);
    EXPECT_EQ(t.type, TensorType::F32);  // all F32
    uint64_t n = 1;
    for (uint64_t d : expected[t.name]) n *= d;
    EXPECT_EQ(t.n_elements, n);
    EXPECT_EQ(t.n_bytes, n * 4);  // F32: 4 bytes per element
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, f.file_size());
    EXPECT_EQ(f.find_tensor(t.name), &t);
    total_bytes += t.n_bytes;
  }
  EXPECT_EQ(f.find_tensor("blk.5.attn_q.weight"), nullptr);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  // The data section holds exactly the tensors (each size here is a multiple of 32).
  EXPECT_EQ(f.data_offset() + total_bytes, f.file_size());
}

TEST_F(Stories260K, OutputWeightEqualsTheEmbedding) {
  const GGUFFile f = GGUFFile::open(path_);
  const GGUFTensorInfo* emb = f.find_tensor("token_embd.weight");
  const GGUFTensorInfo* out = f.find_tensor("output.weight");
  ASSERT_TRUE(emb && out);
  EXPECT_NE(emb->data.data(), out->data.data());
  EXPECT_TRUE(std::ranges::equal(emb->data, out->data));
  // Trained weights: finite, not all zero.
  float first = 0;
  std::memcpy(&first, emb->data.data(), 4);
  EXPECT_TRUE(std::isfinite(first));
  EXPECT_TRUE(std::ranges::any_of(emb->data, [](uint8_t b) { return b != 0; }));
}

TEST_F(Stories260K, TensorViewsOutliveTheFileObject) {
  std::shared_ptr<const void> owner;
  std::span<const uint8_t> view;
  {
    const GGUFFile f = GGUFFile::open(path_);
    owner = f.owner();
    view = f.find_tensor("output_norm.weight")->data;
  }
  ASSERT_EQ(view.size(), 64u * 4);
  float w = 0;
  std::memcpy(&w, view.data() + 4 * 63, 4);
  EXPECT_TRUE(std::isfinite(w));
}

TEST_F(Stories260K, TypedAccessErrorsNameTheKey) {
  const GGUFFile f = GGUFFile::open(path_);
  try {
    (void)f.get<uint64_t>("llama.block_count");  // stored as UINT32
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama.block_count"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("UINT32"), std::string::npos) << e.what();
  }
  try {
    (void)f.at("no.such.key");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.key"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)f.get_array<int32_t>("tokenizer.ggml.scores"), Error);  // FLOAT32 items
  EXPECT_THROW((void)f.at("general.name").as_uint(), Error);
}

// ---- llama-2-tiny-random ----

TEST(TinyRandom, F16MatricesF32NormsAndA32000TokenVocabulary) {
  const auto path = shared_file("models/llama-2-tiny-random.gguf");
  REQUIRE_SHARED_FILE(path);
  const std::vector<uint8_t> bytes = test::read_file_u8(path);
  const GGUFFile f = GGUFFile::open(path);
  expect_consistent_with_bytes(
      f, {f.tensors().front().data.data() - f.data_offset(), static_cast<size_t>(f.file_size())});
  EXPECT_EQ(test::load_le(bytes, 4, 4), 3u);
  EXPECT_EQ(f.version(), 3u);

  const uint64_t dim = 8;
  EXPECT_EQ(f.at("llama.embedding_length").as_uint(), dim);
  EXPECT_EQ(f.at("llama.block_count").as_uint(), 1u);
  EXPECT_EQ(f.at("llama.attention.head_count").as_uint(), 2u);
  const uint64_t n_kv_head =
      f.has("llama.attention.head_count_kv") ? f.at("llama.attention.head_count_kv").as_uint() : 2u;
  const uint64_t kv_dim = dim / 2 * n_kv_head;
  const uint64_t ffn = f.at("llama.feed_forward_length").as_uint();
  const uint64_t vocab = 32000;
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), vocab);

  std::map<std::string, std::vector<uint64_t>> matrices = {
      {"token_embd.weight", {dim, vocab}},    {"output.weight", {dim, vocab}},
      {"blk.0.attn_q.weight", {dim, dim}},    {"blk.0.attn_k.weight", {dim, kv_dim}},
      {"blk.0.attn_v.weight", {dim, kv_dim}}, {"blk.0.attn_output.weight", {dim, dim}},
      {"blk.0.ffn_gate.weight", {dim, ffn}},  {"blk.0.ffn_up.weight", {dim, ffn}},
      {"blk.0.ffn_down.weight", {ffn, dim}},
  };
  const std::set<std::string> norms = {"blk.0.attn_norm.weight", "blk.0.ffn_norm.weight",
                                       "output_norm.weight"};
  EXPECT_EQ(f.tensors().size(), matrices.size() + norms.size());
  for (const GGUFTensorInfo& t : f.tensors()) {
    SCOPED_TRACE(t.name);
    if (norms.count(t.name)) {
      EXPECT_EQ(t.type, TensorType::F32);
      EXPECT_EQ(t.shape, std::vector<uint64_t>{dim});
      EXPECT_EQ(t.n_bytes, dim * 4);
    } else {
      ASSERT_TRUE(matrices.count(t.name));
      EXPECT_EQ(t.type, TensorType::F16);
      EXPECT_EQ(t.shape, matrices[t.name]);
      EXPECT_EQ(t.n_bytes, t.shape[0] * t.shape[1] * 2);  // F16: 2 bytes per element
    }
    EXPECT_EQ(t.offset % f.alignment(), 0u);
  }
}

// ---- vocabulary-only files ----

TEST(VocabFiles, EveryVocabularyFileParsesWithoutTensors) {
  const auto dir = shared_file("vocab");
  REQUIRE_SHARED_FILE(dir);
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".gguf") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  // README: llama-spm, llama3, phi-3, gpt-2, falcon, deepseek-coder, deepseek-llm, starcoder,
  // refact, mpt.
  EXPECT_GE(files.size(), 10u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    const std::vector<uint8_t> bytes = test::read_file_u8(path);
    const GGUFFile f = GGUFFile::open(path);
    EXPECT_EQ(test::load_le(bytes, 8, 8), 0u) << "header tensor count";
    EXPECT_TRUE(f.tensors().empty());
    expect_consistent_with_bytes(f, bytes);
    // The views above were checked against `bytes` only for metadata: there are no tensors.
    const std::string model = f.get<std::string>("tokenizer.ggml.model");
    EXPECT_TRUE(model == "llama" || model == "gpt2") << model;
    const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
    EXPECT_GT(tokens.size(), 255u);
    if (f.has("tokenizer.ggml.scores")) {
      EXPECT_EQ(f.get_array<float>("tokenizer.ggml.scores").size(), tokens.size());
    }
    if (f.has("tokenizer.ggml.token_type")) {
      EXPECT_EQ(f.get_array<int32_t>("tokenizer.ggml.token_type").size(), tokens.size());
    }
    if (model == "gpt2") {  // byte-level BPE carries its merges
      const auto merges = f.get_string_array("tokenizer.ggml.merges");
      EXPECT_FALSE(merges.empty());
      EXPECT_NE(merges.front().find(' '), std::string::npos) << "a merge is 'left right'";
    }
  }
}

TEST(VocabFiles, KnownVocabularySizes) {
  // Llama 2 (SentencePiece): 32000 tokens; Llama 3.1: 128256.
  const std::pair<const char*, size_t> cases[] = {{"vocab/ggml-vocab-llama-spm.gguf", 32000},
                                                  {"vocab/ggml-vocab-llama3.gguf", 128256}};
  for (const auto& [file, size] : cases) {
    const auto path = shared_file(file);
    REQUIRE_SHARED_FILE(path);
    const GGUFFile f = GGUFFile::open(path);
    EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), size) << file;
  }
}

// ---- open() failures ----

TEST(GGUFOpen, MissingFileAndDirectoryGiveErrors) {
  const auto missing = std::filesystem::temp_directory_path() / "minillm-no-such-file.gguf";
  try {
    (void)GGUFFile::open(missing);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)GGUFFile::open(std::filesystem::temp_directory_path()), Error);
}

TEST(GGUFOpen, EmptyFileIsNotGGUF) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("minillm-empty-" + std::to_string(::getpid()) + ".gguf");
  { std::ofstream(path, std::ios::binary); }
  try {
    (void)GGUFFile::open(path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("magic"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace minillm
