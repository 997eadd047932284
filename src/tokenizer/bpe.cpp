// Byte-level BPE: building the merge table from the vocabulary, and encoding plain text.
//
// Merges run on token ids, not strings: each byte starts as the id of its GPT-2 character, and
// (left id, right id) -> (rank, merged id) is one hash lookup. Candidate pairs wait in a min-heap
// keyed by (rank, position) over a doubly linked list of symbols, so a word of n bytes costs
// O(n log n); heap entries made stale by an earlier merge are recognised by their ids and skipped.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "minillm/error.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/spm.h"

namespace minillm {
namespace {

struct Symbol {
  int32_t id;  // token id; -1 for a byte whose character the vocabulary lacks
  int32_t prev;
  int32_t next;
  bool alive;
};

struct Candidate {
  int32_t rank;
  int32_t pos;  // index of the left symbol: smaller = further left
  int32_t left_id;
  int32_t right_id;
};

// std heap functions keep the "largest" on top; here that is the lowest rank, then leftmost.
struct LaterFirst {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

// Buffers reused across the words of one encode() call.
struct WordEncoder {
  const Tokenizer::Impl& im;
  const BpeModel& model;
  std::vector<int32_t>& out;
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::string mapped;

  void push_pair(int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const int32_t a = symbols[left].id, b = symbols[right].id;
    if (a < 0 || b < 0) return;
    const auto it = model.merges.find(BpeModel::key(a, b));
    if (it == model.merges.end()) return;
    heap.push_back({it->second.rank, left, a, b});
    std::push_heap(heap.begin(), heap.end(), LaterFirst{});
  }

  void emit(int32_t id, uint8_t byte) {
    if (id >= 0) {
      out.push_back(id);
    } else if (im.vocab.unk_id >= 0) {
      out.push_back(im.vocab.unk_id);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", byte);
      throw Error(ErrorKind::BadFile,
                  std::string("tokenizer: the vocabulary has no token for byte ") + hex +
                      " and no unknown token");
    }
  }

  void encode(std::string_view word) {
    if (word.size() == 1) {  // spaces, punctuation, single letters: no merge possible
      const auto b = static_cast<uint8_t>(word[0]);
      emit(model.byte_token[b], b);
      return;
    }
    if (model.ignore_merges) {
      mapped.clear();
      byte_unicode::encode(word, mapped);
      const auto it = im.merge_pieces.find(mapped);
      if (it != im.merge_pieces.end()) {
        out.push_back(it->second);
        return;
      }
    }
    if (word.size() > static_cast<size_t>(INT32_MAX))
      throw Error(ErrorKind::InvalidArgument,
                  "tokenizer: a single pre-tokenized word of over 2 GiB is too long to encode");
    const auto n = static_cast<int32_t>(word.size());
    symbols.resize(word.size());
    for (int32_t i = 0; i < n; ++i)
      symbols[i] = {model.byte_token[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1,
                    true};
    heap.clear();
    for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);

    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), LaterFirst{});
      const Candidate c = heap.back();
      heap.pop_back();
      Symbol& left = symbols[c.pos];
      // Stale when either side has merged since: a merge changes the left symbol's id, and a
      // right neighbour only changes by merging (its id changes) or being absorbed (left changes).
      if (!left.alive || left.id != c.left_id || left.next < 0 ||
          symbols[left.next].id != c.right_id)
        continue;
      Symbol& right = symbols[left.next];
      left.id = model.merges.find(BpeModel::key(c.left_id, c.right_id))->second.result;
      right.alive = false;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = c.pos;
      push_pair(left.prev);
      push_pair(c.pos);
    }
    // A symbol's index is the offset of its first byte (merges keep the left index).
    for (int32_t i = 0; i >= 0; i = symbols[i].next)
      emit(symbols[i].id, static_cast<uint8_t>(word[i]));
  }
};

}  // namespace

void Tokenizer::Impl::init_byte_level() {
  // Decoding turns GPT-2 characters back into bytes. UserDefined tokens are plain text (they are
  // matched in the raw input), and so is any token that contains a non-byte character.
  vocab.add_space_prefix = false;
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const TokenType type = vocab.types[i];
    if (type == TokenType::Control || type == TokenType::Byte || type == TokenType::Unknown)
      continue;
    pieces[i].clear();
    if (type == TokenType::UserDefined || !byte_unicode::decode(vocab.tokens[i], pieces[i]))
      pieces[i] = vocab.tokens[i];
  }

  auto model = std::make_shared<BpeModel>();
  model->pre = std::make_unique<PreTokenizer>(vocab.pre_tokenizer);
  model->ignore_merges = vocab.ignore_merges;
  auto find_token = [this](std::string_view text) -> int32_t {
    const auto it = all_tokens.find(text);
    if (it == all_tokens.end() || vocab.types[it->second] == TokenType::Control) return -1;
    return it->second;
  };
  for (int b = 0; b < 256; ++b)
    model->byte_token[b] = find_token(byte_unicode::encode_byte(static_cast<uint8_t>(b)));

  if (vocab.merges.size() > static_cast<size_t>(INT32_MAX))
    throw Error(ErrorKind::BadFile, "tokenizer: too many merges");
  model->merges.reserve(vocab.merges.size());
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string_view merge = vocab.merges[rank];
    const size_t space = merge.find(' ');
    auto bad = [&](const char* why) {
      return Error(ErrorKind::BadFile, "tokenizer: merge " + std::to_string(rank) + " '" +
                                           std::string(merge) + "' " + why);
    };
    if (space == std::string_view::npos || space == 0 || space + 1 == merge.size() ||
        merge.find(' ', space + 1) != std::string_view::npos)
      throw bad("is not two token texts separated by one space");
    const std::string_view a = merge.substr(0, space), b = merge.substr(space + 1);
    const int32_t left = find_token(a), right = find_token(b);
    const int32_t result = find_token(std::string(a) + std::string(b));
    if (left < 0 || right < 0 || result < 0) throw bad("names a token missing from the vocabulary");
    // A repeated pair keeps its first (lowest) rank.
    model->merges.emplace(BpeModel::key(left, right),
                          BpeModel::Merge{static_cast<int32_t>(rank), result});
  }
  bpe = std::move(model);
}

void Tokenizer::Impl::encode_byte_level(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::string normalized;
  if (bpe->pre->nfc()) {
    normalized = nfc_normalize(text);
    text = normalized;
  }
  std::vector<std::string_view> words;
  bpe->pre->split(text, words);
  WordEncoder encoder{*this, *bpe, out, {}, {}, {}};
  for (std::string_view word : words) encoder.encode(word);
}

}  // namespace minillm
