#include "tokenizer/byte_unicode.h"

#include <array>

namespace minillm::byte_unicode {
namespace {

bool stands_for_itself(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<std::string, 256> utf8;   // byte -> mapped character
  std::array<int16_t, 0x144> byte_of;  // code point (< U+0144) -> byte, -1 if none

  Tables() {
    byte_of.fill(-1);
    unsigned next = 0x100;  // code points handed to the bytes that are not printable
    for (unsigned b = 0; b < 256; ++b) {
      const unsigned cp = stands_for_itself(b) ? b : next++;
      byte_of[cp] = static_cast<int16_t>(b);
      // All code points are below U+0800: one or two UTF-8 bytes.
      if (cp < 0x80) {
        utf8[b] = std::string(1, static_cast<char>(cp));
      } else {
        utf8[b] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
      }
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string_view encode_byte(uint8_t byte) {
  return tables().utf8[byte];
}

void encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (char c : bytes) out += t.utf8[static_cast<uint8_t>(c)];
}

bool decode(std::string_view text, std::string& out) {
  const Tables& t = tables();
  const size_t start = out.size();
  for (size_t i = 0; i < text.size();) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    unsigned cp;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < text.size() &&
               (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80) {
      cp = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(text[i + 1]) & 0x3Fu);
      if (cp < 0x80) cp = 0x144;  // overlong form: not the character itself
      i += 2;
    } else {
      cp = 0x144;  // longer or malformed sequences are never byte characters
    }
    if (cp >= t.byte_of.size() || t.byte_of[cp] < 0) {
      out.resize(start);
      return false;
    }
    out += static_cast<char>(t.byte_of[cp]);
  }
  return true;
}

}  // namespace minillm::byte_unicode
