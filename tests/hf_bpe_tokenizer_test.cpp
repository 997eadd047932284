// Byte-level BPE tokenizer.json (Llama 3): the Hugging Face file must reproduce the shared test
// vectors (llama.cpp's tokenizer tests and a corpus tokenized by Hugging Face tokenizers), give
// the same ids as the GGUF vocabulary, and refuse pre-tokenizers mini-llm does not implement.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minillm/error.h"
#include "minillm/tokenizer.h"
#include "test_data.h"
#include "vocab_cases.h"

namespace minillm {
namespace {

using nlohmann::json;
using test::Ids;
using test::shared_file;

constexpr EncodeOptions kNoBos{.add_bos = false, .add_eos = false};
constexpr EncodeOptions kSpecial{.add_bos = false, .add_eos = false, .parse_special = true};

std::filesystem::path llama3_json() {
  return shared_file("vocab/hf-tokenizers/llama3/tokenizer.json");
}

// Loaded once: the file is 9 MB.
const Tokenizer& llama3() {
  static const Tokenizer tok = Tokenizer::from_path(llama3_json());
  return tok;
}

TEST(HFByteLevelBpe, Llama3Settings) {
  REQUIRE_SHARED_FILE(llama3_json());
  const Vocab& v = llama3().vocab();
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre_tokenizer, "llama-bpe");
  EXPECT_TRUE(v.ignore_merges);
  EXPECT_EQ(v.tokens.size(), 128256u);
  EXPECT_EQ(v.merges.size(), 280147u);
  EXPECT_EQ(llama3().token_text(llama3().bos_id()), "<|begin_of_text|>");
  EXPECT_EQ(llama3().token_text(llama3().eos_id()), "<|eot_id|>");  // tokenizer_config.json
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_TRUE(llama3().is_control(*llama3().token_id("<|start_header_id|>")));
  EXPECT_NE(v.chat_template.find("start_header_id"), std::string::npos);
}

TEST(HFByteLevelBpe, Llama3GgmlVectors) {
  const auto inp = shared_file("vocab/ggml-vocab-llama3.gguf.inp");
  const auto out = shared_file("vocab/ggml-vocab-llama3.gguf.out");
  for (const auto& p : {llama3_json(), inp, out}) REQUIRE_SHARED_FILE(p);
  test::expect_vocab_cases(llama3(), inp, out, "ggml-vocab-llama3 with tokenizer.json", true);
}

TEST(HFByteLevelBpe, Llama3Corpus) {
  const auto inp = shared_file("vocab/corpus/llama3-public.inp");
  const auto out = shared_file("vocab/corpus/llama3-public.out");
  const auto js = shared_file("vocab/corpus/llama3-public.json");
  for (const auto& p : {llama3_json(), inp, out, js}) REQUIRE_SHARED_FILE(p);
  test::expect_vocab_cases(llama3(), inp, out, "llama3-public with tokenizer.json");
  const json cases = json::parse(test::read_file_bytes(js));
  ASSERT_EQ(cases.size(), 128u);
  size_t plain = 0, special = 0;
  for (const json& c : cases) {
    const std::string text = c.at("text");
    const Ids want = c.at("ids"), want_special = c.at("ids_parse_special");
    const Ids got = llama3().encode(text, kNoBos), got_special = llama3().encode(text, kSpecial);
    EXPECT_EQ(got, want) << "n=" << c.at("n");
    EXPECT_EQ(got_special, want_special) << "parse_special, n=" << c.at("n");
    plain += got == want;
    special += got_special == want_special;
  }
  std::printf("[ vectors  ] llama3-public.json: %zu/%zu plain, %zu/%zu parse_special\n", plain,
              cases.size(), special, cases.size());
}

TEST(HFByteLevelBpe, JsonAndGgufAgree) {
  const auto gguf = shared_file("vocab/ggml-vocab-llama3.gguf");
  const auto corpus = shared_file("vocab/corpus/llama3-public.inp");
  const auto ggml = shared_file("vocab/ggml-vocab-llama3.gguf.inp");
  for (const auto& p : {llama3_json(), gguf, corpus, ggml}) REQUIRE_SHARED_FILE(p);
  const Tokenizer from_gguf = Tokenizer::from_file(gguf);
  ASSERT_EQ(from_gguf.n_vocab(), llama3().n_vocab());
  EXPECT_EQ(from_gguf.bos_id(), llama3().bos_id());
  auto texts = test::split_vocab_cases(test::read_file_bytes(ggml));
  for (std::string& t : test::split_vocab_cases(test::read_file_bytes(corpus)))
    texts.push_back(std::move(t));
  ASSERT_EQ(texts.size(), 46u + 128u);
  for (const std::string& text : texts) {
    for (const EncodeOptions& o : {EncodeOptions{}, kNoBos, kSpecial}) {
      const Ids ids = llama3().encode(text, o);
      EXPECT_EQ(ids, from_gguf.encode(text, o))
          << '"' << text << "\" parse_special " << o.parse_special;
      EXPECT_EQ(llama3().decode(ids), from_gguf.decode(ids));
    }
  }
}

// A four-token byte-level tokenizer.json whose pre_tokenizer is `pre`.
json tiny_tokenizer(const json& pre) {
  json j = json::parse(R"({
    "added_tokens": [{"id": 4, "content": "<|end|>", "special": true},
                     {"id": 5, "content": "<tool>", "special": false}],
    "normalizer": null,
    "post_processor": null,
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true},
    "model": {"type": "BPE", "byte_fallback": false, "ignore_merges": false,
              "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3},
              "merges": [["a", "b"]]}})");
  j["pre_tokenizer"] = pre;
  return j;
}

