// SentencePiece BPE encoding of one run of plain text.
//
// The text is normalized (spaces -> U+2581, optional U+2581 prefix) and cut into UTF-8
// characters. Then, repeatedly, the adjacent pair whose concatenation is a vocabulary piece with
// the highest score (leftmost on ties) is merged. Candidate pairs live in a priority queue over a
// doubly linked list of symbols, so each merge costs O(log n) instead of a rescan of the text;
// queue entries made stale by an earlier merge are recognised and skipped when popped.
// Finally each symbol becomes its token; a symbol missing from the vocabulary becomes its bytes'
// <0xNN> tokens (byte fallback), or <unk> without byte tokens.
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "minillm/error.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace minillm {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

std::string normalize(std::string_view text, bool add_prefix) {
  std::string out;
  out.reserve(text.size() + 3 * (add_prefix ? 1 : 0) + text.size() / 2);
  if (add_prefix) out += kSpaceSymbol;
  for (char c : text) {
    if (c == ' ')
      out += kSpaceSymbol;
    else
      out += c;
  }
  return out;
}

struct Symbol {
  uint32_t start;
  uint32_t length;  // 0 once merged into its left neighbour
  int32_t prev;
  int32_t next;
};

struct Candidate {
  float score;
  int32_t left;
  int32_t right;
  uint32_t length;  // left.length + right.length when queued; a mismatch later means stale
};

// Highest score first; on equal scores the leftmost pair (smaller symbol index) first.
struct LowerPriority {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;
  }
};

}  // namespace

void Tokenizer::Impl::encode_plain(std::string_view text, bool add_prefix,
                                   std::vector<int32_t>& out) const {
  if (text.empty()) return;
  const std::string norm = normalize(text, add_prefix);
  if (norm.size() > UINT32_MAX / 2) throw Error("tokenizer: input text too long");

  // One symbol per UTF-8 character; an invalid byte is a symbol of its own.
  std::vector<Symbol> symbols;
  symbols.reserve(norm.size());
  for (size_t pos = 0; pos < norm.size();) {
    size_t len = utf8::valid_char_length(std::string_view(norm).substr(pos));
    if (len == 0) len = 1;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back(
        {static_cast<uint32_t>(pos), static_cast<uint32_t>(len), index - 1, index + 1});
    pos += len;
  }
  symbols.back().next = -1;

  auto piece_of = [&](uint32_t start, uint32_t length) {
    return std::string_view(norm).substr(start, length);
  };

  std::priority_queue<Candidate, std::vector<Candidate>, LowerPriority> queue;
  // Merges that produced an Unused piece, to split it again at the end (as SentencePiece does):
  // merged text -> length of its left part.
  std::unordered_map<std::string_view, uint32_t> unused_splits;

  auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const auto it = merge_pieces.find(piece_of(l.start, l.length + r.length));
    if (it == merge_pieces.end()) return;
    queue.push({vocab.scores[it->second], left, right, l.length + r.length});
  };

  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    try_pair(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = symbols[c.left];
    Symbol& r = symbols[c.right];
    if (l.length == 0 || r.length == 0 || l.next != c.right || l.length + r.length != c.length)
      continue;  // stale: one side has merged since this pair was queued
    const std::string_view merged = piece_of(l.start, c.length);
    if (vocab.types[merge_pieces.find(merged)->second] == TokenType::Unused)
      unused_splits[merged] = l.length;
    l.length = c.length;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = c.left;
    r.length = 0;
    try_pair(l.prev, c.left);
    try_pair(c.left, l.next);
  }

  // Emits the token for a piece, splitting Unused pieces and falling back to bytes.
  auto emit = [&](auto&& self, std::string_view piece) -> void {
    const auto it = merge_pieces.find(piece);
    if (it != merge_pieces.end()) {
      const int32_t id = it->second;
      const auto split = unused_splits.find(piece);
      if (vocab.types[id] == TokenType::Unused && split != unused_splits.end()) {
        self(self, piece.substr(0, split->second));
        self(self, piece.substr(split->second));
        return;
      }
      out.push_back(id);
      return;
    }
    if (!has_byte_tokens) {  // SentencePiece without byte fallback: one <unk> per character
      if (vocab.unk_id < 0)
        throw Error(
            "tokenizer: text contains a character the vocabulary cannot represent (no "
            "byte tokens and no unknown token)");
      out.push_back(vocab.unk_id);
      return;
    }
    for (char ch : piece) {
      const int32_t byte_id = byte_ids[static_cast<uint8_t>(ch)];
      if (byte_id >= 0)
        out.push_back(byte_id);
      else if (vocab.unk_id >= 0)
        out.push_back(vocab.unk_id);
      else
        throw Error(
            "tokenizer: text contains a character the vocabulary cannot represent (no "
            "byte tokens and no unknown token)");
    }
  };
  for (int32_t i = 0; i >= 0; i = symbols[i].next)
    emit(emit, piece_of(symbols[i].start, symbols[i].length));
}

}  // namespace minillm
