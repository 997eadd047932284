// Splits a Jinja template into text and tag tokens, applying whitespace control the way Hugging
// Face's environment does (trim_blocks=True, lstrip_blocks=True, `-`/`+` modifiers, one trailing
// newline dropped, newlines normalized to \n).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace minillm::jinja {

enum class TokType {
  Text,
  VarBegin,
  VarEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Int,
  Float,
  Op,
  Eof
};

struct Token {
  TokType type = TokType::Eof;
  std::string text;  // text, name, operator, or the decoded string literal
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

// Throws Error (with the line) for unclosed tags, comments, strings and bad characters.
std::vector<Token> tokenize(std::string_view source);

}  // namespace minillm::jinja
