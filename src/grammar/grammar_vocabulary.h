// The vocabulary as the mask computation walks it: the token texts as a trie whose nodes are
// listed in depth-first order, so that a prefix the grammar rejects skips its subtree in one
// step, and with what each subtree's texts are made of, so that a subtree the grammar accepts
// whole is accepted without a walk (see GrammarConstraint's walk()).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "minillm/grammar.h"

namespace minillm {

struct GrammarVocabulary::Impl {
  int32_t n_vocab = 0;
  std::vector<std::string> pieces;  // bytes of each token; empty = never part of a grammar's text
  std::vector<int32_t> order;       // ids with a piece, sorted by piece
  // The pieces in sorted order, back to back (piece i = sorted[offset[i], offset[i + 1])).
  std::string sorted;
  std::vector<uint32_t> offset;
  std::vector<int32_t> end_ids;  // end-of-generation tokens, ascending

  // Trie node j (depth-first order; the root, the empty prefix, is not listed) is the prefix of
  // nodes[j].depth bytes whose last byte is nodes[j].byte; its subtree is the nodes
  // [j, skip[j]), and the sorted tokens starting with the prefix are [first_token[j],
  // first_token[skip[j]]). nodes[j].token is the id of the token whose text the prefix is, or
  // n_vocab (a spare bit) when none is; a second token with the same text is in same_text.
  struct Node {
    int32_t token;
    uint16_t depth;
    uint8_t byte;
    bool bulk;  // its subtree is large and valid UTF-8 below it: worth checking as a whole
  };
  size_t max_length = 0;
  std::vector<Node> nodes;  // what a walk reads at every node, in one stream
  std::vector<uint32_t> skip;
  std::vector<uint32_t> first_token;                   // one more entry than nodes: the token count
  std::vector<std::pair<int32_t, int32_t>> same_text;  // (id in the trie, id with the same text)

  // What the texts below a node are made of, in groups of characters: each ASCII byte that
  // grammars commonly tell apart (white space, digits, punctuation) is a group of its own,
  // letters come in four groups, every character from U+0080 up is one group, and kBadUtf8
  // stands for bytes that are not valid UTF-8 where they stand (a character cut off where a
  // text ends is valid when some ending of it is).
  static constexpr int kAsciiGroups = 52, kNonAscii = 62, kBadUtf8 = 63;
  static int ascii_group(uint8_t byte);
  static constexpr size_t kBulkNodes = 32;  // Node::bulk: at least this many nodes below
  // Per node: the groups of the characters in its subtree past its own prefix, and the most
  // characters any text there has past it (a character cut off at the end counts; 255 at most).
  std::vector<uint64_t> below_groups;
  std::vector<uint8_t> below_chars;
  std::vector<uint8_t> prefix_chars;  // per node: the characters of its prefix (a cut one counts)
  std::vector<uint8_t> sorted_chars;  // per sorted token: the characters of its text
  std::vector<uint64_t> text_tokens;  // a mask of every token in the trie (all of `order`)

  size_t n_nodes() const { return nodes.size(); }
  size_t n_words() const { return (size_t(n_vocab) + 63) / 64; }  // of a token mask
  std::string_view sorted_piece(size_t i) const {
    return std::string_view(sorted).substr(offset[i], offset[i + 1] - offset[i]);
  }
};

}  // namespace minillm
