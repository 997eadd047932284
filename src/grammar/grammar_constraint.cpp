// Token masks: which tokens of a vocabulary may come next in a grammar state.
//
// The token texts are sorted, so tokens sharing a prefix are neighbours; walking them in order
// with the automaton state after each prefix length kept on a small stack checks every shared
// prefix once (a walk over the vocabulary's trie without building it), and a prefix the grammar
// rejects skips every token that starts with it. The automaton remembers its transitions and the
// constraint remembers each state's mask, so a state seen before costs one copy.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "grammar/stack_automaton.h"
#include "minillm/error.h"
#include "minillm/grammar.h"

namespace minillm {

struct GrammarVocabulary::Impl {
  int32_t n_vocab = 0;
  std::vector<std::string> pieces;  // bytes of each token; empty = never produced by a grammar
  std::vector<int32_t> order;       // ids with a piece, sorted by piece
  std::vector<uint32_t> shared;     // bytes order[i] shares with order[i - 1]
  std::vector<int32_t> end_ids;     // end-of-generation tokens
  size_t max_length = 0;
};

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
    const TokenType type = tokenizer.token_type(id);
    if (type == TokenType::Control || type == TokenType::Unknown || type == TokenType::Unused)
      continue;
    v->pieces[size_t(id)] = tokenizer.token_to_piece(id);
    if (!v->pieces[size_t(id)].empty()) v->order.push_back(id);
  }
  const auto& p = v->pieces;
  std::sort(v->order.begin(), v->order.end(),
            [&](int32_t a, int32_t b) { return p[size_t(a)] < p[size_t(b)]; });
  v->shared.resize(v->order.size(), 0);
  for (size_t i = 0; i < v->order.size(); ++i) {
    const std::string& s = p[size_t(v->order[i])];
    v->max_length = std::max(v->max_length, s.size());
    if (i == 0) continue;
    const std::string& prev = p[size_t(v->order[i - 1])];
    const auto mismatch = std::mismatch(s.begin(), s.end(), prev.begin(), prev.end());
    v->shared[i] = uint32_t(mismatch.first - s.begin());
  }
  return std::make_shared<const GrammarVocabulary>(std::move(v));
}

struct GrammarConstraint::Impl {
  Impl(Grammar g, std::shared_ptr<const GrammarVocabulary> vocabulary)
      : grammar(std::move(g)), vocab(std::move(vocabulary)), automaton(grammar.impl()) {}

  Grammar grammar;
  std::shared_ptr<const GrammarVocabulary> vocab;
  std::mutex mutex;
  grammar::StackAutomaton automaton;
  std::unordered_map<int32_t, std::vector<uint64_t>> masks;
  size_t mask_bytes = 0;
  static constexpr size_t kMaxMaskBytes = size_t(64) << 20;  // then the cache starts over

  size_t n_words() const { return (size_t(vocab->n_vocab()) + 63) / 64; }

  void compute_mask(int32_t state, std::vector<uint64_t>& mask) {
    const GrammarVocabulary::Impl& v = vocab->impl();
    mask.assign(n_words(), 0);
    if (automaton.accepting(state))
      for (int32_t id : v.end_ids) mask[size_t(id) / 64] |= uint64_t(1) << (id % 64);
    if (!automaton.can_continue(state)) return;
    // at[d]: the state after the first d bytes of the current token (valid for d <= depth).
    std::vector<int32_t> at(v.max_length + 1);
    at[0] = state;
    size_t depth = 0;
    const size_t n = v.order.size();
    for (size_t i = 0; i < n;) {
      const int32_t id = v.order[i];
      const std::string& piece = v.pieces[size_t(id)];
      size_t d = std::min<size_t>(v.shared[i], depth);
      int32_t s = at[d];
      while (d < piece.size()) {
        s = automaton.next(s, uint8_t(piece[d]));
        if (s == grammar::StackAutomaton::kDead) break;
        at[++d] = s;
      }
      depth = d;
      if (s != grammar::StackAutomaton::kDead) {
        mask[size_t(id) / 64] |= uint64_t(1) << (id % 64);
        ++i;
        continue;
      }
      // The first d + 1 bytes are rejected: so is every following token that starts with them.
      for (++i; i < n && v.shared[i] > d; ++i) {
      }
    }
  }

  void mask_of(int32_t state, std::vector<uint64_t>& out) {
    std::lock_guard lock(mutex);
    auto it = masks.find(state);
    if (it == masks.end()) {
      std::vector<uint64_t> mask;
      compute_mask(state, mask);
      if (mask_bytes > kMaxMaskBytes) masks.clear(), mask_bytes = 0;
      mask_bytes += mask.size() * 8;
      it = masks.emplace(state, std::move(mask)).first;
    }
    out = it->second;
  }

