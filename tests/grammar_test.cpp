// GBNF grammars: the classic examples accept and reject what they should, bad grammars give
// clear errors before any generation, the matcher handles end-of-generation and characters split
// between tokens, and random walks with real vocabularies (SentencePiece and byte-level BPE)
// agree with an independent recognizer at every step.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "grammar_fuzz.h"
#include "grammar_test_util.h"
#include "minillm/error.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

Grammar load_grammar(const std::string& name) {
  return Grammar::parse(test::read_file_bytes(test::source_dir() / "tests/data/grammar" / name));
}

void expect_matches(const Grammar& g, std::initializer_list<const char*> good,
                    std::initializer_list<const char*> bad) {
  for (const char* s : good) EXPECT_TRUE(test::grammar_matches(g, s)) << "should match: " << s;
  for (const char* s : bad) EXPECT_FALSE(test::grammar_matches(g, s)) << "should not match: " << s;
}

TEST(Grammar, Arithmetic) {
  expect_matches(load_grammar("arithmetic.gbnf"),
                 {"1", "12+3", "(1 + 2) * -3", "((4))", "7/2-1", "123456"},
                 {"", "1+", "(1", "1)", "+1", "1 ++ 2", "1234567", "a"});
}

TEST(Grammar, Json) {
  expect_matches(load_grammar("json.gbnf"),
                 {"{}", R"({"a":1})", R"({"a": [1, 2.5, -3e10, true, null], "b": {"c": "d\n"}})",
                  R"({"é": "ü\u00e9"})", "{\n  \"x\": false\n}"},
                 {"", "[]", R"({"a":})", R"({"a":01})", R"({"a":1,})", R"({'a':1})",
                  "{\"a\":\"\x01\"}", R"({"a":1.})", "{     \"a\":1}"});
}

TEST(Grammar, List) {
  expect_matches(load_grammar("list.gbnf"), {"- milk\n", "- a\n- b c\n"},
                 {"", "- milk", "-milk\n", "- Milk\n", "- a\n- b\n- c\n- d\n- e\n- f\n"});
}

TEST(Grammar, Identifiers) {
  expect_matches(load_grammar("identifiers.gbnf"), {"x", "_a1, b2,c3", "abcdefghijklmnop"},
                 {"", "1x", "a,", "a b", "abcdefghijklmnopq"});
}

TEST(Grammar, ChessMoves) {
  expect_matches(
      load_grammar("chess.gbnf"),
      {"1. e4 e5", "1. e4 e5 2. Nf3 Nc6", "3. exd5 Qxd5+", "9. O-O O-O-O#", "4. e8=Q Rxe8"},
      {"", "1. e4", "1. e9 e5", "1. Zf3 e5", "1.e4 e5", "1. O-O-O-O e5"});
}

TEST(Grammar, SyntaxFeatures) {
  // Repetition bounds, negated classes, '.', escapes, comments, groups over lines.
  const Grammar g = Grammar::parse(
      "root ::= a{2} b{1,} c{,2} d{2,3} # comment\n"
      "a ::= [^x-z\\n]\n"
      "b ::= \"\\x41\" | \"\\u00e9\"\n"
      "c ::= (\n  \".\" |\n  \"-\"\n)\n"
      "d ::= .\n");
  expect_matches(g,
                 {"abAxx",
                  "\xc3\xa9\xc3\xa9"
                  "A..\xe2\x82\xac\xe2\x82\xac",
                  "--AA-xy."},
                 {"axAzz", "abzz", "ab", "abA...xyz"});
}

