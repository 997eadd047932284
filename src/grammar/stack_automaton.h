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
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "grammar/grammar_rules.h"
#include "runtime/reserved_memory.h"

namespace minillm::grammar {

class StackAutomaton {
 public:
  static constexpr int32_t kDead = 0;  // the state with no stacks: nothing matches any more
  // Stands for an unknown rest of the stack (a stack cut short by truncated()); a state holds it
  // when the text may have left the known part.
  static constexpr uint32_t kContext = 1;

  explicit StackAutomaton(const Grammar::Impl& grammar);

  int32_t initial() const { return initial_; }
  // A transition table entry: the next state, with kEntryContext set when that state reaches
  // kContext (what a mask walk needs next to the state); negative while not computed yet.
  static constexpr int32_t kEntryContext = int32_t(1) << 30;
  static constexpr int32_t kEntryState = kEntryContext - 1;

  int32_t next(int32_t state, uint8_t byte) {
    int32_t entry = transitions_[size_t(state) * row_width_ + column_[byte]];
    if (entry < 0) entry = fill(state, byte);
    return entry & kEntryState;
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
  bool reaches_context(int32_t state) const { return reaches_context_[size_t(state)]; }
  // The table behind next(), for loops that keep its address in a register: it never moves
  // (see transitions_).
  // State s's entry for byte b is transition_table()[s * row_width() + byte_columns()[b]].
  const int32_t* transition_table() const { return transitions_; }
  size_t row_width() const { return row_width_; }
  const uint16_t* byte_columns() const { return column_; }
  // The entry of transition_table() for a byte whose entry is still unknown (negative).
  int32_t fill(int32_t state, uint8_t byte);
  // The state after any one character from U+0080 up, when all of them lead to the same state
  // (every stack takes either all of them or none): kDead when no stack takes them, -1 when
  // they differ or `state` is inside a character.
  int32_t non_ascii_next(int32_t state);
  bool in_character(int32_t state) const { return states_[size_t(state)].pending > 0; }
  const std::vector<uint32_t>& stacks(int32_t state) const { return states_[size_t(state)].stacks; }
  size_t n_states() const { return states_.size(); }
  // Bytes held for the states and stack nodes so far (their table rows, stacks and indexes).
  size_t memory_bytes() const;

  // The top `depth` entries of a stack with the rest replaced by kContext (the stack itself when
  // it is not deeper), and the state holding just one stack.
  uint32_t truncated(uint32_t stack, int depth);
  int32_t state_of(uint32_t stack) { return intern({stack}); }
  static bool is_top(uint32_t stack) { return stack > kContext; }

 private:
  static constexpr uint8_t kAnyRest = 0xFF;
  static constexpr uint32_t kEmptyStack = 0;  // node id of the empty stack (the match is complete)

  struct Node {
    uint32_t element, parent;
  };
  struct State {
    std::vector<uint32_t> stacks;  // sorted node ids; kEmptyStack when the match may end here
    uint32_t partial = 0;          // bits of the UTF-8 character read so far
    uint8_t pending = 0;           // its continuation bytes still to come
    uint8_t length = 0;            // its length in bytes; kAnyRest: every stack takes any ending
    bool accepting = false;
    bool reaches_context = false;
    uint32_t n_tops = 0;     // stacks other than the empty one and kContext
    int32_t same_hash = -1;  // the next state with the same content hash
  };

  uint32_t node(uint32_t element, uint32_t parent);
  // Adds to `out` the stacks whose top is a character set, reachable from the stack with
  // `element` on top of `parent` by entering rules and returning from finished ones.
  void expand(uint32_t element, uint32_t parent, std::vector<uint32_t>& out);
  // The stacks after matching code point `c` at the top of each of `stacks`.
  std::vector<uint32_t> advance(const std::vector<uint32_t>& stacks, uint32_t c);
  std::vector<uint32_t> advance_all(const std::vector<uint32_t>& stacks);  // whatever c is
  // The stacks whose top may match a code point in [lo, hi] (a character in progress).
  std::vector<uint32_t> filter(const std::vector<uint32_t>& stacks, uint32_t lo, uint32_t hi);
  int32_t intern(std::vector<uint32_t> stacks, uint32_t partial = 0, uint8_t pending = 0,
                 uint8_t length = 0);
  int32_t compute_next(int32_t state, uint8_t byte);

  const Grammar::Impl& g_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> node_ids_;
  std::vector<State> states_;
  // States by a hash of their content; states with the same hash are chained (State::same_hash).
  std::unordered_map<uint64_t, int32_t> state_ids_;
  // Beyond this many states the grammar is too ambiguous for the tables below.
  static constexpr size_t kMaxStates = size_t(1) << 18;
  // A row per state (-1 = not computed yet), in address space reserved for kMaxStates so that the
  // table never moves and its rows follow each other: the mask walks' inner loop finds a row by
  // arithmetic, not by loading a pointer. Pages are backed as states are added.
  std::unique_ptr<ReservedMemory> transition_memory_;  // kMaxStates rows, made by the constructor
  int32_t* transitions_ = nullptr;
  ReservedMemory context_memory_{kMaxStates, "a grammar's automaton"};
  uint8_t* reaches_context_ = context_memory_.data();  // per state
  int32_t initial_ = kDead;
  size_t stack_entries_ = 0;  // over all states' stacks
  // A row has one column per class of ASCII bytes (bytes in exactly the same character sets of
  // the grammar, which lead from any state to the same state), then one per byte from 0x80:
  // rows stay short, so the rows a mask walk reads fit in the nearest caches.
  uint16_t column_[256];
  size_t row_width_ = 256;
  // Scratch for expand().
  std::vector<std::pair<uint32_t, uint32_t>> work_;
  // (element, parent) pairs expand() has met: a short list scanned in order, then a hash set
  // when an expansion meets many.
  std::vector<uint64_t> seen_list_;
  std::unordered_set<uint64_t> seen_set_;
  bool seen(uint64_t key);  // and remember it
};

}  // namespace minillm::grammar
