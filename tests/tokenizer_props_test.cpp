// SentencePiece BPE on hand-built vocabularies (expected ids worked out from the algorithm's
// definition), the streaming decoder, and round-trip properties on random text.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "minillm/error.h"
#include "minillm/tokenizer.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

using Ids = std::vector<int32_t>;
constexpr EncodeOptions kNoBos{.add_bos = false, .add_eos = false};
const std::string kSp = "\xE2\x96\x81";  // U+2581

struct Entry {
  std::string text;
  float score = 0;
  TokenType type = TokenType::Normal;
};

// ids: 0 <unk>, 1 <s>, 2 </s>, then `entries` from id 3, then (optionally) 256 byte tokens.
Tokenizer make(const std::vector<Entry>& entries, bool bytes, bool prefix = false) {
  Vocab v;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
  v.scores = {0, 0, 0};
  for (const Entry& e : entries) {
    v.tokens.push_back(e.text);
    v.scores.push_back(e.score);
    v.types.push_back(e.type);
  }
  if (bytes) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      v.tokens.push_back(name);
      v.scores.push_back(0);
      v.types.push_back(TokenType::Byte);
    }
  }
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_space_prefix = prefix;
  return Tokenizer::from_vocab(v);
}
int32_t byte_id(int entries, uint8_t b) {
  return 3 + entries + b;
}

TEST(SpmAlgorithm, EqualScoresMergeLeftmostFirst) {
  // a=3 b=4 ab=5 ba=6. "aba": pairs ab(0,1) and ba(1,2) tie; the left one wins -> [ab, a].
  const Tokenizer tok = make({{"a"}, {"b"}, {"ab", -1}, {"ba", -1}}, false);
  EXPECT_EQ(tok.encode("aba", kNoBos), (Ids{5, 3}));
}

TEST(SpmAlgorithm, HigherScoreMergesFirst) {
  const Tokenizer tok = make({{"a"}, {"b"}, {"ab", -2}, {"ba", -1}}, false);
  EXPECT_EQ(tok.encode("aba", kNoBos), (Ids{3, 6}));
}

TEST(SpmAlgorithm, MergesChainIntoLongestPieces) {
  // a b c ab bc abc: "ab" (-1) beats "bc" (-2), then "ab"+"c" forms "abc".
  const Tokenizer tok = make({{"a"}, {"b"}, {"c"}, {"ab", -1}, {"bc", -2}, {"abc", -3}}, false);
  EXPECT_EQ(tok.encode("abcabc", kNoBos), (Ids{8, 8}));
  EXPECT_EQ(tok.encode("cab", kNoBos), (Ids{5, 6}));
}

TEST(SpmAlgorithm, SpacesAndPrefix) {
  // ▁=3 a=4 ▁a=5 ▁▁=6
  const Tokenizer tok =
      make({{kSp}, {"a"}, {kSp + "a", -1}, {kSp + kSp, -2}}, false, /*prefix=*/true);
  EXPECT_EQ(tok.encode("a", kNoBos), (Ids{5}));
  EXPECT_EQ(tok.encode(" a", kNoBos), (Ids{3, 5}));   // ▁▁a: ▁a (-1) beats ▁▁ (-2)
  EXPECT_EQ(tok.encode("a  ", kNoBos), (Ids{5, 6}));  // ▁a ▁▁
  EXPECT_EQ(tok.encode("", kNoBos), Ids{});
  EXPECT_EQ(tok.encode("a"), (Ids{1, 5}));
  EXPECT_EQ(tok.decode(Ids{1, 3, 5}), " a");
  EXPECT_EQ(tok.decode(Ids{5, 6}), "a  ");
}

TEST(SpmAlgorithm, ByteFallbackForMissingCharacters) {
  const Tokenizer tok = make({{"a"}}, true);
  // é = C3 A9 is not in the vocabulary.
  EXPECT_EQ(tok.encode("a\xC3\xA9", kNoBos), (Ids{3, byte_id(1, 0xC3), byte_id(1, 0xA9)}));
  // Invalid UTF-8 bytes are symbols of their own and fall back to bytes too.
  EXPECT_EQ(tok.encode("\xFF"
                       "a\x80",
                       kNoBos),
            (Ids{byte_id(1, 0xFF), 3, byte_id(1, 0x80)}));
  EXPECT_EQ(tok.decode(Ids{3, byte_id(1, 0xC3), byte_id(1, 0xA9)}), "a\xC3\xA9");
}