TEST(Grammar, ErrorsNameLineAndColumn) {
  auto error = [](const char* text) { return test::error_of([&] { Grammar::parse(text); }); };
  EXPECT_EQ(error("root ::= \"abc\n"), "grammar line 1, column 14: unterminated string literal");
  EXPECT_EQ(error("root ::= [a-z\n"), "grammar line 1, column 14: unterminated character class");
  EXPECT_EQ(error("root ::= [z-a]\n"),
            "grammar line 1, column 14: character range with its end before its start");
  EXPECT_EQ(error("root ::= \"\xff\"\n"), "grammar line 1, column 11: invalid UTF-8");
  EXPECT_EQ(error("root ::= x\nx ::= \"a\" )\n"),
            "grammar line 2, column 11: expected the end of the line, found ')'");
  EXPECT_EQ(error("root ::= ( \"a\" \n"), "grammar line 2, column 1: expected ')'");
  EXPECT_EQ(error("root := \"a\"\n"),
            "grammar line 1, column 6: expected '::=' after the rule name 'root'");
  EXPECT_EQ(error("root ::= \"a\"{3,1}\n"),
            "grammar line 1, column 18: repetition {m,n} with n < m");
  EXPECT_EQ(error("root ::= * \"a\"\n"), "grammar line 1, column 10: nothing to repeat before '*'");
  EXPECT_EQ(error("root ::= \"\\q\"\n"), "grammar line 1, column 11: unknown escape '\\q'");
  EXPECT_EQ(error("root ::= []\n"), "grammar line 1, column 12: empty character class");
  // Hostile nesting is refused, not a stack overflow.
  const std::string deep =
      "root ::= " + std::string(100000, '(') + "\"a\"" + std::string(100000, ')');
  EXPECT_EQ(error(deep.c_str()), "grammar line 1, column 266: groups nested more than 256 deep");
}

TEST(Grammar, RuleErrors) {
  auto error = [](const char* text) { return test::error_of([&] { Grammar::parse(text); }); };
  EXPECT_EQ(error("root ::= \"a\" item\n\nitem ::= \"b\" thing\n"),
            "grammar line 3, column 14: undefined rule 'thing'");
  EXPECT_EQ(error("root ::= \"a\"\nroot ::= \"b\"\n"),
            "grammar line 2, column 1: rule 'root' is defined twice");
  EXPECT_EQ(error("start ::= \"a\"\n"), "grammar: no rule named 'root' (the start rule)");
  // Left recursion, direct and through another (nullable) rule.
  EXPECT_NE(error("root ::= root \"a\" | \"b\"\n").find("rule 'root' is left-recursive"),
            std::string::npos);
  EXPECT_NE(error("root ::= e\ne ::= o? e \"+\" | \"1\"\no ::= \"(\"\n").find("left-recursive"),
            std::string::npos);
  // Recursion without a way out: no finite text matches.
  EXPECT_NE(error("root ::= \"a\" root\n").find("rule 'root' can never finish"), std::string::npos);
  EXPECT_NE(error("root ::= x\nx ::= \"(\" x \")\"\n").find("rule 'x' can never finish"),
            std::string::npos);
  // Right recursion with a way out is fine.
  EXPECT_TRUE(test::grammar_matches(Grammar::parse("root ::= \"a\" root | \"b\"\n"), "aaab"));
  // A different start rule.
  EXPECT_TRUE(test::grammar_matches(Grammar::parse("top ::= \"x\"\n", "top"), "x"));
}

TEST(GrammarMatcher, EndOfGenerationOnlyWhereTheGrammarMayEnd) {
  const Tokenizer tok = test::byte_tokenizer();
  GrammarMatcher m(GrammarConstraint::create(Grammar::parse("root ::= \"ab\" \"c\"?\n"), tok));
  EXPECT_FALSE(m.is_allowed(256));
  EXPECT_TRUE(m.is_allowed('a'));
  EXPECT_FALSE(m.is_allowed('b'));
  EXPECT_FALSE(m.is_allowed(257));  // <unk> never
  EXPECT_NE(test::error_of([&] { m.accept('b'); }).find("not allowed"), std::string::npos);
  m.accept('a');
  m.accept('b');
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.is_complete());  // "c" may still follow
  EXPECT_TRUE(m.is_allowed(256));
  EXPECT_TRUE(m.is_allowed('c'));
  m.accept('c');
  EXPECT_TRUE(m.is_complete());
  const auto& mask = m.allowed_tokens();
  for (int t = 0; t < tok.n_vocab(); ++t)
    EXPECT_EQ(bool((mask[size_t(t) / 64] >> (t % 64)) & 1), t == 256) << t;
  std::vector<float> logits(size_t(tok.n_vocab()), 1.0f);
  m.apply(logits);
  EXPECT_EQ(logits[256], 1.0f);
  EXPECT_EQ(logits['c'], -INFINITY);
  m.accept(256);
  EXPECT_TRUE(m.ended());
  m.reset();
  EXPECT_TRUE(m.is_allowed('a'));
}

