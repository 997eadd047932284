#include "grammar/stack_automaton.h"

#include <algorithm>
#include <map>

#include "minillm/error.h"

namespace minillm::grammar {
namespace {

// Beyond these the grammar is too ambiguous to match in reasonable time and memory.
constexpr size_t kMaxNodes = size_t(1) << 24;
constexpr size_t kMaxStacks = 20000;

void sort_unique(std::vector<uint32_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

StackAutomaton::StackAutomaton(const Grammar::Impl& grammar) : g_(grammar) {
  nodes_.push_back({0, 0});  // kEmptyStack
  nodes_.push_back({0, 0});  // kContext
  states_.emplace_back();    // kDead: reaches no context; its row (below) stays all 0 (kDead)
  reaches_context_[0] = 0;
  std::map<std::vector<bool>, uint16_t> classes;
  for (uint32_t c = 0; c < 128; ++c) {
    std::vector<bool> in(g_.charsets.size());
    for (size_t i = 0; i < in.size(); ++i) in[i] = g_.charsets[i].contains(c);
    column_[c] = classes.try_emplace(std::move(in), uint16_t(classes.size())).first->second;
  }
  const size_t n_ascii = classes.size();
  for (uint32_t b = 128; b < 256; ++b) column_[b] = uint16_t(n_ascii + b - 128);
  row_width_ = (n_ascii + 128 + 15) / 16 * 16;  // whole cache lines
  transition_memory_ = std::make_unique<ReservedMemory>(kMaxStates * row_width_ * sizeof(int32_t),
                                                        "a grammar's automaton");
  transitions_ = reinterpret_cast<int32_t*>(transition_memory_->data());
  std::fill_n(transitions_, row_width_, kDead);
  std::vector<uint32_t> stacks;
  for (uint32_t alt : g_.rules[g_.root].alternatives) expand(alt, kEmptyStack, stacks);
  sort_unique(stacks);  // as every state's: the empty stack, when there, comes first
  initial_ = intern(std::move(stacks), 0, 0);
}

uint32_t StackAutomaton::node(uint32_t element, uint32_t parent) {
  const uint64_t key = uint64_t(element) << 32 | parent;
  const auto [it, added] = node_ids_.try_emplace(key, uint32_t(nodes_.size()));
  if (added) {
    if (nodes_.size() >= kMaxNodes)
      throw Error("grammar: too ambiguous (more than " + std::to_string(kMaxNodes) +
                  " stack positions); simplify it");
    nodes_.push_back({element, parent});
  }
  return it->second;
}

void StackAutomaton::expand(uint32_t element, uint32_t parent, std::vector<uint32_t>& out) {
  work_.assign(1, {element, parent});
  seen_list_.clear();
  seen_set_.clear();
  while (!work_.empty()) {
    const auto [e, p] = work_.back();
    work_.pop_back();
    if (seen(uint64_t(e) << 32 | p)) continue;
    const Element& el = g_.elements[e];
    if (el.kind == ElementKind::Chars) {
      out.push_back(node(e, p));
    } else if (el.kind == ElementKind::End) {
      if (p == kEmptyStack || p == kContext)
        out.push_back(p);  // finished the grammar, or left the known part of the stack
      else
        work_.push_back({nodes_[p].element, nodes_[p].parent});
    } else {
      const uint32_t ret = e + 1;
      const uint32_t next_parent = g_.elements[ret].kind == ElementKind::End ? p : node(ret, p);
      for (uint32_t alt : g_.rules[el.value].alternatives) work_.push_back({alt, next_parent});
    }
  }
}

bool StackAutomaton::seen(uint64_t key) {
  constexpr size_t kListed = 32;
  if (seen_list_.size() < kListed) {
    if (std::find(seen_list_.begin(), seen_list_.end(), key) != seen_list_.end()) return true;
    seen_list_.push_back(key);
    return false;
  }
  if (seen_set_.empty()) seen_set_.insert(seen_list_.begin(), seen_list_.end());
  return !seen_set_.insert(key).second;
}

std::vector<uint32_t> StackAutomaton::advance(const std::vector<uint32_t>& stacks, uint32_t c) {
  std::vector<uint32_t> out;
  for (uint32_t s : stacks) {
    if (!is_top(s)) continue;
    const Node n = nodes_[s];
    if (g_.charsets[g_.elements[n.element].value].contains(c)) expand(n.element + 1, n.parent, out);
  }
  sort_unique(out);
  return out;
}

std::vector<uint32_t> StackAutomaton::advance_all(const std::vector<uint32_t>& stacks) {
  std::vector<uint32_t> out;
  for (uint32_t s : stacks)
    if (is_top(s)) expand(nodes_[s].element + 1, nodes_[s].parent, out);
  sort_unique(out);
  return out;
}

std::vector<uint32_t> StackAutomaton::filter(const std::vector<uint32_t>& stacks, uint32_t lo,
                                             uint32_t hi) {
  std::vector<uint32_t> out;
  for (uint32_t s : stacks)
    if (is_top(s) && g_.charsets[g_.elements[nodes_[s].element].value].overlaps(lo, hi))
      out.push_back(s);
  return out;
}

int32_t StackAutomaton::intern(std::vector<uint32_t> stacks, uint32_t partial, uint8_t pending,
                               uint8_t length) {
  if (stacks.empty()) return kDead;
  if (stacks.size() > kMaxStacks)
    throw Error("grammar: too ambiguous (more than " + std::to_string(kMaxStacks) +
                " ways to read the text so far); simplify it");
  uint64_t hash = (uint64_t(partial) << 16 | uint64_t(pending) << 8 | length) * 0x9E3779B97F4A7C15;
  for (uint32_t k : stacks) hash = (hash ^ k) * 0xFF51AFD7ED558CCD, hash ^= hash >> 32;
  const auto [it, added] = state_ids_.try_emplace(hash, int32_t(states_.size()));
  if (!added)
    for (int32_t id = it->second; id >= 0; id = states_[size_t(id)].same_hash) {
      const State& other = states_[size_t(id)];
      if (other.partial == partial && other.pending == pending && other.length == length &&
          other.stacks == stacks)
        return id;
    }
  if (states_.size() >= kMaxStates) {
    if (added) state_ids_.erase(it);
    throw Error("grammar: too ambiguous (more than " + std::to_string(kMaxStates) +
                " automaton states); simplify it");
  }
  const int32_t id = int32_t(states_.size());
  State s;
  s.accepting = pending == 0 && stacks.front() == kEmptyStack;  // sorted: 0 comes first
  s.reaches_context = std::binary_search(stacks.begin(), stacks.end(), kContext);
  s.n_tops = uint32_t(stacks.size()) - (stacks.front() == kEmptyStack ? 1 : 0) -
             (s.reaches_context ? 1 : 0);
  s.stacks = std::move(stacks);
  s.partial = partial;
  s.pending = pending;
  s.length = length;
  if (!added) s.same_hash = std::exchange(it->second, id);
  reaches_context_[states_.size()] = s.reaches_context;
  stack_entries_ += s.stacks.size();
  std::fill_n(transitions_ + states_.size() * row_width_, row_width_, -1);
  states_.push_back(std::move(s));
  return id;
}

size_t StackAutomaton::memory_bytes() const {
  // Per state: its table row, its record and an index entry with its key; per node: the node
  // and its index entry (hash tables cost about twice their entries).
  const size_t per_state = row_width_ * sizeof(int32_t) + 1 + sizeof(State) + 2 * 48;
  return states_.size() * per_state + stack_entries_ * sizeof(uint32_t) * 2 +
         nodes_.size() * (sizeof(Node) + 2 * 24);
}

uint32_t StackAutomaton::truncated(uint32_t stack, int depth) {
  if (!is_top(stack)) return stack;
  if (depth == 0) return kContext;
  return node(nodes_[stack].element, truncated(nodes_[stack].parent, depth - 1));
}

int32_t StackAutomaton::compute_next(int32_t state, uint8_t byte) {
  const State& s = states_[size_t(state)];
  uint32_t bits;
  int pending, length;
  if (s.pending == 0) {
    if (byte < 0x80) return intern(advance(s.stacks, byte));
    if ((byte & 0xE0) == 0xC0)
      bits = byte & 0x1F, length = 2;
    else if ((byte & 0xF0) == 0xE0)
      bits = byte & 0x0F, length = 3;
    else if ((byte & 0xF8) == 0xF0)
      bits = byte & 0x07, length = 4;
    else
      return kDead;  // a continuation byte without a start, or not UTF-8 at all
    pending = length - 1;
  } else if (s.length == kAnyRest) {
    if ((byte & 0xC0) != 0x80) return kDead;
    if (s.pending == 1) return intern(advance_all(s.stacks));
    return intern(s.stacks, 0, uint8_t(s.pending - 1), kAnyRest);
  } else {
    if ((byte & 0xC0) != 0x80) return kDead;
    bits = s.partial << 6 | (byte & 0x3F);
    pending = s.pending - 1;
    length = s.length;
  }
  const auto [lo, hi] = utf8_code_points(bits, pending, length);
  if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF)) return kDead;
  if (pending == 0) return intern(advance(s.stacks, bits));
  // Inside a character: keep the stacks that some code point with these leading bits can match.
  std::vector<uint32_t> kept = filter(s.stacks, lo, hi);
  // Once every ending of these bytes is a valid character (no overlong or surrogate form is
  // left to rule out: all code points that start with these bits are valid) and every stack
  // takes every such character (a string's "anything but a quote"), which character it is no
  // longer matters: one state for all of them keeps the automaton small.
  const uint32_t first = bits << (6 * pending), last = first | ((uint32_t(1) << (6 * pending)) - 1);
  const bool rest_is_free = lo == first && hi == last && (last < 0xD800 || first > 0xDFFF);
  if (rest_is_free && std::all_of(kept.begin(), kept.end(), [&](uint32_t k) {
        return g_.charsets[g_.elements[nodes_[k].element].value].covers(lo, hi);
      }))
    return intern(std::move(kept), 0, uint8_t(pending), kAnyRest);
  return intern(std::move(kept), bits, uint8_t(pending), uint8_t(length));
}

int32_t StackAutomaton::non_ascii_next(int32_t state) {
  if (states_[size_t(state)].pending > 0) return -1;
  std::vector<uint32_t> taking;
  for (uint32_t k : states_[size_t(state)].stacks) {
    if (!is_top(k)) continue;
    const CharSet& set = g_.charsets[g_.elements[nodes_[k].element].value];
    if (set.covers(0x80, kMaxCodepoint))
      taking.push_back(k);
    else if (set.overlaps(0x80, kMaxCodepoint))
      return -1;
  }
  return intern(advance(taking, 0x80));  // kDead when none takes them
}

int32_t StackAutomaton::fill(int32_t state, uint8_t byte) {
  const int32_t next = compute_next(state, byte);
  const int32_t result = next | (reaches_context_[size_t(next)] ? kEntryContext : 0);
  int32_t* const row = transitions_ + size_t(state) * row_width_;
  const State& s = states_[size_t(state)];  // after compute_next: it may add states
  const auto fill_range = [&](int lo, int hi, int32_t to) {
    for (int b = lo; b <= hi; ++b) row[column_[b]] = to;
  };
  const bool continuation = (byte & 0xC0) == 0x80;
  if (s.pending == 0) {
    if (byte < 0x80) {
      row[column_[byte]] = result;              // for the byte's whole class
    } else if (byte <= 0xC1 || byte >= 0xF5) {  // never starts a character
      fill_range(0x80, 0xC1, kDead);
      fill_range(0xF5, 0xFF, kDead);
    } else {
      row[column_[byte]] = result;
    }
  } else if (!continuation) {
    fill_range(0x00, 0x7F, kDead);
    fill_range(0xC0, 0xFF, kDead);
  } else if (s.length == kAnyRest) {
    fill_range(0x80, 0xBF, result);
  } else if (s.pending == 1) {
    // The byte ends the character: other bytes whose code points every stack's set takes or
    // refuses alike (and that are valid alike) lead to the same state.
    const auto signature = [&](uint8_t b, std::vector<uint8_t>& out) {
      const uint32_t c = s.partial << 6 | (b & 0x3F);
      const auto [lo, hi] = utf8_code_points(c, 0, s.length);
      out.assign(1, lo > hi || (lo >= 0xD800 && hi <= 0xDFFF));
      for (uint32_t k : s.stacks)
        if (is_top(k)) out.push_back(g_.charsets[g_.elements[nodes_[k].element].value].contains(c));
    };
    std::vector<uint8_t> mine, other;
    signature(byte, mine);
    for (int b = 0x80; b <= 0xBF; ++b) {
      signature(uint8_t(b), other);
      if (other == mine) row[column_[b]] = result;
    }
  } else {
    row[column_[byte]] = result;
  }
  return result;
}

}  // namespace minillm::grammar
