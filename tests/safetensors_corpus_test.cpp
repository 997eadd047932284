// A hostile corpus for the Hugging Face parsers: safetensors files (truncations, flipped bytes,
// huge header lengths, bad JSON, bad dtypes and shapes, reversed, overlapping and out-of-range
// data), sharded-folder indexes, config.json, tokenizer.json and SentencePiece tokenizer.model.
// Every input must parse or throw minillm::Error; the specifically malformed ones must throw an
// Error naming the file and the problem. Also compiled with AddressSanitizer +
// UndefinedBehaviorSanitizer (safetensors_corpus_asan_test).
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "formats/hf_config.h"
#include "minillm/error.h"
#include "minillm/safetensors.h"
#include "safetensors_build.h"
#include "test_data.h"
#include "test_util.h"
#include "tokenizer/hf_vocab.h"

namespace minillm {
namespace {

using nlohmann::json;
using test::safetensors_bytes;
using test::SafetensorsBuilder;

// Three tensors of the usable dtypes plus one the model cannot use.
std::vector<uint8_t> seed_file() {
  SafetensorsBuilder b;
  b.add_f32("a", {2, 3}, {1, 2, 3, 4, 5, 6});
  const uint16_t h[4] = {0x3C00, 0x4000, 0xC000, 0};
  b.add("b", "F16", {4}, h, sizeof h);
  b.add("c", "BF16", {2, 1}, h, 4);
  const int64_t ids[2] = {7, -1};
  b.add("d", "I64", {2}, ids, sizeof ids);
  b.header()["__metadata__"] = {{"format", "pt"}};
  return b.bytes();
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  return test::error_of([&] { SafetensorsFile::parse_copy(bytes, "test.safetensors"); });
}

// A file from a header text and `data_bytes` zero bytes of data.
std::string error_of_header(const std::string& header, size_t data_bytes = 24) {
  return error_of(safetensors_bytes(header, std::vector<uint8_t>(data_bytes)));
}

// Parses or throws Error; anything else (another exception, a crash) fails the test.
void parse_or_error(const std::vector<uint8_t>& bytes) {
  try {
    const SafetensorsFile f = SafetensorsFile::parse_copy(bytes, "fuzz.safetensors");
    for (const SafetensorsTensor& t : f.tensors()) {
      volatile uint8_t sink = 0;
      for (uint8_t x : t.data) sink = sink ^ x;  // every view must be readable
      (void)sink;
    }
  } catch (const Error&) {
  }
}

TEST(SafetensorsCorpus, TheSeedFileIsValid) {
  const SafetensorsFile f = SafetensorsFile::parse_copy(seed_file(), "seed");
  ASSERT_EQ(f.tensors().size(), 4u);
  const SafetensorsTensor* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->type, TensorType::F32);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 3}));
  float v[6];
  std::memcpy(v, a->data.data(), sizeof v);
  EXPECT_EQ(v[5], 6.0f);
  EXPECT_EQ(f.find("c")->type, TensorType::BF16);
  EXPECT_FALSE(f.find("d")->type.has_value());
  EXPECT_HAS(
      [&] {
        try {
          f.find("d")->require_type();
        } catch (const Error& e) {
          return std::string(e.what());
        }
        return std::string();
      }(),
      "'d' has dtype I64");
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST(SafetensorsCorpus, EveryTruncation) {
  const auto seed = seed_file();
  for (size_t n = 0; n < seed.size(); ++n) {
    const std::vector<uint8_t> cut(seed.begin(), seed.begin() + n);
    EXPECT_NE(error_of(cut), "<no error>") << "truncated to " << n;
  }
}

TEST(SafetensorsCorpus, FlippedBytesParseOrThrowError) {
  const auto seed = seed_file();
  for (size_t i = 0; i < seed.size(); ++i)
    for (uint8_t mask : {0x01, 0x20, 0x80, 0xFF}) {
      auto b = seed;
      b[i] ^= mask;
      parse_or_error(b);
    }
}

