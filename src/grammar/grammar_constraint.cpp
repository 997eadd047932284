// Token masks: which tokens of a vocabulary may come next in a grammar state.
//
// The token texts form a trie (GrammarVocabulary): a walk over it checks every shared prefix
// once, and a prefix the grammar rejects skips every token that starts with it. Such a walk is
// done once per grammar position (a stack cut to its top entries) and shared by every context
// it appears in: only the subtrees whose text reaches below the cut are walked again from the
// whole stack. The automaton remembers its transitions and the constraint each state's mask, so
// a state seen before costs one copy.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "grammar/grammar_vocabulary.h"
#include "grammar/stack_automaton.h"
#include "kernels/token_mask.h"
#include "minillm/error.h"
#include "minillm/grammar.h"

namespace minillm {

namespace {

using grammar::StackAutomaton;

void set_bit(std::vector<uint64_t>& bits, int32_t id) {
  bits[size_t(id) / 64] |= uint64_t(1) << (id % 64);
}
bool has_bit(const std::vector<uint64_t>& bits, int32_t id) {
  return (bits[size_t(id) / 64] >> (id % 64)) & 1;
}

}  // namespace

struct GrammarConstraint::Impl {
  // Stacks are cut to this many entries for the masks shared between contexts: deep enough that
  // few tokens (a string's closing quote and what follows it, ...) need the rest of the stack.
  static constexpr int kKnownDepth = 3;
  static constexpr size_t kMaxMaskBytes = size_t(64) << 20;  // then a cache starts over

  // The tokens a truncated stack allows whatever lies below it, and those that reach below it
  // (then the whole stack decides).
  struct LocalMask {
    std::vector<uint64_t> allowed;
    std::vector<uint32_t> needs_context;  // trie nodes: every token below them
  };

  Impl(Grammar g, std::shared_ptr<const GrammarVocabulary> vocabulary)
      : grammar(std::move(g)), vocab(std::move(vocabulary)), automaton(grammar.impl()) {}

  Grammar grammar;
  std::shared_ptr<const GrammarVocabulary> vocab;
  std::mutex mutex;
  StackAutomaton automaton;
  std::unordered_map<uint32_t, LocalMask> local_masks;  // by truncated stack
  size_t local_bytes = 0;
  std::unordered_map<int32_t, std::vector<uint64_t>> masks;  // by state
  size_t mask_bytes = 0;
  // walk(): the state after each prefix length, with StackAutomaton::kEntryContext set when the
  // prefix up to there reached kContext
  std::vector<int32_t> at;
  static constexpr size_t kLanes = 2;

  size_t n_words() const { return (size_t(vocab->n_vocab()) + 63) / 64; }

  // Sets the bit of every token the automaton accepts from `start` (the state after the prefix
  // above trie node `first`; the whole trie by default) among the tokens below nodes
  // [first, end). With `needs_context`, the subtrees rejected after the text reached kContext
  // go there instead.
  //
  // One pass over the trie's nodes in depth-first order: a node's state is its parent's (the
  // state at one byte less of depth) advanced by its byte, and a rejected prefix skips its
  // subtree. Neighbours in that order mostly share their states, so the rows they read are
  // already in the nearest cache.
  void walk(int32_t start, std::vector<uint64_t>& allowed, std::vector<uint32_t>* needs_context,
            uint32_t first = 0, uint32_t end = UINT32_MAX) {
    const GrammarVocabulary::Impl& v = vocab->impl();
    const size_t words = n_words();
    allowed.resize(words + 1);  // a spare bit: nodes that are no token set bit n_vocab
    at.resize(kLanes * (v.max_length + 1));
    // The loop keeps every address in a register: none of these tables moves during the walk.
    uint64_t* const bits = allowed.data();
    const int32_t* const table = automaton.transition_table();
    const size_t width = automaton.row_width();
    const uint16_t* const column = automaton.byte_columns();
    const GrammarVocabulary::Impl::Node* const nodes = v.nodes.data();
    const size_t n = std::min<size_t>(end, v.n_nodes());
    constexpr int32_t kLeft = StackAutomaton::kEntryContext;
    // A walk goes down kLanes equal runs of the nodes in turn: a node waits for its parent's
    // step (a store, a load, a table lookup), and the other runs' steps fill that wait. A run
    // starts with the states of the path above its first node.
    struct Lane {
      size_t j, end;
      int32_t* state_at;
    };
    Lane lanes[kLanes];
    const int32_t start_entry = start | (automaton.reaches_context(start) ? kLeft : 0);
    const size_t used = n - first >= 4096 ? kLanes : 1;  // a small subtree: not worth the paths
    for (size_t l = 0; l < kLanes; ++l) {
      Lane& lane = lanes[l];
      lane = {first + (n - first) * std::min(l, used) / used,
              first + (n - first) * std::min(l + 1, used) / used,
              at.data() + l * (v.max_length + 1)};
      if (lane.j >= lane.end) continue;
      const size_t depth = nodes[lane.j].depth, top = nodes[first].depth - 1;
      const std::string_view path = v.sorted_piece(v.first_token[lane.j]);
      lane.state_at[top] = start_entry;
      for (size_t q = top + 1; q < depth; ++q) {  // kDead below a rejected prefix
        const int32_t above = lane.state_at[q - 1];
        const int32_t s = automaton.next(above & StackAutomaton::kEntryState, uint8_t(path[q - 1]));
        const bool left =
            s != StackAutomaton::kDead && ((above & kLeft) || automaton.reaches_context(s));
        lane.state_at[q] = s | (left ? kLeft : 0);
      }
    }
    const auto step = [&](Lane & lane) __attribute__((always_inline)) {
      const size_t j = lane.j;
      const GrammarVocabulary::Impl::Node node = nodes[j];
      const size_t d = node.depth;
      const int32_t above = lane.state_at[d - 1];
      const int32_t from = above & StackAutomaton::kEntryState;
      int32_t entry = table[size_t(from) * width + column[node.byte]];
      if (entry < 0) entry = automaton.fill(from, node.byte);
      if (entry == StackAutomaton::kDead) {  // so is every token that starts with this prefix
        if (needs_context && (above & kLeft)) needs_context->push_back(uint32_t(j));
        lane.j = v.skip[j];
        return;
      }
      lane.state_at[d] = entry | (above & kLeft);
      bits[size_t(node.token) / 64] |= uint64_t(1) << (node.token % 64);
      lane.j = j + 1;
    };
    static_assert(kLanes == 2);
    while (lanes[0].j < lanes[0].end && lanes[1].j < lanes[1].end) {
      step(lanes[0]);
      step(lanes[1]);
    }
    for (Lane& lane : lanes)
      while (lane.j < lane.end) step(lane);
    allowed[size_t(v.n_vocab) / 64] &= ~(uint64_t(1) << (v.n_vocab % 64));
    allowed.resize(words);
  }

