// The grammar as a lazily built deterministic automaton over bytes.
//
// A position in the grammar is a stack: the element to match next (a character set) on top of
// the return positions of the rules it is inside. Stacks are interned as nodes (element, parent),
// so equal stacks are one id and shared tails are stored once; a rule reference that ends its
// alternative pushes no return position (a tail call), so repetitions keep the stack flat.
// A state is the set of stacks the text so far may have reached, plus the bytes of a UTF-8
// character read so far; states are interned too, and each state's successor for each byte is
// computed once and remembered. Not thread-safe (GrammarConstraint locks around it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grammar/grammar_rules.h"

namespace minillm::grammar {

class StackAutomaton {
 public:
  static constexpr int32_t kDead = 0;  // the state with no stacks: nothing matches any more

  explicit StackAutomaton(const Grammar::Impl& grammar);

  int32_t initial() const { return initial_; }
  int32_t next(int32_t state, uint8_t byte) {
    const size_t at = size_t(state) * 256 + byte;
    if (transitions_[at] < 0) {
      const int32_t t = compute_next(state, byte);  // may grow transitions_
      transitions_[at] = t;
    }
    return transitions_[at];
  }
  int32_t next(int32_t state, std::string_view bytes) {
    for (char c : bytes) {
      if (state == kDead) break;
      state = next(state, uint8_t(c));
    }
    return state;
  }
  // The text so far is a complete match (not inside a UTF-8 character).
  bool accepting(int32_t state) const { return states_[size_t(state)].accepting; }
  // Some character may follow.
  bool can_continue(int32_t state) const { return states_[size_t(state)].n_tops > 0; }
  size_t n_states() const { return states_.size(); }

 private:
  static constexpr uint32_t kEmptyStack = 0;  // node id of the empty stack (the match is complete)

  struct Node {
    uint32_t element, parent;
  };
  struct State {
    std::vector<uint32_t> stacks;  // sorted node ids; kEmptyStack when the match may end here
    uint32_t partial = 0;          // bits of the UTF-8 character read so far
    uint8_t pending = 0;           // its continuation bytes still to come
    uint8_t length = 0;            // its length in bytes
    bool accepting = false;
    uint32_t n_tops = 0;  // stacks other than the empty one
  };

  uint32_t node(uint32_t element, uint32_t parent);
  // Adds to `out` the stacks whose top is a character set, reachable from the stack with
  // `element` on top of `parent` by entering rules and returning from finished ones.
  void expand(uint32_t element, uint32_t parent, std::vector<uint32_t>& out);
  // The stacks after matching code point `c` at the top of each of `stacks`.
  std::vector<uint32_t> advance(const std::vector<uint32_t>& stacks, uint32_t c);
  // The stacks whose top may match a code point in [lo, hi] (a character in progress).
  std::vector<uint32_t> filter(const std::vector<uint32_t>& stacks, uint32_t lo, uint32_t hi);
  int32_t intern(std::vector<uint32_t> stacks, uint32_t partial = 0, uint8_t pending = 0,
                 uint8_t length = 0);
  int32_t compute_next(int32_t state, uint8_t byte);

  const Grammar::Impl& g_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> node_ids_;
  std::vector<State> states_;
  std::unordered_map<std::string, int32_t> state_ids_;
  std::vector<int32_t> transitions_;  // 256 per state; -1 = not computed yet
  int32_t initial_ = kDead;
  // Scratch for expand().
  std::vector<std::pair<uint32_t, uint32_t>> work_;
  std::unordered_map<uint64_t, bool> seen_;
};

}  // namespace minillm::grammar
