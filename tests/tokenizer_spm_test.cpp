// SentencePiece BPE tokenizer: exact ids against the shared test vectors (llama.cpp's tokenizer
// tests and a corpus tokenized by Hugging Face tokenizers), plus hand-built vocabularies whose
// expected ids follow from the algorithm's definition.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/tokenizer.h"
#include "test_data.h"
#include "vocab_cases.h"

namespace minillm {
namespace {

using test::read_file_bytes;
using test::shared_file;
using Ids = std::vector<int32_t>;

constexpr EncodeOptions kNoBos{.add_bos = false, .add_eos = false};

// Encodes every case of `inputs` against `vocab_path`; reports the pass count and each mismatch.
void check_vectors(const std::filesystem::path& vocab_path, const std::filesystem::path& inp,
                   const std::filesystem::path& out) {
  // (REQUIRE_SHARED_FILE's argument must be a variable named `path`.)
  for (const std::filesystem::path& path : {vocab_path, inp, out}) REQUIRE_SHARED_FILE(path);
  test::expect_vocab_cases(Tokenizer::from_file(vocab_path), inp, out, inp.filename().string());
}

TEST(TokenizerVectors, LlamaSpm) {
  const auto v = shared_file("vocab/ggml-vocab-llama-spm.gguf");
  check_vectors(v, v.string() + ".inp", v.string() + ".out");
}

TEST(TokenizerVectors, Phi3) {
  const auto v = shared_file("vocab/ggml-vocab-phi-3.gguf");
  check_vectors(v, v.string() + ".inp", v.string() + ".out");
}

TEST(TokenizerVectors, Stories260K) {
  check_vectors(shared_file("models/stories260K.gguf"), shared_file("vocab/stories260K.gguf.inp"),
                shared_file("vocab/stories260K.gguf.out"));
}

TEST(TokenizerVectors, Llama2CorpusInpOut) {
  check_vectors(shared_file("vocab/ggml-vocab-llama-spm.gguf"),
                shared_file("vocab/corpus/llama2-public.inp"),
                shared_file("vocab/corpus/llama2-public.out"));
}

// The corpus .json also gives the ids with special-token parsing on ("<s>" -> BOS).
TEST(TokenizerVectors, Llama2CorpusJsonWithAndWithoutSpecial) {
  const auto vocab = shared_file("vocab/ggml-vocab-llama-spm.gguf");
  const auto json_path = shared_file("vocab/corpus/llama2-public.json");
  for (const std::filesystem::path& path : {vocab, json_path}) REQUIRE_SHARED_FILE(path);
  const Tokenizer tok = Tokenizer::from_file(vocab);
  const auto cases = nlohmann::json::parse(read_file_bytes(json_path));
  ASSERT_GT(cases.size(), 0u);
  size_t plain = 0, special = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    const Ids want = c.at("ids").get<Ids>();
    const Ids want_special = c.at("ids_parse_special").get<Ids>();
    const Ids got = tok.encode(text, kNoBos);
    EncodeOptions parse = kNoBos;
    parse.parse_special = true;
    const Ids got_special = tok.encode(text, parse);
    EXPECT_EQ(got, want) << "case n=" << c.at("n") << ": \"" << text << "\"";
    EXPECT_EQ(got_special, want_special) << "parse_special, case n=" << c.at("n");
    plain += got == want;
    special += got_special == want_special;
  }
  std::printf("[ vectors  ] llama2-public.json: %zu/%zu plain, %zu/%zu parse_special\n", plain,
              cases.size(), special, cases.size());
}

TEST(TokenizerGguf, ReadsSpecialIdsAndFlags) {
  const auto path = shared_file("models/stories260K.gguf");
  REQUIRE_SHARED_FILE(path);
  const Tokenizer tok = Tokenizer::from_file(path);
  EXPECT_EQ(tok.n_vocab(), 512);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.unk_id(), 0);
  EXPECT_EQ(tok.pad_id(), -1);  // stored as 0xFFFFFFFF
  EXPECT_TRUE(tok.vocab().add_bos);
  EXPECT_FALSE(tok.vocab().add_eos);
  EXPECT_EQ(tok.token_type(0), TokenType::Unknown);
  EXPECT_EQ(tok.token_type(1), TokenType::Control);
  EXPECT_EQ(tok.token_type(3), TokenType::Byte);
  EXPECT_EQ(tok.token_text(3), "<0x00>");
  EXPECT_EQ(tok.token_id("<0x0A>"), 13);
  EXPECT_EQ(tok.token_id("no such token"), std::nullopt);
  // BOS by default, none when asked, EOS only on request of the vocabulary.
  EXPECT_EQ(tok.encode("Once upon a time"), (Ids{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok.encode("Once upon a time", kNoBos), (Ids{403, 407, 261, 378}));
  EXPECT_EQ(tok.encode(""), (Ids{1}));
}

TEST(TokenizerGguf, DecodesLlamaIds) {
  const auto path = shared_file("vocab/ggml-vocab-llama-spm.gguf");
  REQUIRE_SHARED_FILE(path);
  const Tokenizer tok = Tokenizer::from_file(path);
  // Ids from the vectors: " Hello world" = [29871, 15043, 3186], "\n" = [29871, 13].
  EXPECT_EQ(tok.decode(Ids{1, 15043, 3186}), "Hello world");
  EXPECT_EQ(tok.decode(Ids{1, 29871, 15043, 3186}), " Hello world");
  EXPECT_EQ(tok.decode(Ids{29871, 13}), "\n");
  EXPECT_EQ(tok.decode(Ids{1, 15043, 2}), "Hello");
  EXPECT_EQ(tok.decode(Ids{1, 15043, 2}, {.render_special = true}), "<s>Hello</s>");
  EXPECT_EQ(tok.decode(Ids{15043, 3186}, {.strip_leading_space = false}), " Hello world");
  // The emoji of " this is 🦙.cpp" arrives as four byte tokens.
  EXPECT_EQ(tok.decode(Ids{29871, 445, 338, 29871, 243, 162, 169, 156, 29889, 8223}),
            " this is \xF0\x9F\xA6\x99.cpp");
  EXPECT_EQ(tok.token_to_piece(15043), " Hello");
  EXPECT_EQ(tok.token_to_piece(13), "\n");
  EXPECT_EQ(tok.token_to_piece(1), "");
  EXPECT_EQ(tok.token_to_piece(1, true), "<s>");
  EXPECT_THROW(tok.decode(Ids{32000}), Error);
  EXPECT_THROW(tok.decode(Ids{-1}), Error);
  EXPECT_THROW(tok.token_text(32000), Error);
}

TEST(TokenizerGguf, LongInputIsFast) {
  const auto path = shared_file("vocab/ggml-vocab-llama-spm.gguf");
  REQUIRE_SHARED_FILE(path);
  const Tokenizer tok = Tokenizer::from_file(path);
  // ~1 MB: worst cases for pairwise merging (one repeated letter, long space runs) and prose.
  std::string text;
  text += std::string(200000, 'a');
  text += std::string(200000, ' ');
  for (int i = 0; i < 12000; ++i) text += "The quick brown fox jumps over the lazy dog. ";
  text += "\xE4\xBD\xA0\xE5\xA5\xBD";  // 你好
  test::expect_fast_round_trip(tok, text);
}

// ---- errors while loading ----

GGUFFile vocab_file(const std::string& model, std::vector<std::string> tokens,
                    std::vector<int32_t> types) {
  GGUFWriter w;
  w.set("general.architecture", "llama");
  if (!model.empty()) w.set("tokenizer.ggml.model", model.c_str());
  w.set("tokenizer.ggml.tokens", GGUFValue::string_array(tokens));
  w.set("tokenizer.ggml.scores", GGUFValue::array_of(std::vector<float>(tokens.size(), 0.0f)));
  w.set("tokenizer.ggml.token_type", GGUFValue::array_of(types));
  return GGUFFile::parse_copy(w.to_bytes(), "test.gguf");
}

using test::error_of;

TEST(TokenizerErrors, UnsupportedKindNamed) {
  for (const char* kind : {"bert", "t5"}) {
    const GGUFFile f = vocab_file(kind, {"a"}, {1});
    const std::string msg = error_of([&] { Tokenizer::from_gguf(f); });
    EXPECT_NE(msg.find(std::string("'") + kind + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("test.gguf"), std::string::npos) << msg;
  }
}

TEST(TokenizerErrors, BadVocabularies) {
  EXPECT_NE(error_of([] {
              Tokenizer::from_gguf(vocab_file("", {"a"}, {1}));
            }).find("tokenizer.ggml.model"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Tokenizer::from_gguf(vocab_file("llama", {"a", "b"}, {1}));
            }).find("token types"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { Tokenizer::from_gguf(vocab_file("llama", {"a"}, {9})); }).find("token_type[0]"),
      std::string::npos);
  EXPECT_NE(
      error_of([] { Tokenizer::from_gguf(vocab_file("llama", {"<0xZZ>"}, {6})); }).find("<0xNN>"),
      std::string::npos);
  Vocab v;
  v.tokens = {"a"};
  v.bos_id = 5;
  EXPECT_NE(error_of([&] { Tokenizer::from_vocab(v); }).find("BOS token id 5"), std::string::npos);
  EXPECT_THROW(Tokenizer::from_file("/nonexistent/vocab.gguf"), Error);
}

}  // namespace
}  // namespace minillm