TEST(SpmAlgorithm, UnknownWithoutByteTokens) {
  const Tokenizer tok = make({{"a"}}, false);
  // One <unk> per missing character, as SentencePiece without byte fallback.
  EXPECT_EQ(tok.encode("a\xC3\xA9z", kNoBos), (Ids{3, 0, 0}));
  EXPECT_EQ(tok.decode(Ids{3, 0}), "a \xE2\x81\x87 ");
  EXPECT_EQ(tok.decode(Ids{3, 0}, {.render_special = true}), "a<unk>");
}

TEST(SpmAlgorithm, UnusedPiecesAreSplitAgain) {
  // a b c d, "ab" unused, "abc" normal: "abc" still forms through "ab"; "abd" ends with the
  // unused "ab", which is split back into a, b.
  const Tokenizer tok =
      make({{"a"}, {"b"}, {"c"}, {"d"}, {"ab", -1, TokenType::Unused}, {"abc", -2}}, false);
  EXPECT_EQ(tok.encode("abc", kNoBos), (Ids{8}));
  EXPECT_EQ(tok.encode("abd", kNoBos), (Ids{3, 4, 6}));
}

TEST(SpmAlgorithm, SpecialTokensOnlyWhenAsked) {
  // a=3 <x>=4 (user-defined: always matched) ▁a=5 [C]=6 [C]x=7 (control: only with
  // parse_special) ▁=8, bytes from 9.
  const Tokenizer tok = make({{"a"},
                              {"<x>", 0, TokenType::UserDefined},
                              {kSp + "a", -1},
                              {"[C]", 0, TokenType::Control},
                              {"[C]x", 0, TokenType::Control},
                              {kSp}},
                             true, true);
  auto b = [](uint8_t x) { return byte_id(6, x); };
  EXPECT_EQ(tok.encode("a<x>a", kNoBos), (Ids{5, 4, 5}));  // prefix again after a whole token
  EXPECT_EQ(tok.encode("[C]a", kNoBos), (Ids{8, b('['), b('C'), b(']'), 3}));
  EncodeOptions special = kNoBos;
  special.parse_special = true;
  EXPECT_EQ(tok.encode("[C]a", special), (Ids{6, 5}));
  EXPECT_EQ(tok.encode("[C]xa", special), (Ids{7, 5}));  // the longest match wins
  EXPECT_EQ(tok.encode("<s>", special), (Ids{1}));       // nothing for the empty rest
  EXPECT_EQ(tok.encode("</s>", special), (Ids{2}));
  EXPECT_EQ(tok.encode("<s>", kNoBos), (Ids{8, b('<'), b('s'), b('>')}));
}

