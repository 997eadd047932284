// Helpers that write GBNF text: literals, character classes, and the JSON-escaped form of
// characters inside a JSON string (for the JSON Schema and regular expression converters).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/grammar_rules.h"

namespace minillm::grammar {

std::string gbnf_literal(std::string_view bytes);              // "..." matching exactly these bytes
std::string gbnf_class(const std::vector<CharRange>& ranges);  // [...] (ranges non-empty)
void append_utf8(std::string& out, uint32_t cp);
// Reads the UTF-8 character at text[pos] into cp and moves pos past it; false (pos unchanged) for
// a malformed or truncated one.
bool next_utf8(std::string_view text, size_t& pos, uint32_t& cp);

// Characters as they appear inside a JSON string: the ranges that stand for themselves, and the
// escapes for the quote, the backslash, tab, newline and carriage return in `ranges` (other
// control characters are left out: a JSON string cannot hold them raw). Empty when nothing is
// left.
std::string json_string_chars(const std::vector<CharRange>& ranges);

}  // namespace minillm::grammar