TEST(GrammarMatcher, CharactersSplitBetweenTokens) {
  // é = C3 A9, ü = C3 BC, € = E2 82 AC: byte tokens arrive one at a time.
  const Tokenizer tok = test::byte_tokenizer();
  GrammarMatcher m(GrammarConstraint::create(Grammar::parse("root ::= [éü€]+\n"), tok));
  std::vector<int32_t> allowed;
  auto allowed_now = [&] {
    allowed.clear();
    const auto& mask = m.allowed_tokens();
    for (int t = 0; t < 256; ++t)
      if ((mask[size_t(t) / 64] >> (t % 64)) & 1) allowed.push_back(t);
    return allowed;
  };
  EXPECT_EQ(allowed_now(), (std::vector<int32_t>{0xC3, 0xE2}));
  m.accept(0xC3);
  EXPECT_EQ(allowed_now(), (std::vector<int32_t>{0xA9, 0xBC}));
  EXPECT_FALSE(m.can_end());
  m.accept(0xBC);
  EXPECT_TRUE(m.can_end());
  m.accept(0xE2);
  EXPECT_EQ(allowed_now(), (std::vector<int32_t>{0x82}));
  m.accept(0x82);
  EXPECT_EQ(allowed_now(), (std::vector<int32_t>{0xAC}));
  // Overlong forms and surrogates are not UTF-8, even where the grammar takes any character.
  GrammarMatcher any(GrammarConstraint::create(Grammar::parse("root ::= .+\n"), tok));
  EXPECT_FALSE(any.is_allowed(0xC0));
  EXPECT_FALSE(any.is_allowed(0xC1));
  EXPECT_FALSE(any.is_allowed(0x80));
  EXPECT_FALSE(any.is_allowed(0xF8));
  any.accept(0xE0);
  EXPECT_FALSE(any.is_allowed(0x80));  // E0 80 .. E0 9F are overlong
  EXPECT_TRUE(any.is_allowed(0xA0));
  any.reset();
  any.accept(0xED);
  EXPECT_TRUE(any.is_allowed(0x9F));
  EXPECT_FALSE(any.is_allowed(0xA0));  // ED A0 .. ED BF are surrogates
}

TEST(GrammarMatcher, AcceptTextAndVocabularyMismatch) {
  const Tokenizer tok = test::byte_tokenizer();
  auto c = GrammarConstraint::create(load_grammar("chess.gbnf"), tok);
  GrammarMatcher m(c);
  EXPECT_TRUE(m.accept_text("1. e4 "));
  EXPECT_FALSE(m.accept_text("e9"));  // refused, nothing consumed
  EXPECT_TRUE(m.accept_text("e5"));
  EXPECT_TRUE(m.can_end());
  std::vector<float> wrong(10);
  EXPECT_NE(test::error_of([&] { m.apply(wrong); }).find("10 logits for a vocabulary of 258"),
            std::string::npos);
}

TEST(GrammarConstraint, MemoryGrowsWithTheTextsMet) {
  const Tokenizer tok = test::byte_tokenizer();
  auto c = GrammarConstraint::create(Grammar::any_json_object(), tok);
  const size_t fresh = c->memory_bytes();
  EXPECT_GT(fresh, 0u);
  GrammarMatcher m(c);
  for (const char* text : {"{\"a\": [1, 2.5, {\"b\": null}]", ", \"c\": \"d\"}"}) {
    for (const char* p = text; *p; ++p) {
      m.allowed_tokens();
      m.accept(int32_t(uint8_t(*p)));  // the byte tokenizer: id = byte
    }
  }
  EXPECT_TRUE(m.is_complete());
  const size_t grown = c->memory_bytes();
  EXPECT_GT(grown, fresh + 4096) << "masks and states are kept";
  // A second matcher over the same texts meets nothing new.
  GrammarMatcher again(c);
  for (const char* text : {"{\"a\": [1, 2.5, {\"b\": null}]", ", \"c\": \"d\"}"})
    for (const char* p = text; *p; ++p) {
      again.allowed_tokens();
      again.accept(int32_t(uint8_t(*p)));
    }
  EXPECT_EQ(c->memory_bytes(), grown);
}

// ---- random walks with real vocabularies ----

void check_json_object(const std::string& text) {
  const auto parsed = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << text;
  EXPECT_TRUE(parsed.is_object()) << text;
}

void check_regex(const std::string& text, const std::string& pattern) {
  EXPECT_TRUE(std::regex_match(text, std::regex(pattern))) << text;
}

