// JSON Schema "pattern" -> GBNF for the inside of a JSON string (between the quotes) whose
// decoded text matches. The subset of ECMA-262 regular expressions understood: literals and
// escapes, ., [...] and [^...] with ranges and \d \w \s inside, \d \w \s \D \W \S, groups (...)
// and (?:...), alternation |, quantifiers * + ? {m} {m,} {m,n} (lazy forms alike), ^ at the
// start and $ at the end. A pattern without ^ / $ may have any text before / after the match
// (JSON Schema patterns search). Anything else throws Error (Unsupported) naming it.
#pragma once

#include <string>
#include <string_view>

namespace minillm::grammar {

// `any_char`: the GBNF expression for one character of a JSON string (used for the text around
// an unanchored pattern).
std::string regex_to_gbnf(std::string_view pattern, const std::string& any_char);

}  // namespace minillm::grammar
