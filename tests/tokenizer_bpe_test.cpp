// Byte-level BPE tokenizer on the shared vocabularies: exact ids against llama.cpp's tokenizer
// test vectors and a corpus tokenized by Hugging Face tokenizers, special tokens, end of
// generation, and GGUF reading.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/tokenizer.h"
#include "test_data.h"
#include "vocab_cases.h"

namespace minillm {
namespace {

using test::Ids;
using test::read_file_bytes;
using test::shared_file;

constexpr EncodeOptions kNoBos{.add_bos = false, .add_eos = false};

// Encodes every case of vocab/ggml-vocab-NAME.gguf.inp and compares with the .out ids; also
// checks that decoding gives the input back (byte-level BPE is lossless).
void check_vocab_vectors(const std::string& name) {
  const auto path = shared_file("vocab/ggml-vocab-" + name + ".gguf");
  REQUIRE_SHARED_FILE(path);
  test::expect_vocab_cases(Tokenizer::from_file(path), path.string() + ".inp",
                           path.string() + ".out", name, /*check_decode=*/true);
}

class BpeVectors : public testing::TestWithParam<const char*> {};

TEST_P(BpeVectors, MatchExpectedIds) {
  check_vocab_vectors(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, BpeVectors,
                         testing::Values("llama3", "gpt-2", "falcon", "deepseek-coder",
                                         "deepseek-llm", "starcoder", "refact", "mpt"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// One Llama 3 tokenizer for the tests below (loading 280k merges takes a moment).
const Tokenizer& llama3() {
  static const Tokenizer tok = Tokenizer::from_file(shared_file("vocab/ggml-vocab-llama3.gguf"));
  return tok;
}

TEST(Llama3Corpus, InpOut) {
  const auto vocab = shared_file("vocab/ggml-vocab-llama3.gguf");
  const auto inp = shared_file("vocab/corpus/llama3-public.inp");
  const auto out = shared_file("vocab/corpus/llama3-public.out");
  for (const std::filesystem::path& path : {vocab, inp, out}) REQUIRE_SHARED_FILE(path);
  test::expect_vocab_cases(llama3(), inp, out, "llama3-public.inp");
}

// The .json also gives the ids with special-token parsing on ("<|eot_id|>" -> 128009).
TEST(Llama3Corpus, JsonWithAndWithoutSpecial) {
  const auto vocab = shared_file("vocab/ggml-vocab-llama3.gguf");
  const auto json_path = shared_file("vocab/corpus/llama3-public.json");
  for (const std::filesystem::path& path : {vocab, json_path}) REQUIRE_SHARED_FILE(path);
  const auto cases = nlohmann::json::parse(read_file_bytes(json_path));
  ASSERT_GT(cases.size(), 0u);
  EncodeOptions parse = kNoBos;
  parse.parse_special = true;
  size_t plain = 0, special = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    const Ids want = c.at("ids").get<Ids>();
    const Ids want_special = c.at("ids_parse_special").get<Ids>();
    const Ids got = llama3().encode(text, kNoBos);
    const Ids got_special = llama3().encode(text, parse);
    EXPECT_EQ(got, want) << "case n=" << c.at("n") << ": \"" << text << "\"";
    EXPECT_EQ(got_special, want_special) << "parse_special, case n=" << c.at("n");
    EXPECT_EQ(llama3().decode(got), text) << "case n=" << c.at("n");
    plain += got == want;
    special += got_special == want_special;
  }
  std::printf("[ vectors  ] llama3-public.json: %zu/%zu plain, %zu/%zu parse_special\n", plain,
              cases.size(), special, cases.size());
}

TEST(Llama3Vocab, ReadFromGguf) {
  const auto path = shared_file("vocab/ggml-vocab-llama3.gguf");
  REQUIRE_SHARED_FILE(path);
  const Tokenizer& tok = llama3();
  const Vocab& v = tok.vocab();
  EXPECT_EQ(v.model, "gpt2");
  EXPECT_EQ(v.pre_tokenizer, "llama-bpe");
  EXPECT_TRUE(v.ignore_merges);
  EXPECT_EQ(v.merges.size(), 280147u);
  EXPECT_EQ(tok.n_vocab(), 128256);
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.eos_id(), 128001);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_space_prefix);
  // GPT-2's byte characters: 'Ġ' (U+0120) is a space, 'Ċ' (U+010A) a newline.
  EXPECT_EQ(tok.token_to_piece(*tok.token_id("\xC4\xA0")), " ");
  EXPECT_EQ(tok.token_to_piece(*tok.token_id("\xC4\x8A")), "\n");
  // "Hello world" = 9906 1917 (from the vectors); BOS is prepended by default.
  EXPECT_EQ(tok.encode("Hello world"), (Ids{128000, 9906, 1917}));
  EXPECT_EQ(tok.decode(Ids{128000, 9906, 1917}), "Hello world");
  EXPECT_EQ(tok.decode(Ids{128000, 9906, 1917}, {.render_special = true}),
            "<|begin_of_text|>Hello world");
  EXPECT_EQ(tok.token_to_piece(1917), " world");
  EXPECT_THROW(tok.decode(Ids{128256}), Error);
}

TEST(Llama3Vocab, SpecialTokensAreControlAndParsedOnlyWhenAsked) {
  REQUIRE_SHARED_FILE(shared_file("vocab/ggml-vocab-llama3.gguf"));
  const Tokenizer& tok = llama3();
  const std::pair<const char*, int32_t> specials[] = {
      {"<|begin_of_text|>", 128000}, {"<|end_of_text|>", 128001}, {"<|start_header_id|>", 128006},
      {"<|end_header_id|>", 128007}, {"<|eom_id|>", 128008},      {"<|eot_id|>", 128009},
  };
  for (const auto& [text, id] : specials) {
    EXPECT_EQ(tok.token_id(text), id) << text;
    EXPECT_TRUE(tok.is_control(id)) << text;
    EXPECT_EQ(tok.encode(text, {.add_bos = false, .parse_special = true}), Ids{id}) << text;
    EXPECT_GT(tok.encode(text, kNoBos).size(), 1u) << text;  // plain text otherwise
  }
  // Plain runs between special tokens are encoded on their own: "Hello" = 9906, "\n\n" = 271,
  // "Hello world" = 9906 1917 (ids from the vectors).
  EXPECT_EQ(tok.encode("<|start_header_id|>Hello<|end_header_id|>\n\nHello world<|eot_id|>",
                       {.add_bos = false, .parse_special = true}),
            (Ids{128006, 9906, 128007, 271, 9906, 1917, 128009}));
}

TEST(Llama3Vocab, EndOfGeneration) {
  REQUIRE_SHARED_FILE(shared_file("vocab/ggml-vocab-llama3.gguf"));
  const Tokenizer& tok = llama3();
  EXPECT_TRUE(tok.is_end_of_generation(128001));   // EOS <|end_of_text|>
  EXPECT_TRUE(tok.is_end_of_generation(128008));   // <|eom_id|>
  EXPECT_TRUE(tok.is_end_of_generation(128009));   // <|eot_id|>
  EXPECT_FALSE(tok.is_end_of_generation(128000));  // BOS
  EXPECT_FALSE(tok.is_end_of_generation(128006));  // <|start_header_id|>
  EXPECT_FALSE(tok.is_end_of_generation(9906));    // "Hello"
  EXPECT_FALSE(tok.is_end_of_generation(-1));
  EXPECT_FALSE(tok.is_end_of_generation(1 << 30));
  EXPECT_EQ(tok.end_of_generation_ids(), (Ids{128001, 128008, 128009}));
}

TEST(BpeGguf, OtherVocabulariesReadTheirSettings) {
  const auto gpt2 = shared_file("vocab/ggml-vocab-gpt-2.gguf");
  REQUIRE_SHARED_FILE(gpt2);
  const Tokenizer tok = Tokenizer::from_file(gpt2);
  EXPECT_EQ(tok.vocab().pre_tokenizer, "gpt-2");
  EXPECT_FALSE(tok.vocab().ignore_merges);
  EXPECT_FALSE(tok.vocab().add_bos);  // no add_bos_token key: byte-level BPE adds no BOS
  EXPECT_EQ(tok.encode("Hello"), tok.encode("Hello", kNoBos));
  EXPECT_TRUE(tok.is_end_of_generation(50256));  // <|endoftext|>, EOS
}

TEST(BpeGguf, LongInputIsFast) {
  REQUIRE_SHARED_FILE(shared_file("vocab/ggml-vocab-llama3.gguf"));
  const Tokenizer& tok = llama3();
  // ~1 MB: long runs of one letter, of spaces and of digits, then prose.
  std::string text;
  text += std::string(100000, 'a');
  text += std::string(100000, ' ');
  text += std::string(100000, '7');
  for (int i = 0; i < 15000; ++i) text += "The quick brown fox jumps over the lazy dog. ";
  text += "\xE4\xBD\xA0\xE5\xA5\xBD";  // 你好
  test::expect_fast_round_trip(tok, text);
}

// ---- errors while loading ----

using test::error_of;

GGUFFile bpe_file(const char* pre, bool with_merges = true) {
  GGUFWriter w;
  w.set("general.architecture", "llama");
  w.set("tokenizer.ggml.model", "gpt2");
  if (pre) w.set("tokenizer.ggml.pre", pre);
  w.set("tokenizer.ggml.tokens", GGUFValue::string_array({"a", "b", "ab"}));
  w.set("tokenizer.ggml.token_type", GGUFValue::array_of(std::vector<int32_t>{1, 1, 1}));
  if (with_merges) w.set("tokenizer.ggml.merges", GGUFValue::string_array({"a b"}));
  return GGUFFile::parse_copy(w.to_bytes(), "bpe.gguf");
}

TEST(BpeGguf, UnknownPreTokenizerIsNamed) {
  const std::string msg = error_of([] { Tokenizer::from_gguf(bpe_file("no-such-pre")); });
  EXPECT_NE(msg.find("'no-such-pre'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bpe.gguf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("llama-bpe"), std::string::npos) << msg;  // lists the supported ones
}

TEST(BpeGguf, MissingMergesIsAnError) {
  const std::string msg = error_of([] { Tokenizer::from_gguf(bpe_file("gpt-2", false)); });
  EXPECT_NE(msg.find("tokenizer.ggml.merges"), std::string::npos) << msg;
}

TEST(BpeGguf, MissingPreMeansDefault) {
  const Tokenizer tok = Tokenizer::from_gguf(bpe_file(nullptr));
  EXPECT_EQ(tok.vocab().pre_tokenizer, "default");
  EXPECT_EQ(tok.encode("ab"), (Ids{2}));
}

}  // namespace
}  // namespace minillm