const char* kChessRegex = R"([1-9]\. M M( [1-9]\. M M){0,3})";

std::string chess_regex() {
  const std::string move =
      R"(((([a-h]x)?[a-h][1-8](=[QRBN])?)|([KQRBN][a-h1-8]?x?[a-h][1-8])|(O-O(-O)?))[+#]?)";
  std::string r = kChessRegex;
  for (size_t at; (at = r.find('M')) != std::string::npos;) r.replace(at, 1, move);
  return r;
}

void fuzz_classics(const Tokenizer& tok, int steps, int full_every) {
  struct Case {
    const char* file;
    std::function<void(const std::string&)> check;
  };
  const std::string chess = chess_regex();
  const Case cases[] = {
      {"json.gbnf", check_json_object},
      {"arithmetic.gbnf", [](const std::string&) {}},  // not regular: the reference checks it
      {"list.gbnf", [](const std::string& t) { check_regex(t, "(- [a-z][a-z ]{0,30}\n){1,5}"); }},
      {"identifiers.gbnf",
       [](const std::string& t) {
         check_regex(t, "[a-zA-Z_][a-zA-Z0-9_]{0,15}(, ?[a-zA-Z_][a-zA-Z0-9_]{0,15}){0,7}");
       }},
      {"chess.gbnf", [&](const std::string& t) { check_regex(t, chess); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    int completed = 0, compared = 0;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const auto stats =
          test::fuzz_grammar(load_grammar(c.file), tok, steps, seed, c.check, full_every);
      if (::testing::Test::HasFailure()) return;
      completed += stats.completed;
      compared += stats.compared;
    }
    EXPECT_GT(completed, 0);
    EXPECT_GT(compared, steps);
  }
}

TEST(GrammarFuzz, Stories260KVocabulary) {
  fuzz_classics(Tokenizer::from_file(test::shared_file("models/stories260K.gguf")), 300, 4);
}

TEST(GrammarFuzz, Llama2Vocabulary) {
  fuzz_classics(Tokenizer::from_file(test::shared_file("vocab/ggml-vocab-llama-spm.gguf")), 80, 8);
}

TEST(GrammarFuzz, Llama3Vocabulary) {
  const auto path = test::shared_file("vocab/ggml-vocab-llama3.gguf");
  REQUIRE_SHARED_FILE(path);
  fuzz_classics(Tokenizer::from_file(path), 200, 16);
}

// Texts made mostly of characters that all lead to the same next state, where masks decide whole
// subtrees of the vocabulary at once: strings with and without a length bound, escapes, classes
// of non-ASCII characters that take all, some or none of them, and a bound reached inside a
// token. Every mask is compared whole, token by token.
TEST(GrammarFuzz, RunsOfPlainCharacters) {
  const auto path = test::shared_file("vocab/ggml-vocab-llama3.gguf");
  REQUIRE_SHARED_FILE(path);
  const Tokenizer tok = Tokenizer::from_file(path);
  const Grammar grammars[] = {
      Grammar::from_json_schema(R"({"type": "object", "properties": {
          "short": {"type": "string", "maxLength": 12}, "long": {"type": "string"},
          "list": {"type": "array", "items": {"type": "string", "maxLength": 3}}},
          "required": ["short", "long", "list"]})"),
      Grammar::parse(R"(root ::= "\"" [^"\\]* "\"" [0-9]{1,3} "\n")"),
      Grammar::parse(R"(root ::= [а-яА-Я ]{0,12} "." | [^\x00-\x7F]{1,6} "!" | [^"a-c]{2,5} "\"")"),
      Grammar::parse(R"(root ::= ( [a-z ]{0,4} | "\"" [^"]{0,40} "\"" ) ( "," root )?)"),
  };
  for (size_t i = 0; i < std::size(grammars); ++i) {
    SCOPED_TRACE("grammar " + std::to_string(i));
    int completed = 0;
    for (uint64_t seed = 1; seed <= 2; ++seed) {
      const auto stats = test::fuzz_grammar(
          grammars[i], tok, 100, seed, [](const std::string&) {},
          /*full_every=*/3);
      if (::testing::Test::HasFailure()) return;
      completed += stats.completed;
    }
    EXPECT_GT(completed, 0);
  }
}

}  // namespace
}  // namespace minillm
