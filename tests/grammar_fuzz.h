// Random walks through a grammar with a real vocabulary: at every step the mask must agree with
// the reference recognizer on sampled tokens (allowed exactly when the text stays a viable
// prefix), end-of-generation must be allowed exactly where the text is a complete match, and an
// allowed token must never lead to a state where nothing is allowed (an unannounced dead end).
// Every `full_every` steps the whole mask is compared with each token's text run through the
// automaton byte by byte (GrammarMatcher::is_allowed before any mask is computed): the masks'
// walks, their shared and whole-subtree decisions, must give exactly the same.
#pragma once

#include <functional>
#include <random>

#include "grammar_test_util.h"

namespace minillm::test {

struct FuzzStats {
  int completed = 0;  // texts that reached a complete match
  int compared = 0;   // mask bits compared with the reference
};

inline FuzzStats fuzz_grammar(const Grammar& grammar, const Tokenizer& tok, int steps,
                              uint64_t seed,
                              const std::function<void(const std::string&)>& on_complete,
                              int full_every = 8) {
  auto constraint = GrammarConstraint::create(grammar, tok);
  GrammarMatcher m(constraint);
  GrammarMatcher direct(constraint);  // never computes a mask
  std::mt19937_64 rng(seed);
  FuzzStats stats;
  const int32_t n_vocab = tok.n_vocab();
  const auto& ends = tok.end_of_generation_ids();
  auto restart = [&](ReferenceRecognizer& ref, std::string& pending, std::string& text) {
    m.reset();
    direct.reset();
    ref = ReferenceRecognizer(grammar);
    pending.clear();
    text.clear();
  };
  ReferenceRecognizer ref(grammar);
  std::string pending, text;
  auto bit = [](const std::vector<uint64_t>& mask, int32_t t) {
    return bool((mask[size_t(t) / 64] >> (t % 64)) & 1);
  };
  auto is_text_token = [&](int32_t t) {
    const TokenType type = tok.token_type(t);
    return !tok.is_end_of_generation(t) && type != TokenType::Control &&
           type != TokenType::Unknown && type != TokenType::Unused;
  };
  std::vector<int32_t> closers;  // the tokens that are exactly '"', '}', ']' or a newline
  for (const char* c : {"\"", "}", "]", "\n"})
    for (int32_t t = 0; t < n_vocab; ++t)
      if (is_text_token(t) && tok.token_to_piece(t) == c) {
        closers.push_back(t);
        break;
      }
  for (int step = 0; step < steps; ++step) {
    const std::vector<uint64_t> mask = m.allowed_tokens();
    std::vector<int32_t> allowed;
    for (size_t w = 0; w < mask.size(); ++w)
      for (uint64_t bits = mask[w]; bits; bits &= bits - 1) {
        const auto t = int32_t(w * 64 + size_t(__builtin_ctzll(bits)));
        if (!tok.is_end_of_generation(t)) allowed.push_back(t);
      }
    if (full_every > 0 && step % full_every == 0) {
      int differ = 0;
      for (int32_t t = 0; t < n_vocab && differ < 5; ++t)
        if (bit(mask, t) != direct.is_allowed(t)) {
          ++differ;
          ADD_FAILURE() << "token " << t << " '" << tok.token_to_piece(t) << "': mask "
                        << bit(mask, t) << ", its text " << !bit(mask, t) << " after '" << text
                        << "'";
        }
      if (::testing::Test::HasFailure()) return stats;
    }
    const bool may_end = pending.empty() && ref.complete();
    for (int32_t e : ends)
      EXPECT_EQ(bit(mask, e), may_end) << "end token " << e << " after '" << text << "'";
    if (allowed.empty()) {
      // Nothing but the end: that must be announced as a complete match.
      EXPECT_TRUE(m.is_complete()) << "dead end after '" << text << "'";
      EXPECT_TRUE(may_end) << "dead end after '" << text << "'";
      if (::testing::Test::HasFailure()) return stats;
      on_complete(text);
      ++stats.completed;
      restart(ref, pending, text);
      continue;
    }
    // Compare sampled tokens (random ones and allowed ones) with the reference.
    std::vector<int32_t> samples;
    for (int k = 0; k < 24; ++k) samples.push_back(int32_t(rng() % uint64_t(n_vocab)));
    for (int k = 0; k < 8; ++k) samples.push_back(allowed[rng() % allowed.size()]);
    for (int32_t t : samples) {
      if (tok.is_end_of_generation(t)) continue;
      bool expected = false;
      if (is_text_token(t)) {
        const std::string piece = tok.token_to_piece(t);
        std::vector<uint32_t> cps;
        std::string rest;
        if (!piece.empty() && decode_utf8(pending + piece, cps, rest)) {
          ReferenceRecognizer copy = ref;
          expected = copy.advance(cps);
          if (expected && !rest.empty()) continue;  // ends inside a character: not decided here
        }
      }
      ++stats.compared;
      EXPECT_EQ(bit(mask, t), expected)
          << "token " << t << " '" << tok.token_to_piece(t) << "' after '" << text << "'";
      if (::testing::Test::HasFailure()) return stats;
    }
    if (may_end && rng() % 6 == 0) {
      on_complete(text);
      ++stats.completed;
      restart(ref, pending, text);
      continue;
    }
    // Next token: random, but often the shortest of a few or one that closes a string or a
    // bracket (so that texts finish within the walk).
    int32_t next = allowed[rng() % allowed.size()];
    const uint64_t choice = rng() % 4;
    for (int k = 0; k < 24 && (choice == 1 || choice == 2); ++k) {
      const int32_t other = allowed[rng() % allowed.size()];
      const std::string piece = tok.token_to_piece(other);
      if (choice == 1 && piece.size() < tok.token_to_piece(next).size()) next = other;
      if (choice == 2 && piece.find_first_of("\"}]\n") != std::string::npos) {
        next = other;
        break;
      }
    }
    if (choice == 3)
      for (int32_t closer : closers)
        if (bit(mask, closer)) {
          next = closer;
          break;
        }
    m.accept(next);
    direct.accept(next);
    const std::string piece = tok.token_to_piece(next);
    text += piece;
    std::vector<uint32_t> cps;
    std::string rest;
    EXPECT_TRUE(decode_utf8(pending + piece, cps, rest));
    EXPECT_TRUE(ref.advance(cps)) << "the reference rejects '" << text << "'";
    if (::testing::Test::HasFailure()) return stats;
    pending = rest;
    if (text.size() > 600) restart(ref, pending, text);  // too long to finish soon: start over
  }
  return stats;
}

}  // namespace minillm::test
