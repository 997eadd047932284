// GPT-2's reversible byte <-> character mapping used by byte-level BPE vocabularies.
//
// Every byte is given a printable character so that token texts and merges never contain
// control characters or spaces: the printable bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF
// stand for themselves, and the remaining 68 bytes (0x00-0x20, 0x7F-0xA0, 0xAD) take the code
// points U+0100, U+0101, ... in byte order (so a space is 'Ġ' U+0120, a newline 'Ċ' U+010A).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace minillm::byte_unicode {

// The UTF-8 encoding of the character standing for `byte` (1 or 2 bytes long).
std::string_view encode_byte(uint8_t byte);

// Appends the mapped characters of every byte of `bytes` to `out`.
void encode(std::string_view bytes, std::string& out);

// Maps the characters of a token text back to bytes, appended to `out`. Returns false (leaving
// `out` unchanged) when some character is not one of the 256 byte characters.
bool decode(std::string_view text, std::string& out);

}  // namespace minillm::byte_unicode