std::filesystem::path write_tokenizer(const test::TempDir& dir, const json& j) {
  const auto path = dir.path / "tokenizer.json";
  test::write_file_bytes(path, j.dump());
  return path;
}

json split_then_byte_level(const std::string& regex) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
}

TEST(HFByteLevelBpe, TinyFileWithPairMerges) {
  const test::TempDir dir;
  const json gpt2_pre = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const Tokenizer tok = Tokenizer::from_path(write_tokenizer(dir, tiny_tokenizer(gpt2_pre)));
  EXPECT_EQ(tok.vocab().pre_tokenizer, "gpt-2");
  EXPECT_EQ(tok.vocab().merges, std::vector<std::string>{"a b"});
  EXPECT_EQ(tok.token_type(4), TokenType::Control);
  EXPECT_EQ(tok.token_type(5), TokenType::UserDefined);
  EXPECT_EQ(tok.encode("ab a<tool>", kNoBos), (Ids{2, 3, 0, 5}));
  EXPECT_EQ(tok.decode(Ids{2, 3, 0, 5}), "ab a<tool>");
}

TEST(HFByteLevelBpe, UnknownSplitRegexIsAnError) {
  const test::TempDir dir;
  const auto path = write_tokenizer(dir, tiny_tokenizer(split_then_byte_level(R"(\w+|\s+)")));
  const std::string e = test::error_of([&] { Tokenizer::from_path(path); });
  EXPECT_HAS(e, R"('\w+|\s+')");
  EXPECT_HAS(e, "not one of the pre-tokenizers");
  EXPECT_HAS(e, path.string());

  json prefix = tiny_tokenizer({{"type", "ByteLevel"}, {"add_prefix_space", true}});
  EXPECT_HAS(test::error_of([&] { Tokenizer::from_path(write_tokenizer(dir, prefix)); }),
             "adds a prefix space");
  json metaspace = tiny_tokenizer(split_then_byte_level(R"(\s+)"));
  metaspace["decoder"] = {{"type", "Metaspace"}};
  EXPECT_HAS(test::error_of([&] { Tokenizer::from_path(write_tokenizer(dir, metaspace)); }),
             "decoder 'Metaspace'");
}

}  // namespace
}  // namespace minillm
