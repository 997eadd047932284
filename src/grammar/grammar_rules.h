// A compiled grammar: rules whose alternatives are flat runs of elements (a character set, a
// reference to a rule, or the end of the alternative). Groups and repetitions of the GBNF text
// are already expanded into rules of their own, so every element matches one character or one
// rule.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "minillm/grammar.h"

namespace minillm::grammar {

constexpr uint32_t kMaxCodepoint = 0x10FFFF;

// The code points a UTF-8 character of `length` bytes can be when its bytes so far give `bits`
// and `pending` bytes are still to come: [lo, hi], empty (lo > hi) when none is valid (overlong
// forms, beyond U+10FFFF). Surrogates (U+D800-DFFF) are not valid either; callers check.
inline std::pair<uint32_t, uint32_t> utf8_code_points(uint32_t bits, int pending, int length) {
  constexpr uint32_t kShortest[5] = {0, 0, 0x80, 0x800, 0x10000};
  const uint32_t first = bits << (6 * pending);
  const uint32_t lo = first > kShortest[length] ? first : kShortest[length];
  const uint32_t last = first | ((uint32_t(1) << (6 * pending)) - 1);
  return {lo, last < kMaxCodepoint ? last : kMaxCodepoint};
}

struct CharRange {
  uint32_t lo, hi;  // inclusive
  auto operator<=>(const CharRange&) const = default;
};

// Sorted, disjoint, non-adjacent ranges, with a bitmap for ASCII (the common case).
struct CharSet {
  std::vector<CharRange> ranges;
  uint64_t ascii[2] = {0, 0};

  explicit CharSet(std::vector<CharRange> sorted_ranges);
  bool contains(uint32_t c) const;
  bool overlaps(uint32_t lo, uint32_t hi) const;  // some character in [lo, hi] is in the set
  bool covers(uint32_t lo, uint32_t hi) const;    // every character in [lo, hi] is
  bool empty() const { return ranges.empty(); }
};

// Sorts and merges ranges; negated = the complement over all code points.
std::vector<CharRange> normalize_ranges(std::vector<CharRange> ranges, bool negated);

enum class ElementKind : uint8_t { Chars, Rule, End };

struct Element {
  ElementKind kind;
  uint32_t value;  // Chars: charset index; Rule: rule index
};

struct Rule {
  std::string name;
  std::vector<uint32_t> alternatives;  // index of each alternative's first element
};

}  // namespace minillm::grammar

namespace minillm {

struct Grammar::Impl {
  std::vector<grammar::Rule> rules;
  std::vector<grammar::Element> elements;
  std::vector<grammar::CharSet> charsets;
  uint32_t root = 0;
  std::string source;
};

}  // namespace minillm