  // A token with the same text as another is allowed where that one is (the trie holds one).
  void add_same_text(std::vector<uint64_t>& allowed) const {
    for (const auto& [id, same] : vocab->impl().same_text)
      if (has_bit(allowed, id)) set_bit(allowed, same);
  }

  const LocalMask& local_mask(uint32_t truncated_stack) {
    auto it = local_masks.find(truncated_stack);
    if (it != local_masks.end()) return it->second;
    if (local_bytes > kMaxMaskBytes) local_masks.clear(), local_bytes = 0;
    local_bytes += n_words() * 8;
    LocalMask local;
    local.allowed.assign(n_words(), 0);
    walk(automaton.state_of(truncated_stack), local.allowed, &local.needs_context);
    add_same_text(local.allowed);
    return local_masks.emplace(truncated_stack, std::move(local)).first->second;
  }

  // A state allows a token when one of its stacks does; a stack allows what its top entries
  // allow (shared with every stack that has the same top), plus the tokens that reach below
  // them and fit the whole stack.
  void compute_mask(int32_t state, std::vector<uint64_t>& mask) {
    const GrammarVocabulary::Impl& v = vocab->impl();
    mask.assign(n_words(), 0);
    if (automaton.accepting(state))
      for (int32_t id : v.end_ids) set_bit(mask, id);
    if (!automaton.can_continue(state)) return;
    if (automaton.in_character(state)) {  // rare (a character split between tokens): walk all
      walk(state, mask, nullptr);
      add_same_text(mask);
      return;
    }
    const std::vector<uint32_t> stacks = automaton.stacks(state);
    for (uint32_t stack : stacks) {
      if (!StackAutomaton::is_top(stack)) continue;
      const LocalMask& local = local_mask(automaton.truncated(stack, kKnownDepth));
      for (size_t w = 0; w < mask.size(); ++w) mask[w] |= local.allowed[w];
      if (local.needs_context.empty()) continue;
      // The subtrees that reached below the cut, walked again from the whole stack: first the
      // prefix above each subtree, then the subtree itself.
      const int32_t whole = automaton.state_of(stack);
      for (uint32_t node : local.needs_context) {
        const std::string_view prefix =
            v.sorted_piece(v.first_token[node]).substr(0, v.nodes[node].depth - 1u);
        const int32_t above = automaton.next(whole, prefix);
        if (above != StackAutomaton::kDead) walk(above, mask, nullptr, node, v.skip[node]);
      }
    }
    add_same_text(mask);
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
size_t GrammarConstraint::memory_bytes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->automaton.memory_bytes() + impl_->local_bytes + impl_->mask_bytes;
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
  const bool any = kernels::mask_tokens(logits.data(), mask.data(), logits.size());
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
