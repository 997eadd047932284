#include "grammar/grammar_vocabulary.h"

#include <algorithm>

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
  v->shared.assign(n, 0);
  v->run_offset.assign(n, 0);
  // Runs still open: (prefix length, slot in run_end), innermost last.
  std::vector<std::pair<size_t, size_t>> open;
  for (size_t i = 0; i < n; ++i) {
    const std::string& s = p[size_t(v->order[i])];
    v->max_length = std::max(v->max_length, s.size());
    if (i > 0) {
      const std::string& prev = p[size_t(v->order[i - 1])];
      v->shared[i] =
          uint32_t(std::mismatch(s.begin(), s.end(), prev.begin(), prev.end()).first - s.begin());
    }
    while (!open.empty() && open.back().first > v->shared[i]) {
      v->run_end[open.back().second] = uint32_t(i);
      open.pop_back();
    }
    v->run_offset[i] = uint32_t(v->run_end.size());
    for (size_t d = v->shared[i] + 1; d <= s.size(); ++d) {
      open.push_back({d, v->run_end.size()});
      v->run_end.push_back(0);
    }
  }
  for (const auto& [d, slot] : open) v->run_end[slot] = uint32_t(n);
  v->offset.push_back(0);
  for (int32_t id : v->order) {
    v->sorted += p[size_t(id)];
    v->offset.push_back(uint32_t(v->sorted.size()));
  }
  return std::make_shared<const GrammarVocabulary>(std::move(v));
}

}  // namespace minillm
