// Byte-level BPE on hand-built vocabularies (expected ids follow from the algorithm's definition:
// lowest merge rank first, leftmost on ties), the pre-tokenizer expressions, and round-trip
// properties on random text with the Llama 3 vocabulary.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "minillm/error.h"
#include "minillm/tokenizer.h"
#include "test_data.h"
#include "test_util.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/utf8.h"

namespace minillm {
namespace {

using Ids = std::vector<int32_t>;
using Words = std::vector<std::string>;
constexpr EncodeOptions kNoBos{.add_bos = false, .add_eos = false};

using test::error_of;

// ids 0..255: the GPT-2 character of each byte; then `extra` from id 256.
Vocab byte_vocab(const std::vector<std::pair<std::string, TokenType>>& extra,
                 std::vector<std::string> merges, const char* pre = "gpt-2") {
  Vocab v;
  v.model = "gpt2";
  for (int b = 0; b < 256; ++b) {
    v.tokens.emplace_back(byte_unicode::encode_byte(static_cast<uint8_t>(b)));
    v.types.push_back(TokenType::Normal);
  }
  for (const auto& [text, type] : extra) {
    v.tokens.push_back(text);
    v.types.push_back(type);
  }
  v.merges = std::move(merges);
  v.pre_tokenizer = pre;
  v.add_bos = false;
  return v;
}

constexpr auto N = TokenType::Normal;

TEST(ByteUnicode, Gpt2Mapping) {
  // Printable bytes stand for themselves; the others take U+0100.. in byte order.
  EXPECT_EQ(byte_unicode::encode_byte('a'), "a");
  EXPECT_EQ(byte_unicode::encode_byte(0xE9), "\xC3\xA9");  // é stands for itself
  EXPECT_EQ(byte_unicode::encode_byte(0x00), "\xC4\x80");  // U+0100
  EXPECT_EQ(byte_unicode::encode_byte('\n'), "\xC4\x8A");  // U+010A Ċ
  EXPECT_EQ(byte_unicode::encode_byte(' '), "\xC4\xA0");   // U+0120 Ġ
  EXPECT_EQ(byte_unicode::encode_byte(0x7F), "\xC4\xA1");  // U+0121
  EXPECT_EQ(byte_unicode::encode_byte(0xAD), "\xC5\x83");  // U+0143, the last one
  for (int b = 0; b < 256; ++b) {
    std::string back;
    ASSERT_TRUE(byte_unicode::decode(byte_unicode::encode_byte(static_cast<uint8_t>(b)), back));
    EXPECT_EQ(back, std::string(1, static_cast<char>(b)));
  }
  std::string out = "x";
  EXPECT_FALSE(byte_unicode::decode("\xE2\x96\x81", out));  // U+2581 is no byte character
  EXPECT_FALSE(byte_unicode::decode("\xC1\x81", out));      // overlong 'A'
  EXPECT_EQ(out, "x");
}

TEST(BpeAlgorithm, LowestRankMergesFirst) {
  // ab=256 bc=257 abc=258
  const Tokenizer t1 =
      Tokenizer::from_vocab(byte_vocab({{"ab", N}, {"bc", N}, {"abc", N}}, {"a b", "b c", "ab c"}));
  EXPECT_EQ(t1.encode("abc", kNoBos), (Ids{258}));
  const Tokenizer t2 =
      Tokenizer::from_vocab(byte_vocab({{"ab", N}, {"bc", N}, {"abc", N}}, {"b c", "a b", "ab c"}));
  EXPECT_EQ(t2.encode("abc", kNoBos), (Ids{'a', 257}));  // "bc" outranks "ab"; no "a bc"
}

TEST(BpeAlgorithm, EqualRankMergesLeftmostFirst) {
  const Tokenizer tok = Tokenizer::from_vocab(byte_vocab({{"aa", N}}, {"a a"}));
  EXPECT_EQ(tok.encode("aaa", kNoBos), (Ids{256, 'a'}));
  EXPECT_EQ(tok.encode("aaaa", kNoBos), (Ids{256, 256}));
}

TEST(BpeAlgorithm, SpacesAreGpt2Characters) {
  // "Ġa" = 256: " a" is one word for GPT-2's expression, and the space byte is 'Ġ'.
  const Tokenizer tok = Tokenizer::from_vocab(byte_vocab({{"\xC4\xA0"
                                                           "a",
                                                           N}},
                                                         {"\xC4\xA0 a"}));
  EXPECT_EQ(tok.encode("a a", kNoBos), (Ids{'a' + 0, 256}));
  EXPECT_EQ(tok.decode(Ids{256}), " a");
  EXPECT_EQ(tok.decode(Ids{' ', '\n', 0xE9}), " \n\xE9");  // bytes back, even invalid UTF-8
}

TEST(BpeAlgorithm, IgnoreMergesTakesWholeWords) {
  Vocab v = byte_vocab({{"ab", N}, {"abc", N}}, {"a b"});
  EXPECT_EQ(Tokenizer::from_vocab(v).encode("abc", kNoBos), (Ids{256, 'c'}));
  v.ignore_merges = true;
  EXPECT_EQ(Tokenizer::from_vocab(v).encode("abc", kNoBos), (Ids{257}));
  EXPECT_EQ(Tokenizer::from_vocab(v).encode("abcab", kNoBos), (Ids{256, 'c', 256}));
}

TEST(BpeAlgorithm, SpecialAndUserDefinedTokens) {
  // <|end|> control = 256, "<tab>" user-defined = 257 (plain text, matched anywhere).
  Vocab v = byte_vocab({{"<|end|>", TokenType::Control}, {"<tab>", TokenType::UserDefined}}, {});
  v.eos_id = 256;
  const Tokenizer tok = Tokenizer::from_vocab(v);
  EXPECT_EQ(tok.encode("x<tab>", kNoBos), (Ids{'x', 257}));
  EXPECT_EQ(tok.encode("<|end|>", {.add_bos = false, .parse_special = true}), (Ids{256}));
  EXPECT_EQ(tok.encode("<|end|>", kNoBos).size(), 7u);  // "<", "|", "end", ... as bytes
  EXPECT_EQ(tok.decode(Ids{257, 256}), "<tab>");
  EXPECT_EQ(tok.decode(Ids{257, 256}, {.render_special = true}), "<tab><|end|>");
  EXPECT_TRUE(tok.is_end_of_generation(256));
}

TEST(BpeAlgorithm, MissingByteTokenUsesUnknownOrFails) {
  Vocab v = byte_vocab({{"<unk>", TokenType::Unknown}}, {});
  v.tokens['z'] = "zz";  // no token for the byte 'z' any more
  EXPECT_NE(error_of([&] { Tokenizer::from_vocab(v).encode("z", kNoBos); }).find("0x7A"),
            std::string::npos);
  v.unk_id = 256;
  EXPECT_EQ(Tokenizer::from_vocab(v).encode("az", kNoBos), (Ids{'a', 256}));
}

TEST(BpeAlgorithm, BadVocabulariesAreErrors) {
  EXPECT_NE(error_of([] {
              Tokenizer::from_vocab(byte_vocab({}, {"a b"}, "nope"));
            }).find("pre-tokenizer 'nope'"),
            std::string::npos);
  EXPECT_NE(error_of([] { Tokenizer::from_vocab(byte_vocab({}, {"a b"})); }).find("merge 0 'a b'"),
            std::string::npos);  // "ab" is not a token
  EXPECT_NE(error_of([] { Tokenizer::from_vocab(byte_vocab({}, {"ab"})); }).find("merge 0"),
            std::string::npos);
  Vocab v = byte_vocab({}, {});
  v.eot_id = 999;
  EXPECT_NE(error_of([&] { Tokenizer::from_vocab(v); }).find("EOT token id 999"),
            std::string::npos);
}

// ---- pre-tokenizers: the splits that each expression's definition gives ----

Words split(const char* name, std::string_view text) {
  std::vector<std::string_view> words;
  PreTokenizer(name).split(text, words);
  return Words(words.begin(), words.end());
}

TEST(PreTokenizers, Gpt2) {
  EXPECT_EQ(split("gpt-2", "I'M 12345 abc's\n\n"),
            (Words{"I", "'", "M", " 12345", " abc", "'s", "\n\n"}));
  EXPECT_EQ(split("gpt-2", "a  b"), (Words{"a", " ", " b"}));
}

TEST(PreTokenizers, Llama3) {
  EXPECT_EQ(split("llama-bpe", "I'M 12345 abc\n\n"),
            (Words{"I", "'M", " ", "123", "45", " abc", "\n\n"}));
  EXPECT_EQ(split("llama-bpe", "x=(y);\n  z"), (Words{"x", "=(", "y", ");\n", " ", " z"}));
}

TEST(PreTokenizers, DigitsSplitIndividually) {
  EXPECT_EQ(split("starcoder", "I'M 12 abc"), (Words{"I", "'", "M", " ", "1", "2", " abc"}));
  EXPECT_EQ(split("deepseek-coder", "ab 12\ncd"), (Words{"ab", " ", "1", "2", "\n", "cd"}));
}

TEST(PreTokenizers, FalconGroupsDigitsInThrees) {
  EXPECT_EQ(split("falcon", "a 1234567"), (Words{"a", " ", "123", "456", "7"}));
}

TEST(PreTokenizers, InvalidUtf8BytesArePiecesOfTheirOwn) {
  EXPECT_EQ(split("llama-bpe",
                  "ab\xFF"
                  "cd"),
            (Words{"ab", "\xFF", "cd"}));
  EXPECT_EQ(split("gpt-2", "\xC3"), (Words{"\xC3"}));
}

TEST(PreTokenizers, UnknownNameListsTheSupportedOnes) {
  const std::string msg = error_of([] { PreTokenizer("bogus"); });
  EXPECT_NE(msg.find("'bogus'"), std::string::npos) << msg;
  for (const std::string& name : PreTokenizer::supported_names())
    EXPECT_NE(msg.find(name), std::string::npos) << name;
}

TEST(PreTokenizers, NfcForGptNeox) {
  EXPECT_EQ(nfc_normalize("e\xCC\x81"), "\xC3\xA9");  // e + combining acute -> é
  EXPECT_EQ(nfc_normalize("a\xFF"), "a\xFF");         // invalid UTF-8 left alone
  EXPECT_TRUE(PreTokenizer("mpt").nfc());
  EXPECT_FALSE(PreTokenizer("llama-bpe").nfc());
}

// ---- properties on random text, Llama 3 vocabulary ----

const Tokenizer* llama3() {
  static const Tokenizer* tok = [] {
    const auto path = test::shared_file("vocab/ggml-vocab-llama3.gguf");
    return std::filesystem::exists(path) ? new Tokenizer(Tokenizer::from_file(path)) : nullptr;
  }();
  return tok;
}

// Mostly ASCII words, spaces, digits and punctuation, with any code point mixed in.
std::string random_text(std::mt19937_64& rng) {
  std::string s;
  const int n = std::uniform_int_distribution<int>(0, 60)(rng);
  for (int i = 0; i < n; ++i) {
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    uint32_t cp;
    if (kind < 4)
      cp = std::uniform_int_distribution<uint32_t>(0x20, 0x7E)(rng);
    else if (kind < 6)
      cp = " \n\t\r'"[std::uniform_int_distribution<int>(0, 4)(rng)];
    else if (kind < 8)
      cp = std::uniform_int_distribution<uint32_t>(0x80, 0x3000)(rng);
    else
      cp = std::uniform_int_distribution<uint32_t>(0, 0x10FFFF)(rng);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // surrogates are not characters
    test::append_utf8(s, cp);
  }
  return s;
}

TEST(BpeProperties, RoundTripRandomValidUtf8) {
  if (!llama3()) GTEST_SKIP() << "missing ggml-vocab-llama3.gguf";
  std::mt19937_64 rng(20240726);
  for (int i = 0; i < 3000; ++i) {
    const std::string text = random_text(rng);
    const Ids ids = llama3()->encode(text, kNoBos);
    ASSERT_EQ(llama3()->decode(ids), text) << "iteration " << i;
    for (int32_t id : ids) ASSERT_FALSE(llama3()->is_control(id));
  }
}

TEST(BpeProperties, InvalidUtf8RoundTripsByteForByte) {
  if (!llama3()) GTEST_SKIP() << "missing ggml-vocab-llama3.gguf";
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string text = random_text(rng);
    const int n = std::uniform_int_distribution<int>(1, 8)(rng);
    for (int k = 0; k < n; ++k) {
      const auto at = std::uniform_int_distribution<size_t>(0, text.size())(rng);
      text.insert(at, 1, static_cast<char>(std::uniform_int_distribution<int>(0x80, 0xFF)(rng)));
    }
    const Ids ids = llama3()->encode(text, kNoBos);
    ASSERT_EQ(llama3()->decode(ids), text) << "iteration " << i;
  }
}

TEST(BpeProperties, StreamDecoderEmitsWholeCharacters) {
  if (!llama3()) GTEST_SKIP() << "missing ggml-vocab-llama3.gguf";
  std::mt19937_64 rng(11);
  for (int i = 0; i < 500; ++i) {
    const std::string text = random_text(rng);
    const Ids ids = llama3()->encode(text, kNoBos);
    StreamDecoder stream(*llama3(), {.strip_leading_space = false});
    std::string joined;
    for (int32_t id : ids) {
      const std::string part = stream.push(id);
      // Valid input: every released part is whole characters.
      for (size_t p = 0; p < part.size();) {
        const size_t len = utf8::valid_char_length(std::string_view(part).substr(p));
        ASSERT_GT(len, 0u) << "iteration " << i;
        p += len;
      }
      joined += part;
    }
    joined += stream.flush();
    ASSERT_EQ(joined, text);
  }
}

}  // namespace
}  // namespace minillm
