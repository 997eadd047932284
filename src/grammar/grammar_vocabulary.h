// The vocabulary as the mask computation walks it: the token texts as a trie whose nodes are
// listed level by level (all first bytes, then all second bytes, ...), each level grouped by
// parent, so a node's children are one contiguous run and a walk advances a whole frontier of
// prefixes one byte at a time (see GrammarConstraint's walk()).
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
  };
  size_t max_length = 0;
  std::vector<Node> nodes;  // what a walk reads at every node, in one stream
  std::vector<uint32_t> skip;
  std::vector<uint32_t> first_token;                   // one more entry than nodes: the token count
  std::vector<std::pair<int32_t, int32_t>> same_text;  // (id in the trie, id with the same text)

  size_t n_nodes() const { return nodes.size(); }
  std::string_view sorted_piece(size_t i) const {
    return std::string_view(sorted).substr(offset[i], offset[i + 1] - offset[i]);
  }
};

}  // namespace minillm
