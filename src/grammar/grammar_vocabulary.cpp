#include "grammar/grammar_vocabulary.h"

#include <algorithm>

#include "grammar/grammar_rules.h"
#include "minillm/error.h"
#include "minillm/tokenizer.h"

namespace minillm {

GrammarVocabulary::GrammarVocabulary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrammarVocabulary::~GrammarVocabulary() = default;
int32_t GrammarVocabulary::n_vocab() const {
  return impl_->n_vocab;
}

int GrammarVocabulary::Impl::ascii_group(uint8_t b) {
  if (b == '\t') return 1;
  if (b == '\n') return 2;
  if (b == '\r') return 3;
  if (b < 0x20) return 0;
  if (b <= 0x40) return 4 + (b - 0x20);                // space, punctuation, digits: 4-36
  if (b >= 0x5B && b <= 0x60) return 37 + (b - 0x5B);  // [ \ ] ^ _ `: 37-42
  if (b >= 0x7B) return 43 + (b - 0x7B);               // { | } ~ DEL: 43-47
  if (b >= 'a' && b <= 'f') return 48;
  if (b >= 'a') return 49;
  if (b <= 'F') return 50;
  return 51;
}

namespace {

// A text read one byte at a time from a character boundary, as UTF-8.
struct Utf8Reader {
  uint32_t bits = 0;
  uint8_t pending = 0, length = 0;
  bool bad = false;
  uint32_t chars = 0;  // characters started