  int32_t next(int32_t state, std::string_view bytes) {
    std::lock_guard lock(mutex);
    return automaton.next(state, bytes);
  }
  bool accepting(int32_t state) {
    std::lock_guard lock(mutex);
    return automaton.accepting(state);
  }
  bool can_continue(int32_t state) {
    std::lock_guard lock(mutex);
    return automaton.can_continue(state);
  }
  bool is_end(int32_t token) const {
    return std::binary_search(vocab->impl().end_ids.begin(), vocab->impl().end_ids.end(), token);
  }
};

GrammarConstraint::GrammarConstraint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrammarConstraint::~GrammarConstraint() = default;

std::shared_ptr<GrammarConstraint> GrammarConstraint::create(Grammar grammar,
                                                             const Tokenizer& tokenizer) {
  return create(std::move(grammar), GrammarVocabulary::build(tokenizer));
}

std::shared_ptr<GrammarConstraint> GrammarConstraint::create(
    Grammar grammar, std::shared_ptr<const GrammarVocabulary> vocabulary) {
  if (!vocabulary) throw Error("GrammarConstraint::create: no vocabulary");
  return std::shared_ptr<GrammarConstraint>(
      new GrammarConstraint(std::make_unique<Impl>(std::move(grammar), std::move(vocabulary))));
}

const Grammar& GrammarConstraint::grammar() const {
  return impl_->grammar;
}
int32_t GrammarConstraint::n_vocab() const {
  return impl_->vocab->n_vocab();
}

// ---- GrammarMatcher ----

GrammarMatcher::GrammarMatcher(std::shared_ptr<GrammarConstraint> constraint)
    : constraint_(std::move(constraint)) {
  if (!constraint_) throw Error("GrammarMatcher: no grammar constraint");
  reset();
}

void GrammarMatcher::reset() {
  state_ = constraint_->impl().automaton.initial();
  ended_ = false;
  mask_state_ = -1;
}

const std::vector<uint64_t>& GrammarMatcher::allowed_tokens() {
  if (ended_) {
    allowed_.assign((size_t(constraint_->n_vocab()) + 63) / 64, 0);
    mask_state_ = -1;
  } else if (mask_state_ != state_) {
    constraint_->impl().mask_of(state_, allowed_);
    mask_state_ = state_;
  }
  return allowed_;
}

bool GrammarMatcher::is_allowed(int32_t token) {
  if (ended_ || token < 0 || token >= constraint_->n_vocab()) return false;
  if (mask_state_ == state_) return (allowed_[size_t(token) / 64] >> (token % 64)) & 1;
  auto& c = constraint_->impl();
  if (c.is_end(token)) return c.accepting(state_);
  const std::string& piece = c.vocab->impl().pieces[size_t(token)];
  return !piece.empty() && c.next(state_, piece) != grammar::StackAutomaton::kDead;
}

void GrammarMatcher::apply(std::span<float> logits) {
  if (logits.size() != size_t(constraint_->n_vocab()))
    throw Error("grammar: " + std::to_string(logits.size()) + " logits for a vocabulary of " +
                std::to_string(constraint_->n_vocab()) + " tokens");
  const auto& mask = allowed_tokens();
  bool any = false;
  for (size_t w = 0; w < mask.size(); ++w) {
    const uint64_t bits = mask[w];
    any |= bits != 0;
    if (bits == ~uint64_t(0)) continue;
    const size_t end = std::min(logits.size(), w * 64 + 64);
    for (size_t t = w * 64; t < end; ++t)
      if (!((bits >> (t % 64)) & 1)) logits[t] = -INFINITY;
  }
  if (!any)
    throw Error(
        "grammar: no token of the vocabulary can continue the text here (the grammar "
        "needs a character the vocabulary cannot write)");
}

void GrammarMatcher::accept(int32_t token) {
  if (!is_allowed(token))
    throw Error("grammar: token " + std::to_string(token) + " is not allowed here");
  auto& c = constraint_->impl();
  if (c.is_end(token))
    ended_ = true;
  else
    state_ = c.next(state_, c.vocab->impl().pieces[size_t(token)]);
}

bool GrammarMatcher::accept_text(std::string_view text) {
  if (ended_) return false;
  const int32_t s = constraint_->impl().next(state_, text);
  if (s == grammar::StackAutomaton::kDead) return false;
  state_ = s;
  return true;
}

bool GrammarMatcher::can_end() const {
  return ended_ || constraint_->impl().accepting(state_);
}
bool GrammarMatcher::is_complete() const {
  return ended_ || (can_end() && !constraint_->impl().can_continue(state_));
}
bool GrammarMatcher::ended() const {
  return ended_;
}

}  // namespace minillm
