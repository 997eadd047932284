// Minimal UTF-8 helpers for the tokenizer. Hand-written rather than taken from utf8proc because
// the streaming decoder needs to tell "incomplete so far" from "invalid", which utf8proc does not.
#pragma once

#include <cstddef>
#include <string_view>

namespace minillm::utf8 {

// Length of the valid UTF-8 character starting at text[0] (1..4), or 0 when the bytes there do
// not form a complete valid character (stray continuation byte, overlong form, surrogate, above
// U+10FFFF, or cut short by the end of `text`).
size_t valid_char_length(std::string_view text);

// For a prefix of a character: true when `bytes` (1..3 bytes) could still become a valid
// character if more bytes follow.
bool is_incomplete_prefix(std::string_view bytes);

}  // namespace minillm::utf8