TEST(SafetensorsCorpus, RandomMutationsParseOrThrowError) {
  const auto seed = seed_file();
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    auto b = seed;
    const int n = 1 + int(rng() % 8);
    for (int k = 0; k < n; ++k) b[rng() % b.size()] = uint8_t(rng());
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    parse_or_error(b);
  }
}

TEST(SafetensorsCorpus, HeaderLengths) {
  auto seed = seed_file();
  for (uint64_t len : {uint64_t(0), uint64_t(1), uint64_t(seed.size()), uint64_t(seed.size() - 7),
                       uint64_t(100) << 20, (uint64_t(100) << 20) + 1, uint64_t(1) << 40,
                       UINT64_MAX, UINT64_MAX - 7}) {
    auto b = seed;
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(len >> (8 * i));
    EXPECT_NE(error_of(b), "<no error>") << len;
  }
  EXPECT_HAS(error_of(std::vector<uint8_t>(8, 0xFF)), "over the 100 MB limit");
  std::vector<uint8_t> b(16, 0);
  b[0] = 200;
  EXPECT_HAS(error_of(b), "runs past the end");
  EXPECT_HAS(error_of({1, 2, 3}), "too short");
}

TEST(SafetensorsCorpus, BadJson) {
  for (const char* text :
       {"", "{", "{\"a\":", "[1,2]", "null", "\"x\"", "{\"a\": {}}x",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}", "\xFF\xFE{}"}) {
    const std::string e = error_of_header(text, 4);
    EXPECT_HAS(e, "test.safetensors");
    EXPECT_NE(e, "<no error>") << text;
  }
  EXPECT_HAS(error_of_header("[1]"), "not an object");
  EXPECT_HAS(error_of_header("{"), "not valid JSON");
  EXPECT_HAS(error_of_header(std::string(10000, '[') + std::string(10000, ']')), "nests deeper");
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape +
         ", \"data_offsets\": " + offsets + "}";
}

TEST(SafetensorsCorpus, BadEntries) {
  auto one = [](const std::string& e, size_t data = 24) {
    return error_of_header("{" + e + "}", data);
  };
  EXPECT_HAS(one(entry("w", "F32", "[2]", "[0, 8]"), 8), "<no error>");
  EXPECT_HAS(one(entry("w", "Q4", "[2]", "[0, 8]"), 8), "'w' has unknown dtype 'Q4'");
  EXPECT_HAS(one(entry("w", "F32", "[3]", "[0, 8]"), 8), "'w': shape holds 3 F32");
  EXPECT_HAS(one(entry("w", "F32", "[-2]", "[0, 8]"), 8), "negative");
  EXPECT_HAS(one(entry("w", "F32", "[2.5]", "[0, 8]"), 8), "non-integer");
  EXPECT_HAS(one(entry("w", "F32", "[4294967296, 4294967296, 4294967296]", "[0, 8]"), 8),
             "overflows");
  EXPECT_HAS(one(entry("w", "F32", "[1,1,1,1,1,1,1,1,1]", "[0, 4]"), 4), "dimensions");
  EXPECT_HAS(one(entry("w", "F32", "[2]", "[8, 0]"), 8), "reversed");
  EXPECT_HAS(one(entry("w", "F32", "[2]", "[0, 8]"), 4), "runs past the 4-byte data");
  EXPECT_HAS(one(entry("w", "F32", "[2]", "[18446744073709551615, 8]"), 8), "reversed");
  EXPECT_HAS(one(entry("w", "F32", "[2]", "[0]"), 8), "data_offsets");
  EXPECT_HAS(one(entry("w", "F32", "[2]", "[0, -8]"), 8), "data_offsets");
  EXPECT_HAS(one("\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}", 4), "dtype");
  EXPECT_HAS(one("\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}", 4), "shape");
  EXPECT_HAS(one("\"w\": 5", 4), "not an object");
  EXPECT_HAS(one("\"__metadata__\": {\"a\": 1}", 0), "not a string");
  EXPECT_HAS(one("\"__metadata__\": []", 0), "__metadata__");
}

