// Hugging Face tokenizer files: tokenizer.json and SentencePiece tokenizer.model must reproduce
// the shared test vectors (llama.cpp's tokenizer tests and a corpus tokenized by Hugging Face
// tokenizers), agree with each other, and read tokenizer_config.json settings.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minillm/error.h"
#include "minillm/tokenizer.h"
#include "test_data.h"
#include "vocab_cases.h"

namespace minillm {
namespace {

using test::Ids;
using test::shared_file;

constexpr EncodeOptions kNoBos{.add_bos = false, .add_eos = false};

void check_inp_out(const std::filesystem::path& tokenizer, const std::filesystem::path& inp,
                   const std::filesystem::path& out) {
  for (const std::filesystem::path& path : {tokenizer, inp, out}) REQUIRE_SHARED_FILE(path);
  test::expect_vocab_cases(Tokenizer::from_path(tokenizer), inp, out,
                           inp.filename().string() + " with " + tokenizer.filename().string());
}

// The corpus .json: plain ids and ids with special-token parsing on.
void check_corpus_json(const std::filesystem::path& tokenizer, const std::filesystem::path& json) {
  for (const std::filesystem::path& path : {tokenizer, json}) REQUIRE_SHARED_FILE(path);
  const Tokenizer tok = Tokenizer::from_path(tokenizer);
  const auto cases = nlohmann::json::parse(test::read_file_bytes(json));
  ASSERT_GT(cases.size(), 0u);
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    EncodeOptions special = kNoBos;
    special.parse_special = true;
    EXPECT_EQ(tok.encode(text, kNoBos), c.at("ids").get<Ids>()) << "n=" << c.at("n");
    EXPECT_EQ(tok.encode(text, special), c.at("ids_parse_special").get<Ids>())
        << "parse_special, n=" << c.at("n");
  }
}

const auto kLlama2Json = [] { return shared_file("vocab/hf-tokenizers/llama2/tokenizer.json"); };
const auto kLlama2Model = [] { return shared_file("vocab/llama2-tokenizer.model"); };
const auto kMistralJson = [] { return shared_file("vocab/hf-tokenizers/mistral/tokenizer.json"); };

TEST(HFTokenizerVectors, Stories260KTokenizerJson) {
  for (const char* folder : {"hf/stories260K", "hf/stories260K-f16", "hf/stories260K-bf16"})
    check_inp_out(shared_file(folder) / "tokenizer.json", shared_file("vocab/stories260K.gguf.inp"),
                  shared_file("vocab/stories260K.gguf.out"));
}

TEST(HFTokenizerVectors, Llama2TokenizerJson) {
  check_inp_out(kLlama2Json(), shared_file("vocab/ggml-vocab-llama-spm.gguf.inp"),
                shared_file("vocab/ggml-vocab-llama-spm.gguf.out"));
  check_inp_out(kLlama2Json(), shared_file("vocab/corpus/llama2-public.inp"),
                shared_file("vocab/corpus/llama2-public.out"));
  check_corpus_json(kLlama2Json(), shared_file("vocab/corpus/llama2-public.json"));
}

TEST(HFTokenizerVectors, Llama2SentencePieceModel) {
  check_inp_out(kLlama2Model(), shared_file("vocab/ggml-vocab-llama-spm.gguf.inp"),
                shared_file("vocab/ggml-vocab-llama-spm.gguf.out"));
  check_inp_out(kLlama2Model(), shared_file("vocab/corpus/llama2-public.inp"),
                shared_file("vocab/corpus/llama2-public.out"));
  check_corpus_json(kLlama2Model(), shared_file("vocab/corpus/llama2-public.json"));
}

TEST(HFTokenizerVectors, MistralTokenizerJson) {
  check_inp_out(kMistralJson(), shared_file("vocab/corpus/mistral-public.inp"),
                shared_file("vocab/corpus/mistral-public.out"));
  check_corpus_json(kMistralJson(), shared_file("vocab/corpus/mistral-public.json"));
}

// The two Llama 2 files describe one tokenizer: same tokens, types and special ids, and the same
// ids for every corpus string (also with BOS and special parsing).
TEST(HFTokenizerFiles, JsonAndSentencePieceAgree) {
  for (const std::filesystem::path& path : {kLlama2Json(), kLlama2Model()})
    REQUIRE_SHARED_FILE(path);
  const Tokenizer a = Tokenizer::from_path(kLlama2Json());
  const Tokenizer b = Tokenizer::from_path(kLlama2Model());
  ASSERT_EQ(a.n_vocab(), 32000);
  ASSERT_EQ(b.n_vocab(), 32000);
  EXPECT_EQ(a.vocab().tokens, b.vocab().tokens);
  EXPECT_EQ(a.vocab().types, b.vocab().types);
  EXPECT_EQ(a.bos_id(), b.bos_id());
  EXPECT_EQ(a.eos_id(), b.eos_id());
  EXPECT_EQ(a.unk_id(), b.unk_id());
  EXPECT_EQ(a.vocab().add_space_prefix, b.vocab().add_space_prefix);
  const auto cases =
      test::split_vocab_cases(test::read_file_bytes(shared_file("vocab/corpus/llama2-public.inp")));
  ASSERT_GT(cases.size(), 100u);
  for (const std::string& text : cases) {
    EXPECT_EQ(a.encode(text), b.encode(text)) << text;
    EXPECT_EQ(a.encode(text, {.parse_special = true}), b.encode(text, {.parse_special = true}));
  }
}

TEST(HFTokenizerFiles, SpecialIdsFlagsAndChatTemplate) {
  const auto folder = shared_file("hf/stories260K");
  REQUIRE_SHARED_FILE(folder);
  const Tokenizer t = Tokenizer::from_path(folder);
  EXPECT_EQ(t.n_vocab(), 512);
  EXPECT_EQ(t.unk_id(), 0);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.pad_id(), -1);
  EXPECT_EQ(t.token_type(0), TokenType::Unknown);
  EXPECT_EQ(t.token_type(1), TokenType::Control);
  EXPECT_EQ(t.token_type(3), TokenType::Byte);
  EXPECT_TRUE(t.vocab().add_bos);
  EXPECT_FALSE(t.vocab().add_eos);
  // The sentence of the reference manifest: [BOS] + 15 ids.
  EXPECT_EQ(t.encode("Once upon a time, there was a little girl named Lily."),
            (Ids{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426}));
  EXPECT_EQ(t.decode(t.encode("Once upon a time")), "Once upon a time");

