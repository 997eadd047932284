#include "grammar/grammar_vocabulary.h"

#include <algorithm>

#include "minillm/error.h"
#include "minillm/tokenizer.h"

namespace minillm {

GrammarVocabulary::GrammarVocabulary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrammarVocabulary::~GrammarVocabulary() = default;
int32_t GrammarVocabulary::n_vocab() const {
  return impl_->n_vocab;
}

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
      open.push_back(uint32_t(dfs.size()));
      dfs.push_back({uint32_t(d + 1), 0, uint32_t(i), uint8_t(s[d]),
                     d + 1 == s.size() ? v->order[i] : v->n_vocab});
    }
  }
  for (uint32_t j : open) dfs[j].skip = uint32_t(dfs.size());
  if (max_length > UINT16_MAX) throw Error("grammar: a token of over 65535 bytes");
  v->max_length = max_length;
  for (const DfsNode& node : dfs) {
    v->nodes.push_back({node.token, uint16_t(node.depth), node.byte});
    v->skip.push_back(node.skip);
    v->first_token.push_back(node.first_token);
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