TEST(SafetensorsCorpus, OverlapsHolesAndDuplicates) {
  const std::string a = entry("a", "F32", "[2]", "[0, 8]");
  EXPECT_HAS(
      error_of_header(std::string("{") + a + ", " + entry("b", "F32", "[2]", "[4, 12]") + "}", 12),
      "'b' overlaps tensor 'a'");
  EXPECT_HAS(
      error_of_header(std::string("{") + a + ", " + entry("b", "F32", "[2]", "[0, 8]") + "}", 8),
      "overlaps");
  EXPECT_HAS(
      error_of_header(std::string("{") + a + ", " + entry("b", "F32", "[1]", "[12, 16]") + "}", 16),
      "belong to no tensor");
  EXPECT_HAS(error_of_header(std::string("{") + a + "}", 12), "the last 4 bytes");
  EXPECT_HAS(
      error_of_header(std::string("{") + a + ", " + entry("a", "F32", "[2]", "[8, 16]") + "}", 16),
      "'a' is listed twice");
  // Zero-sized tensors may share an offset with the next one.
  EXPECT_EQ(
      error_of_header(std::string("{") + entry("z", "F32", "[0]", "[0, 0]") + ", " + a + "}", 8),
      "<no error>");
}

// ---- sharded folders ----

using test::TempDir;

std::string folder_error(const std::filesystem::path& dir) {
  return test::error_of([&] { SafetensorsSet::open_folder(dir); });
}

TEST(SafetensorsCorpus, ShardedFolders) {
  TempDir dir("shards");
  SafetensorsBuilder s1, s2;
  s1.add_f32("x", {2}, {1, 2});
  s2.add_f32("y", {1}, {3});
  s1.write(dir.path / "m-1.safetensors");
  s2.write(dir.path / "m-2.safetensors");
  const auto index = dir.path / "model.safetensors.index.json";
  test::write_file_bytes(index,
                         R"({"weight_map": {"x": "m-1.safetensors", "y": "m-2.safetensors"}})");
  const SafetensorsSet set = SafetensorsSet::open_folder(dir.path);
  ASSERT_NE(set.find("y"), nullptr);
  EXPECT_EQ(set.tensors().size(), 2u);
  EXPECT_HAS(
      [&] {
        try {
          set.at("z");
        } catch (const Error& e) {
          return std::string(e.what());
        }
        return std::string();
      }(),
      "missing tensor 'z'");

  test::write_file_bytes(index,
                         R"({"weight_map": {"x": "m-1.safetensors", "y": "m-3.safetensors"}})");
  EXPECT_HAS(folder_error(dir.path), "shard 'm-3.safetensors' (holding tensor 'y') is missing");
  test::write_file_bytes(index,
                         R"({"weight_map": {"x": "m-1.safetensors", "y": "m-1.safetensors"}})");
  EXPECT_HAS(folder_error(dir.path), "tensor 'y' should be in shard 'm-1.safetensors'");
  test::write_file_bytes(index, R"({"weight_map": {"x": "../m-1.safetensors"}})");
  EXPECT_HAS(folder_error(dir.path), "not a file name inside the folder");
  test::write_file_bytes(index, R"({"weight_map": {"x": 5}})");
  EXPECT_HAS(folder_error(dir.path), "non-string");
  test::write_file_bytes(index, R"({"metadata": {}})");
  EXPECT_HAS(folder_error(dir.path), "weight_map");
  test::write_file_bytes(index, R"({"weight_map": )");
  EXPECT_HAS(folder_error(dir.path), "not valid JSON");
  // The same tensor in two shards.
  s2.add_f32("x", {1}, {4});
  s2.write(dir.path / "m-2.safetensors");
  test::write_file_bytes(index,
                         R"({"weight_map": {"x": "m-1.safetensors", "y": "m-2.safetensors"}})");
  EXPECT_HAS(folder_error(dir.path), "tensor 'x' is also in");
  std::filesystem::remove(index);
  EXPECT_HAS(folder_error(dir.path), "no model.safetensors");
}

// ---- config.json, tokenizer.json, tokenizer.model ----

