// The vocabulary as the mask computation walks it: token texts sorted, so tokens that share a
// prefix are neighbours (the sorted list is a flattened trie), with, for each prefix, where the
// run of tokens starting with it ends (to skip them all when the grammar rejects the prefix).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "minillm/grammar.h"

namespace minillm {

struct GrammarVocabulary::Impl {
  int32_t n_vocab = 0;
  std::vector<std::string> pieces;  // bytes of each token; empty = never part of a grammar's text
  std::vector<int32_t> order;       // ids with a piece, sorted by piece
  // The pieces in sorted order, back to back (piece i = sorted[offset[i], offset[i + 1])): the
  // walks read them front to back instead of chasing one allocation per token.
  std::string sorted;
  std::vector<uint32_t> offset;
  std::vector<uint32_t> shared;  // bytes order[i] shares with order[i - 1]
  // For sorted token i and a prefix length d in (shared[i], length]: the end (exclusive) of the
  // run of tokens that start with its first d bytes, at run_end[run_offset[i] + d - shared[i] - 1].
  std::vector<uint32_t> run_offset, run_end;
  std::vector<int32_t> end_ids;  // end-of-generation tokens, ascending
  size_t max_length = 0;

  std::string_view sorted_piece(size_t i) const {
    return std::string_view(sorted).substr(offset[i], offset[i + 1] - offset[i]);
  }

  // The end of the run of tokens that share the first d bytes of sorted token i (d > shared[i]).
  uint32_t run_end_of(size_t i, size_t d) const {
    return run_end[run_offset[i] + d - shared[i] - 1];
  }
};

}  // namespace minillm
