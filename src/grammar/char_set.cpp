// Character sets of the compiled grammar: ranges of code points, with a bitmap for ASCII.
#include <algorithm>

#include "grammar/grammar_rules.h"

namespace minillm::grammar {

std::vector<CharRange> normalize_ranges(std::vector<CharRange> ranges, bool negated) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<CharRange> merged;
  for (const CharRange& r : ranges) {
    if (!merged.empty() && r.lo <= merged.back().hi + 1)
      merged.back().hi = std::max(merged.back().hi, r.hi);
    else
      merged.push_back(r);
  }
  if (!negated) return merged;
  std::vector<CharRange> complement;
  uint32_t next = 0;
  for (const CharRange& r : merged) {
    if (r.lo > next) complement.push_back({next, r.lo - 1});
    next = r.hi + 1;
  }
  if (next <= kMaxCodepoint) complement.push_back({next, kMaxCodepoint});
  return complement;
}

CharSet::CharSet(std::vector<CharRange> sorted_ranges) : ranges(std::move(sorted_ranges)) {
  for (const CharRange& r : ranges)
    for (uint32_t c = r.lo; c <= r.hi && c < 128; ++c) ascii[c / 64] |= uint64_t(1) << (c % 64);
}

bool CharSet::contains(uint32_t c) const {
  if (c < 128) return (ascii[c / 64] >> (c % 64)) & 1;
  return overlaps(c, c);
}

bool CharSet::overlaps(uint32_t lo, uint32_t hi) const {
  // First range ending at or after lo; it overlaps when it starts at or before hi.
  const auto it = std::lower_bound(ranges.begin(), ranges.end(), lo,
                                   [](const CharRange& r, uint32_t v) { return r.hi < v; });
  return it != ranges.end() && it->lo <= hi;
}

bool CharSet::covers(uint32_t lo, uint32_t hi) const {
  const auto it = std::lower_bound(ranges.begin(), ranges.end(), lo,
                                   [](const CharRange& r, uint32_t v) { return r.hi < v; });
  return it != ranges.end() && it->lo <= lo && hi <= it->hi;
}

}  // namespace minillm::grammar