TEST(HFConfigCorpus, BadConfigs) {
  const json base = {{"architectures", {"LlamaForCausalLM"}},
                     {"hidden_size", 64},
                     {"intermediate_size", 172},
                     {"num_hidden_layers", 5},
                     {"num_attention_heads", 8}};
  EXPECT_EQ(test::error_of([&] { parse_hf_config(base, "config.json"); }), "<no error>");
  auto with = [&](const char* key, json value) {
    json j = base;
    j[key] = std::move(value);
    return test::error_of([&] { parse_hf_config(j, "config.json"); });
  };
  EXPECT_HAS(with("architectures", {"GPT2LMHeadModel"}), "'GPT2LMHeadModel' is not supported");
  EXPECT_HAS(with("hidden_size", -1), "'hidden_size'");
  EXPECT_HAS(with("hidden_size", "64"), "'hidden_size'");
  EXPECT_HAS(with("hidden_size", 1e30), "'hidden_size'");
  EXPECT_HAS(with("rms_norm_eps", "x"), "'rms_norm_eps' is not a number");
  EXPECT_HAS(with("hidden_act", "gelu"), "hidden_act 'gelu'");
  EXPECT_HAS(with("attention_bias", true), "attention_bias is not supported yet");
  EXPECT_HAS(with("quantization_config", {{"quant_method", "gptq"}}), "quantization_config");
  EXPECT_HAS(with("rope_scaling", {{"rope_type", "yarn"}, {"factor", 4}}),
             "rope_scaling type 'yarn' is not supported yet");
  EXPECT_HAS(with("rope_scaling", {{"type", "linear"}, {"factor", -1}}), "positive");
  EXPECT_HAS(with("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8}}),
             "original_max_position_embeddings");
  EXPECT_HAS(with("rope_scaling", 5), "'rope_scaling' is not an object");
  EXPECT_HAS(with("eos_token_id", {-1}), "'eos_token_id'");
  EXPECT_HAS(test::error_of([] { parse_hf_config(json::array(), "config.json"); }),
             "not a JSON object");
  json no_layers = base;
  no_layers.erase("num_hidden_layers");
  EXPECT_HAS(test::error_of([&] { parse_hf_config(no_layers, "config.json"); }),
             "'num_hidden_layers' is missing");
}

json small_tokenizer_json() {
  return json::parse(R"({
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,
    "added_tokens": [{"id": 0, "content": "<unk>", "special": true},
                     {"id": 1, "content": "<s>", "special": true}],
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
              "vocab": {"<unk>": 0, "<s>": 1, "▁": 2, "a": 3, "▁a": 4},
              "merges": ["▁ a"]}})");
}

TEST(HFTokenizerCorpus, BadTokenizerJson) {
  const json base = small_tokenizer_json();
  const Vocab v = vocab_from_tokenizer_json(base, "tokenizer.json");
  EXPECT_EQ(v.tokens.size(), 5u);
  EXPECT_EQ(v.types[0], TokenType::Unknown);
  EXPECT_EQ(v.types[1], TokenType::Control);
  auto edit = [&](auto&& change) {
    json j = base;
    change(j);
    return test::error_of([&] { vocab_from_tokenizer_json(j, "tokenizer.json"); });
  };
  EXPECT_HAS(edit([](json& j) { j["model"]["byte_fallback"] = false; }),
             "byte-level BPE tokenizer.json");
  EXPECT_HAS(edit([](json& j) { j["model"]["type"] = "Unigram"; }), "'Unigram'");
  EXPECT_HAS(edit([](json& j) { j["model"]["vocab"]["b"] = 99; }), "outside");
  EXPECT_HAS(edit([](json& j) { j["model"]["vocab"]["b"] = 3; }), "id 3 is given to both");
  EXPECT_HAS(edit([](json& j) { j["model"]["vocab"].erase("a"); }), "no token has id 3");
  EXPECT_HAS(edit([](json& j) { j["model"]["merges"] = {"a ▁"}; }), "merge 0");
  EXPECT_HAS(edit([](json& j) { j["model"]["merges"] = {"▁a"}; }), "not 'left right'");
  EXPECT_HAS(edit([](json& j) { j["model"]["merges"] = {5}; }), "not a pair");
  EXPECT_HAS(edit([](json& j) { j["model"]["unk_token"] = "<x>"; }), "unk_token");
  EXPECT_HAS(edit([](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }), "'NFKC'");
  EXPECT_HAS(edit([](json& j) { j["added_tokens"] = {{{"id", 7}}}; }), "lacks");
  EXPECT_HAS(edit([](json& j) { j.erase("model"); }), "'model' is missing");
  EXPECT_HAS(edit([](json& j) {
               j["model"]["vocab"].erase("▁a");
               j["model"]["vocab"]["x"] = 6;
               j["model"]["merges"] = json::array();
             }),
             "no token has id 4");
}