  // The reader after `byte`: bad where no valid UTF-8 goes on (as the grammar automaton reads it).
  Utf8Reader then(uint8_t byte) const {
    Utf8Reader r = *this;
    if (r.bad) return r;
    if (r.pending == 0) {
      ++r.chars;
      if (byte < 0x80) return r;
      if ((byte & 0xE0) == 0xC0)
        r.bits = byte & 0x1F, r.length = 2;
      else if ((byte & 0xF0) == 0xE0)
        r.bits = byte & 0x0F, r.length = 3;
      else if ((byte & 0xF8) == 0xF0)
        r.bits = byte & 0x07, r.length = 4;
      else
        return r.bad = true, r;
      r.pending = uint8_t(r.length - 1);
    } else {
      if ((byte & 0xC0) != 0x80) return r.bad = true, r;
      r.bits = r.bits << 6 | (byte & 0x3F);
      --r.pending;
    }
    const auto [lo, hi] = grammar::utf8_code_points(r.bits, r.pending, r.length);
    r.bad = lo > hi || (lo >= 0xD800 && hi <= 0xDFFF);
    return r;
  }
};

}  // namespace

std::shared_ptr<const GrammarVocabulary> GrammarVocabulary::build(const Tokenizer& tokenizer) {
  auto v = std::make_unique<Impl>();
  v->n_vocab = tokenizer.n_vocab();
  v->pieces.resize(size_t(v->n_vocab));
  for (int32_t id = 0; id < v->n_vocab; ++id) {
    if (tokenizer.is_end_of_generation(id)) {
      v->end_ids.push_back(id);
      continue;
    }
    // Control, unknown and unused tokens never stand for text the model should write.
    const TokenType type = tokenizer.token_type(id);
    if (type == TokenType::Control || type == TokenType::Unknown || type == TokenType::Unused)
      continue;
    v->pieces[size_t(id)] = tokenizer.token_to_piece(id);
    if (!v->pieces[size_t(id)].empty()) v->order.push_back(id);
  }
  const auto& p = v->pieces;
  std::sort(v->order.begin(), v->order.end(),
            [&](int32_t a, int32_t b) { return p[size_t(a)] < p[size_t(b)]; });
  const size_t n = v->order.size();
  if (n >= size_t(UINT32_MAX / 2)) throw Error("grammar: vocabulary too large");
  // First the trie in depth-first order, which is the order of the sorted texts: token i adds a
  // node for each of its bytes past the prefix it shares with token i - 1.
  struct DfsNode {
    uint32_t depth, skip, first_token;  // subtree = [this, skip); its tokens from first_token
    uint8_t byte;
    int32_t token;
    uint32_t parent;  // UINT32_MAX: the root
    Utf8Reader utf8;  // after the prefix
  };
  std::vector<DfsNode> dfs;
  std::vector<uint32_t> open;  // the nodes on the path to the current one, by depth - 1
  size_t max_length = 0;
  for (size_t i = 0; i < n; ++i) {
    const std::string& s = p[size_t(v->order[i])];
    max_length = std::max(max_length, s.size());
    size_t shared = 0;
    if (i > 0) {
      const std::string& prev = p[size_t(v->order[i - 1])];
      shared =
          size_t(std::mismatch(s.begin(), s.end(), prev.begin(), prev.end()).first - s.begin());
    }
    if (i > 0 && shared == s.size()) {  // the same text as the token before
      v->same_text.push_back({dfs[open.back()].token, v->order[i]});
      continue;
    }
    for (; open.size() > shared; open.pop_back()) dfs[open.back()].skip = uint32_t(dfs.size());
    for (size_t d = shared; d < s.size(); ++d) {
      const uint32_t parent = open.empty() ? UINT32_MAX : open.back();
      const Utf8Reader above = open.empty() ? Utf8Reader{} : dfs[parent].utf8;
      open.push_back(uint32_t(dfs.size()));
      dfs.push_back({uint32_t(d + 1), 0, uint32_t(i), uint8_t(s[d]),
                     d + 1 == s.size() ? v->order[i] : v->n_vocab, parent,
                     above.then(uint8_t(s[d]))});
    }
  }
  for (uint32_t j : open) dfs[j].skip = uint32_t(dfs.size());
  if (max_length > UINT16_MAX) throw Error("grammar: a token of over 65535 bytes");
  v->max_length = max_length;
  // What each subtree is made of, children before parents (a node's children follow it).
  std::vector<uint64_t> groups_below(dfs.size(), 0);
  std::vector<uint32_t> chars_upto(dfs.size());  // the most characters of a text in the subtree
  for (size_t j = 0; j < dfs.size(); ++j) chars_upto[j] = dfs[j].utf8.chars;
  for (size_t j = dfs.size(); j-- > 0;) {
    const DfsNode& node = dfs[j];
    if (node.parent == UINT32_MAX) continue;
    const int group = node.utf8.bad      ? Impl::kBadUtf8
                      : node.byte < 0x80 ? Impl::ascii_group(node.byte)
                                         : Impl::kNonAscii;
    groups_below[node.parent] |= groups_below[j] | uint64_t(1) << group;
    chars_upto[node.parent] = std::max(chars_upto[node.parent], chars_upto[j]);
  }
  for (size_t j = 0; j < dfs.size(); ++j) {
    const DfsNode& node = dfs[j];
    const bool bulk = node.skip - j - 1 >= Impl::kBulkNodes && chars_upto[j] < 255 &&
                      !(groups_below[j] >> Impl::kBadUtf8 & 1) && !node.utf8.bad &&
                      node.utf8.pending == 0;
    v->nodes.push_back({node.token, uint16_t(node.depth), node.byte, bulk});
    v->skip.push_back(node.skip);
    v->first_token.push_back(node.first_token);
    v->below_groups.push_back(groups_below[j]);
    v->below_chars.push_back(uint8_t(std::min<uint32_t>(chars_upto[j] - node.utf8.chars, 255)));
    v->prefix_chars.push_back(uint8_t(std::min<uint32_t>(node.utf8.chars, 255)));
  }
  v->text_tokens.assign(v->n_words(), 0);
  for (int32_t id : v->order) v->text_tokens[size_t(id) / 64] |= uint64_t(1) << (id % 64);
  for (size_t i = 0; i < n; ++i) {
    Utf8Reader r;
    for (char c : p[size_t(v->order[i])]) r = r.then(uint8_t(c));
    v->sorted_chars.push_back(uint8_t(std::min<uint32_t>(r.chars, 255)));
  }
  v->first_token.push_back(uint32_t(n));
  v->offset.push_back(0);
  for (int32_t id : v->order) {
    v->sorted += p[size_t(id)];
    v->offset.push_back(uint32_t(v->sorted.size()));
  }
  return std::make_shared<const GrammarVocabulary>(std::move(v));
}

}  // namespace minillm
