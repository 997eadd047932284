// The vocabulary's trie as mask walks read it: every token with a text is reachable by its bytes
// and ends at a node that names it (or shares its text with one that does), a node's subtree is
// exactly the tokens that start with its prefix, and the depth-first order is that of the sorted
// texts, and what each subtree's texts are made of is what the texts say. On the Llama 2
// vocabulary, whose byte tokens repeat the text of other tokens and are not UTF-8 alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include <utf8proc.h>

#include "grammar/grammar_vocabulary.h"
#include "minillm/tokenizer.h"
#include "test_data.h"

namespace minillm {
namespace {

TEST(GrammarVocabulary, TheTrieHoldsEveryTokenByItsBytes) {
  const Tokenizer tok = Tokenizer::from_file(test::shared_file("vocab/ggml-vocab-llama-spm.gguf"));
  const auto vocabulary = GrammarVocabulary::build(tok);
  const GrammarVocabulary::Impl& v = vocabulary->impl();
  ASSERT_GT(v.order.size(), 30000u);
  ASSERT_EQ(v.first_token.size(), v.n_nodes() + 1);
  ASSERT_FALSE(v.same_text.empty()) << "byte tokens share the text of others";

  // Each node's prefix, from the path of depths (a node's parent is the last node before it
  // one level up).
  std::vector<std::string> prefix(v.n_nodes());
  std::vector<size_t> path;  // path[d - 1]: the node of depth d above the current one
  for (size_t j = 0; j < v.n_nodes(); ++j) {
    const size_t d = v.nodes[j].depth;
    ASSERT_GE(d, 1u);
    ASSERT_LE(d, path.size() + 1) << "a node two levels below the one before it";
    path.resize(d - 1);
    prefix[j] = (d > 1 ? prefix[path.back()] : std::string()) + char(v.nodes[j].byte);
    path.push_back(j);
  }
  // Prefixes are distinct and in sorted (depth-first) order.
  for (size_t j = 1; j < v.n_nodes(); ++j) ASSERT_LT(prefix[j - 1], prefix[j]) << j;

  std::map<std::string, size_t> node_of;
  for (size_t j = 0; j < v.n_nodes(); ++j) node_of[prefix[j]] = j;
  std::map<int32_t, int32_t> same;  // the token that shares its text -> the one in the trie
  for (const auto& [in_trie, other] : v.same_text) same[other] = in_trie;
  for (size_t i = 0; i < v.order.size(); ++i) {
    const int32_t id = v.order[i];
    const std::string& text = v.pieces[size_t(id)];
    ASSERT_EQ(v.sorted_piece(i), text);
    const auto it = node_of.find(text);
    ASSERT_NE(it, node_of.end()) << "token " << id << " has no node";
    const int32_t named = v.nodes[it->second].token;
    EXPECT_TRUE(named == id || (same.count(id) && same[id] == named)) << "token " << id;
  }
  // A subtree: the nodes [j, skip[j]) are the ones whose prefix starts with node j's, and its
  // tokens [first_token[j], first_token[skip[j]]) the sorted tokens that start with it.
  for (size_t j = 0; j < v.n_nodes(); j += 97) {
    const std::string& p = prefix[j];
    for (size_t k = j; k < v.skip[j]; ++k) ASSERT_EQ(prefix[k].compare(0, p.size(), p), 0);
    if (v.skip[j] < v.n_nodes()) {
      ASSERT_NE(prefix[v.skip[j]].compare(0, p.size(), p), 0);
    }
    for (uint32_t i = v.first_token[j]; i < v.first_token[v.skip[j]]; ++i)
      ASSERT_EQ(v.sorted_piece(i).substr(0, p.size()), p);
    if (v.first_token[v.skip[j]] < v.order.size()) {
      ASSERT_NE(v.sorted_piece(v.first_token[v.skip[j]]).substr(0, p.size()), p);
    }
  }
  // What a subtree is made of (the walks decide subtrees whole from it): the characters below a
  // node (bytes that start one, as UTF-8 counts them), their groups, and bad UTF-8 flagged.
  const auto starts_character = [](char c) { return (uint8_t(c) & 0xC0) != 0x80; };
  const auto valid_utf8 = [](const std::string& t) {
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(t.data());
    for (size_t at = 0; at < t.size();) {
      utf8proc_int32_t c;
      const auto n = utf8proc_iterate(p + at, utf8proc_ssize_t(t.size() - at), &c);
      if (n <= 0) return false;
      at += size_t(n);
    }
    return true;
  };
  using V = GrammarVocabulary::Impl;
  size_t bulk = 0;
  for (size_t j = 0; j < v.n_nodes(); j += 31) {
    const std::string& p = prefix[j];
    const auto chars_of = [&](std::string_view t) {
      return size_t(std::count_if(t.begin(), t.end(), starts_character));
    };
    if (valid_utf8(p)) {
      EXPECT_EQ(v.prefix_chars[j], std::min<size_t>(chars_of(p), 255));
    }
    size_t most = 0;
    uint64_t groups = 0;
    bool all_valid = true, continues_a_character = false;
    for (uint32_t i = v.first_token[j]; i < v.first_token[v.skip[j]]; ++i) {
      const std::string_view t = v.sorted_piece(i);
      most = std::max(most, chars_of(t) - chars_of(p));
      for (char c : t.substr(p.size()))
        groups |= uint64_t(1) << (uint8_t(c) < 0x80 ? V::ascii_group(uint8_t(c)) : V::kNonAscii);
      all_valid = all_valid && valid_utf8(std::string(t));
      continues_a_character |= t.size() > p.size() && !starts_character(t[p.size()]);
    }
    if (all_valid) {
      EXPECT_EQ(v.below_chars[j], std::min<size_t>(most, 255)) << "node " << j;
    }
    EXPECT_EQ(v.below_groups[j] & ~(uint64_t(1) << V::kBadUtf8), groups) << "node " << j;
    const bool flagged = (v.below_groups[j] >> V::kBadUtf8) & 1;
    if (all_valid && valid_utf8(p) && !continues_a_character) {
      EXPECT_FALSE(flagged) << "node " << j;
    }
    if (valid_utf8(p) && continues_a_character) {
      EXPECT_TRUE(flagged) << "node " << j;
    }
    if (v.nodes[j].bulk) {
      ++bulk;
      EXPECT_GE(v.skip[j] - j - 1, V::kBulkNodes);
      EXPECT_FALSE(flagged);
    }
  }
  EXPECT_GT(bulk, 10u);
  for (size_t i = 0; i < v.order.size(); i += 7) {
    const std::string_view t = v.sorted_piece(i);
    if (!valid_utf8(std::string(t))) continue;
    EXPECT_EQ(v.sorted_chars[i],
              std::min<size_t>(255, size_t(std::count_if(t.begin(), t.end(), starts_character))));
  }
  for (int32_t id = 0; id < v.n_vocab; ++id)
    EXPECT_EQ((v.text_tokens[size_t(id) / 64] >> (id % 64)) & 1, !v.pieces[size_t(id)].empty())
        << id;

  // Tokens without text (control, unknown) and end-of-generation tokens are not in the trie.
  for (int32_t id : v.end_ids) EXPECT_TRUE(v.pieces[size_t(id)].empty());
}

}  // namespace
}  // namespace minillm