// A minimal ModelProto: pieces, a BPE trainer spec and an identity normalizer spec.
std::vector<uint8_t> small_sentencepiece() {
  std::vector<uint8_t> out;
  auto bytes_field = [](std::vector<uint8_t>& o, uint8_t field, const std::vector<uint8_t>& b) {
    o.push_back(uint8_t(field << 3 | 2));
    o.push_back(uint8_t(b.size()));
    o.insert(o.end(), b.begin(), b.end());
  };
  for (auto [text, type] : {std::pair{"<unk>", 2}, {"<s>", 3}, {"</s>", 3}, {"a", 1}}) {
    std::vector<uint8_t> piece;
    bytes_field(piece, 1, std::vector<uint8_t>(text, text + std::strlen(text)));
    piece.insert(piece.end(), {0x15, 0, 0, 0x80, 0xBF});  // score -1.0f
    piece.insert(piece.end(), {0x18, uint8_t(type)});
    bytes_field(out, 1, piece);
  }
  bytes_field(out, 2, {0x18, 2, 0xC0, 0x02, 0x00, 0xC8, 0x02, 0x01, 0xD0, 0x02, 0x02});
  bytes_field(out, 3, {0x18, 1, 0x20, 0});
  return out;
}

TEST(SentencePieceCorpus, SeedTruncationsAndFlips) {
  const auto seed = small_sentencepiece();
  const Vocab v = vocab_from_sentencepiece(seed, "tokenizer.model");
  ASSERT_EQ(v.tokens.size(), 4u);
  EXPECT_EQ(v.tokens[3], "a");
  EXPECT_EQ(v.scores[3], -1.0f);
  EXPECT_EQ(v.types[0], TokenType::Unknown);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  for (size_t n = 0; n < seed.size(); ++n) try {
      vocab_from_sentencepiece({seed.data(), n}, "cut.model");
    } catch (const Error&) {
    }
  for (size_t i = 0; i < seed.size(); ++i)
    for (uint8_t mask : {0x01, 0x07, 0x80, 0xFF}) {
      auto b = seed;
      b[i] ^= mask;
      try {
        vocab_from_sentencepiece(b, "flipped.model");
      } catch (const Error&) {
      }
    }
  EXPECT_HAS(test::error_of([] { vocab_from_sentencepiece({}, "empty.model"); }), "no pieces");
  const std::vector<uint8_t> huge = {0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F};
  EXPECT_HAS(test::error_of([&] { vocab_from_sentencepiece(huge, "huge.model"); }), "claims");
  const std::vector<uint8_t> long_varint(12, 0xFF);
  EXPECT_HAS(test::error_of([&] { vocab_from_sentencepiece(long_varint, "v.model"); }), "varint");
  auto unigram = seed;
  unigram[unigram.size() - 6 - 11 + 1] = 1;  // trainer_spec model_type = UNIGRAM
  EXPECT_HAS(test::error_of([&] { vocab_from_sentencepiece(unigram, "u.model"); }), "UNIGRAM");
}

TEST(SentencePieceCorpus, RandomMutationsOfTheLlama2Model) {
  const auto path = test::shared_file("vocab/llama2-tokenizer.model");
  REQUIRE_SHARED_FILE(path);
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> seed((std::istreambuf_iterator<char>(in)), {});
  std::mt19937 rng(99);
  for (int iter = 0; iter < 40; ++iter) {
    auto b = seed;
    for (int k = 0; k < 16; ++k) b[rng() % b.size()] = uint8_t(rng());
    if (iter % 2) b.resize(rng() % b.size());
    try {
      vocab_from_sentencepiece(b, "mutated.model");
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace minillm