  const auto llama2 = shared_file("vocab/hf-tokenizers/llama2");
  REQUIRE_SHARED_FILE(llama2);
  const Tokenizer l = Tokenizer::from_path(llama2);
  EXPECT_NE(l.vocab().chat_template.find("[INST]"), std::string::npos);
  EXPECT_NE(l.vocab().chat_template.find("<<SYS>>"), std::string::npos);
  // A lone tokenizer.model has no chat template and BOS on by default.
  EXPECT_EQ(Tokenizer::from_path(kLlama2Model()).vocab().chat_template, "");
  EXPECT_TRUE(Tokenizer::from_path(kLlama2Model()).vocab().add_bos);
}

std::string error_of(const std::filesystem::path& path) {
  return test::error_of([&] { Tokenizer::from_path(path); });
}

TEST(HFTokenizerFiles, MissingFilesAreErrors) {
  EXPECT_NE(error_of("/nonexistent/tokenizer.json").find("/nonexistent/tokenizer.json"),
            std::string::npos);
  EXPECT_NE(error_of("/nonexistent/tokenizer.model").find("cannot open"), std::string::npos);
  const test::TempDir empty;
  EXPECT_NE(error_of(empty.path).find("no tokenizer.json or tokenizer.model"), std::string::npos);
}

}  // namespace
}  // namespace minillm
