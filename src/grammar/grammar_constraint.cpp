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
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "grammar/grammar_vocabulary.h"
#include "grammar/stack_automaton.h"
#include "kernels/ops/token_mask.h"
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
  std::vector<uint64_t> scratch;  // walk_all()'s mask
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
  //
  // kDense, for a walk that accepts most of the vocabulary (inside a string): `allowed` starts
  // with every token that has a text, the walk clears those it rejects, and it decides subtrees
  // whole where it can (accept_whole()).
  template <bool kDense>
  void walk(int32_t start, std::vector<uint64_t>& allowed, std::vector<uint32_t>* needs_context,
            uint32_t first = 0, uint32_t end = UINT32_MAX) {
    const GrammarVocabulary::Impl& v = vocab->impl();
    const size_t words = n_words();
    allowed.resize(words + 1);  // a spare bit: nodes that are no token set bit n_vocab
    const auto clear_below = [&](size_t j) {  // kDense: the tokens of node j's subtree
      for (uint32_t i = v.first_token[j]; i < v.first_token[v.skip[j]]; ++i)
        allowed[size_t(v.order[i]) / 64] &= ~(uint64_t(1) << (v.order[i] % 64));
    };
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
        if constexpr (kDense) clear_below(j);
        lane.j = v.skip[j];
        return;
      }
      if constexpr (kDense) {
        if (node.bulk && accept_whole(entry | (above & kLeft), uint32_t(j), bits)) {
          lane.j = v.skip[j];
          return;
        }
      } else {
        bits[size_t(node.token) / 64] |= uint64_t(1) << (node.token % 64);
      }
      lane.state_at[d] = entry | (above & kLeft);
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

  // Subtrees decided whole. Inside a string nearly every character leads to the same next state
  // (the same state again, or the next of at most n characters), so a subtree whose texts past
  // its prefix are made only of such characters is decided without a walk: from the state at its
  // top, every character of the groups below it (GrammarVocabulary's below_groups) leads to one
  // same state, and from there again, for as many characters as its texts have (below_chars),
  // or until a state where every one of them is rejected (the end of a string of at most n
  // characters): then exactly the texts that end before it are accepted.
  //
  // Per state: its plain groups (those whose characters all lead to `next`, the live state most
  // groups lead to) and its dead ones; and along the run of next states from it, `run[i]`: the
  // groups plain for i + 1 characters in a row, and `run_state[i]`: the state after them.
  static constexpr int kRun = 32;
  struct Plain {
    uint64_t groups = 0, dead = 0;
    int32_t next = StackAutomaton::kDead;
    bool has_run = false;
    uint64_t run[kRun];
    int32_t run_state[kRun];
  };
  std::vector<int32_t> plain_index;  // by state: its entry of `plains`, or -1
  std::vector<Plain> plains;

  size_t plain_of(int32_t state) {
    if (plain_index.size() <= size_t(state)) plain_index.resize(automaton.n_states(), -1);
    if (plain_index[size_t(state)] >= 0) return size_t(plain_index[size_t(state)]);
    using V = GrammarVocabulary::Impl;
    constexpr int32_t kUnseen = -2, kMixed = -1;  // kMixed: the group's characters lead apart
    int32_t target[64];
    std::fill_n(target, 64, kUnseen);
    if (!automaton.in_character(state)) {
      for (int b = 0; b < 128; ++b) {
        int32_t& t = target[V::ascii_group(uint8_t(b))];
        const int32_t next = automaton.next(state, uint8_t(b));
        t = t == kUnseen || t == next ? next : kMixed;
      }
      target[V::kNonAscii] = automaton.non_ascii_next(state);
    }
    Plain p;
    int best = 0;
    for (int g = 0; g < 64; ++g) {
      if (target[g] == StackAutomaton::kDead) p.dead |= uint64_t(1) << g;
      if (target[g] <= StackAutomaton::kDead) continue;
      int count = 0;
      for (int h = 0; h < 64; ++h) count += target[h] == target[g];
      if (count > best) best = count, p.next = target[g];
    }
    for (int g = 0; g < 64; ++g)
      if (best > 0 && target[g] == p.next) p.groups |= uint64_t(1) << g;
    if (plain_index.size() <= size_t(state)) plain_index.resize(automaton.n_states(), -1);
    plain_index[size_t(state)] = int32_t(plains.size());
    plains.push_back(p);
    return plains.size() - 1;
  }

  const Plain& run_of(int32_t state) {
    const size_t at = plain_of(state);
    if (plains[at].has_run) return plains[at];
    uint64_t run[kRun];
    int32_t run_state[kRun];
    uint64_t groups = ~uint64_t(0);
    int32_t s = state;
    for (int i = 0; i < kRun; ++i) {
      const Plain p = plains[plain_of(s)];
      groups &= p.groups;
      run[i] = groups;
      run_state[i] = s;
      if (groups != 0 && p.next != s) s = p.next;  // else the same from here on
    }
    Plain& p = plains[at];
    std::copy_n(run, kRun, p.run);
    std::copy_n(run_state, kRun, p.run_state);
    p.has_run = true;
    return p;
  }

  // Decides every token below trie node j from `entry` (the state after j's prefix, flagged
  // when the prefix reached kContext) without a walk, when it can: clears the bits of those
  // rejected (a dense walk, see walk()) and returns true. A text rejected after it reached kContext
  // is for the whole stack to decide (see walk()): then no text is rejected here.
  __attribute__((noinline)) bool accept_whole(int32_t entry, uint32_t j, uint64_t* bits) {
    const GrammarVocabulary::Impl& v = vocab->impl();
    const int32_t state = entry & StackAutomaton::kEntryState;
    const uint64_t groups = v.below_groups[j];
    const size_t chars = v.below_chars[j];
    // The characters every text below j may have and still be accepted.
    const Plain& run = run_of(state);
    size_t fit = 0;
    while (fit < std::min<size_t>(chars, kRun) && (groups & ~run.run[fit]) == 0) ++fit;
    uint32_t limit = 255;  // accept the texts of at most this many characters in all
    if (fit < chars) {
      // Unless no character below goes on from where the run ends.
      if (fit == kRun || (entry & StackAutomaton::kEntryContext) ||
          std::any_of(run.run_state, run.run_state + fit + 1,
                      [&](int32_t s) { return automaton.reaches_context(s); }))
        return false;
      const int32_t end = run.run_state[fit];  // `run` moves when plain_of() adds a state
      if ((groups & ~plains[plain_of(end)].dead) != 0) return false;
      limit = v.prefix_chars[j] + uint32_t(fit);
    }
    if (limit < 255) clear_longer(v.first_token[j], v.first_token[v.skip[j]], limit, bits);
    return true;
  }

  // Clears the bits of the sorted tokens [begin, end) that have more than `limit` characters:
  // the few long ones, found 8 lengths at a time.
  void clear_longer(uint32_t begin, uint32_t end, uint32_t limit, uint64_t* bits) const {
    const GrammarVocabulary::Impl& v = vocab->impl();
    const auto clear = [&](uint32_t i) {
      bits[size_t(v.order[i]) / 64] &= ~(uint64_t(1) << (v.order[i] % 64));
    };
    uint32_t i = begin;
    if (limit < 127) {
      // A byte's high bit, once the low 7 bits plus 127 - limit carry into it or it was set:
      // the byte is above limit (no carry crosses into the next byte).
      constexpr uint64_t kOnes = 0x0101010101010101, kHigh = kOnes * 0x80;
      const uint64_t add = kOnes * (127 - limit);
      for (; i + 8 <= end; i += 8) {
        uint64_t x;
        std::memcpy(&x, v.sorted_chars.data() + i, 8);
        for (uint64_t hit = (((x & ~kHigh) + add) | x) & kHigh; hit; hit &= hit - 1)
          clear(i + uint32_t(__builtin_ctzll(hit)) / 8);
      }
    }
    for (; i < end; ++i)
      if (v.sorted_chars[i] > limit) clear(i);
  }

  // A walk over the whole vocabulary from `state`, dense when most first bytes are accepted.
  void walk_all(int32_t state, std::vector<uint64_t>& allowed,
                std::vector<uint32_t>* needs_context) {
    const GrammarVocabulary::Impl& v = vocab->impl();
    size_t first_bytes = 0, accepted = 0;
    for (uint32_t j = 0; j < v.n_nodes(); j = v.skip[j], ++first_bytes)
      accepted += automaton.next(state, v.nodes[j].byte) != StackAutomaton::kDead;
    if (2 * accepted < first_bytes) return walk<false>(state, allowed, needs_context);
    scratch = v.text_tokens;
    walk<true>(state, scratch, needs_context);
    for (size_t w = 0; w < n_words(); ++w) allowed[w] |= scratch[w];
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
    walk_all(automaton.state_of(truncated_stack), local.allowed, &local.needs_context);
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
      walk_all(state, mask, nullptr);
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
        if (above != StackAutomaton::kDead) walk<false>(above, mask, nullptr, node, v.skip[node]);
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