TEST(StreamDecoder, HoldsIncompleteCharacters) {
  const Tokenizer tok = make({{"a"}}, true);
  auto b = [](uint8_t x) { return byte_id(1, x); };
  StreamDecoder s(tok);
  EXPECT_EQ(s.push(3), "a");
  EXPECT_EQ(s.push(b(0xF0)), "");  // 🦙 = F0 9F A6 99
  EXPECT_EQ(s.push(b(0x9F)), "");
  EXPECT_EQ(s.push(b(0xA6)), "");
  EXPECT_EQ(s.push(b(0x99)), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(s.push(b(0xFF)), "\xFF");  // can never start a character: passed at once
  EXPECT_EQ(s.push(b(0xE2)), "");      // might start a 3-byte character ...
  EXPECT_EQ(s.push(3),
            "\xE2"
            "a");  // ... but "a" cannot continue it
  EXPECT_EQ(s.push(b(0xC3)), "");
  EXPECT_EQ(s.flush(), "\xC3");
  EXPECT_EQ(s.flush(), "");
  EXPECT_THROW(s.push(100000), Error);
}

TEST(StreamDecoder, DropsLeadingSpaceOnlyAtStart) {
  // ▁=3 a=4 ▁a=5
  const Tokenizer tok = make({{kSp}, {"a"}, {kSp + "a", -1}}, false, true);
  StreamDecoder s(tok);
  EXPECT_EQ(s.push(1), "");  // BOS
  EXPECT_EQ(s.push(5), "a");
  EXPECT_EQ(s.push(5), " a");
  s.reset();
  EXPECT_EQ(s.push(5), "a");
  StreamDecoder cont(tok, {.strip_leading_space = false});
  EXPECT_EQ(cont.push(5), " a");
}

// ---- properties on random text ----

using test::append_utf8;

// Random valid UTF-8 mixing ASCII, whitespace runs, control characters, Latin, Cyrillic, CJK and
// emoji; never U+2581 (which decodes to a space) and never a surrogate.
std::string random_text(std::mt19937_64& rng) {
  auto pick = [&](uint32_t lo, uint32_t hi) {
    return lo + static_cast<uint32_t>(rng() % (hi - lo + 1));
  };
  std::string s;
  const int n = static_cast<int>(rng() % 40);
  for (int i = 0; i < n; ++i) {
    switch (rng() % 9) {
      case 0:
      case 1:
        append_utf8(s, pick(0x20, 0x7E));
        break;  // printable ASCII
      case 2:
        s.append(rng() % 5 + 1, " \t\n\r"[rng() % 4]);
        break;  // whitespace run
      case 3:
        append_utf8(s, pick(0x00, 0x1F));
        break;  // control characters
      case 4:
        append_utf8(s, pick(0xA0, 0x24F));
        break;  // Latin-1 and Latin Extended
      case 5:
        append_utf8(s, pick(0x400, 0x4FF));
        break;  // Cyrillic
      case 6:
        append_utf8(s, pick(0x4E00, 0x9FFF));
        break;  // CJK
      case 7:
        append_utf8(s, pick(0x1F300, 0x1FAFF));
        break;    // emoji
      default: {  // symbols and punctuation, skipping U+2581
        const uint32_t cp = pick(0x2000, 0x2BFF);
        append_utf8(s, cp == 0x2581 ? 0x2582 : cp);
      }
    }
  }
  return s;
}

Tokenizer llama_or_skip() {
  const auto path = test::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  if (!std::filesystem::exists(path)) {
    if (test::running_in_ci()) throw Error("missing shared test file " + path.string());
    return make({{"a"}, {kSp}}, true, true);  // still exercises the properties
  }
  return Tokenizer::from_file(path);
}

std::string stream_decode(const Tokenizer& tok, const Ids& ids) {
  StreamDecoder s(tok);
  std::string out;
  for (int32_t id : ids) out += s.push(id);
  return out + s.flush();
}

// With the dummy prefix, encode adds U+2581 before the text and decode drops exactly one leading
// space from the first word piece, so the round trip is exact, texts that start with spaces
// included. Decoding with strip_leading_space = false gives " " + text instead.
TEST(TokenizerProperties, RoundTripRandomValidUtf8) {
  const Tokenizer tok = llama_or_skip();
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 2000; ++i) {
    const std::string text = random_text(rng);
    const Ids ids = tok.encode(text);
    ASSERT_EQ(tok.decode(ids), text) << "case " << i;
    ASSERT_EQ(stream_decode(tok, ids), text) << "case " << i;
    if (!text.empty()) {
      ASSERT_EQ(tok.decode(ids, {.strip_leading_space = false}), " " + text);
    }
  }
}

TEST(TokenizerProperties, SpaceSymbolInTextDecodesToSpace) {
  const Tokenizer tok = llama_or_skip();
  EXPECT_EQ(tok.decode(tok.encode("a" + kSp + "b")), "a b");  // the one documented exception
}

TEST(TokenizerProperties, InvalidUtf8RoundTripsByteForByte) {
  const Tokenizer tok = llama_or_skip();
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string text(rng() % 24, '\0');
    for (char& c : text) c = static_cast<char>(rng() % 256);
    const Ids ids = tok.encode(text);
    ASSERT_EQ(tok.decode(ids), text) << "case " << i;
    ASSERT_EQ(stream_decode(tok, ids), text) << "case " << i;
  }
}

}  // namespace
}  // namespace minillm
