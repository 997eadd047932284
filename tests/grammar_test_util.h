// Helpers for the grammar tests: a vocabulary of the 256 single bytes (so any text can be fed byte
// by byte), whole-text matching through the matcher, and a reference recognizer written
// independently of the matcher's automaton (plain stacks of grammar positions, no interning, no
// tail calls, no byte-level states, no masks) to check the masks against.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "grammar/grammar_rules.h"
#include "minillm/grammar.h"
#include "minillm/tokenizer.h"

namespace minillm::test {

// <0x00> .. <0xFF> as byte tokens (ids 0..255), then </s> (256, EOS) and <unk>.
inline Tokenizer byte_tokenizer() {
  Vocab v;
  v.model = "llama";
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.tokens.push_back(name);
    v.types.push_back(TokenType::Byte);
  }
  v.tokens.push_back("</s>");
  v.types.push_back(TokenType::Control);
  v.tokens.push_back("<unk>");
  v.types.push_back(TokenType::Unknown);
  v.eos_id = 256;
  v.unk_id = 257;
  v.bos_id = -1;
  v.add_bos = false;
  v.scores.assign(v.tokens.size(), 0.0f);
  return Tokenizer::from_vocab(std::move(v));
}

// Whether the grammar matches the whole text (fed byte by byte through the matcher's tokens).
inline bool grammar_matches(const Grammar& grammar, const std::string& text) {
  static const Tokenizer bytes = byte_tokenizer();
  GrammarMatcher m(GrammarConstraint::create(grammar, bytes));
  for (char c : text) {
    const int32_t t = uint8_t(c);
    if (!m.is_allowed(t)) return false;
    m.accept(t);
  }
  return m.is_allowed(256);  // EOS: the text may end here
}

// Code points of valid UTF-8 text; `rest` receives an unfinished character at the end. Returns
// false for invalid UTF-8.
inline bool decode_utf8(const std::string& s, std::vector<uint32_t>& out, std::string& rest) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = uint8_t(s[i]);
    const size_t len = c < 0x80         ? 1
                       : (c >> 5) == 6  ? 2
                       : (c >> 4) == 14 ? 3
                       : (c >> 3) == 30 ? 4
                                        : 0;
    if (len == 0) return false;
    if (i + len > s.size()) {
      rest = s.substr(i);
      return true;
    }
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      if ((uint8_t(s[i + k]) & 0xC0) != 0x80) return false;
      cp = cp << 6 | (uint8_t(s[i + k]) & 0x3F);
    }
    static const uint32_t shortest[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < shortest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out.push_back(cp);
    i += len;
  }
  return true;
}

// The set of full stacks (element positions, top last) a text may have reached.
class ReferenceRecognizer {
 public:
  explicit ReferenceRecognizer(const Grammar& grammar) : g_(&grammar.impl()) {
    for (uint32_t alt : g_->rules[g_->root].alternatives) close({alt}, stacks_);
  }

  bool viable() const { return !stacks_.empty(); }
  bool complete() const { return stacks_.count({}) > 0; }

  // Advances over code points; false (and nothing changed) when no stack survives.
  bool advance(const std::vector<uint32_t>& cps) {
    std::set<std::vector<uint32_t>> cur = stacks_;
    for (uint32_t c : cps) {
      std::set<std::vector<uint32_t>> next;
      for (const auto& s : cur) {
        if (s.empty()) continue;
        const grammar::Element& e = g_->elements[s.back()];
        if (e.kind != grammar::ElementKind::Chars || !g_->charsets[e.value].contains(c)) continue;
        auto moved = s;
        moved.back() += 1;
        close(moved, next);
      }
      if (next.empty()) return false;
      cur = std::move(next);
    }
    stacks_ = std::move(cur);
    return true;
  }

 private:
  // Enters rules and leaves finished ones until every stack has a character set on top.
  void close(std::vector<uint32_t> stack, std::set<std::vector<uint32_t>>& out) const {
    std::vector<std::vector<uint32_t>> todo{std::move(stack)};
    std::set<std::vector<uint32_t>> seen;
    while (!todo.empty()) {
      auto s = std::move(todo.back());
      todo.pop_back();
      if (!seen.insert(s).second) continue;
      if (s.empty()) {
        out.insert(s);
        continue;
      }
      const grammar::Element& e = g_->elements[s.back()];
      if (e.kind == grammar::ElementKind::Chars) {
        out.insert(s);
      } else if (e.kind == grammar::ElementKind::End) {
        s.pop_back();
        if (!s.empty()) s.back() += 1;  // past the rule reference it returns to
        todo.push_back(std::move(s));
      } else {
        for (uint32_t alt : g_->rules[e.value].alternatives) {
          auto entered = s;
          entered.push_back(alt);
          todo.push_back(std::move(entered));
        }
      }
    }
  }

  const Grammar::Impl* g_;
  std::set<std::vector<uint32_t>> stacks_;
};

}  // namespace minillm::test
