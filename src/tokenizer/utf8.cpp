#include "tokenizer/utf8.h"

#include <cstdint>

namespace minillm::utf8 {
namespace {

// Expected length from the lead byte, and the allowed range of the second byte (RFC 3629 table:
// the narrowed ranges exclude overlong forms, surrogates and code points above U+10FFFF).
struct Lead {
  size_t length;  // 0 = not a lead byte
  uint8_t lo, hi;
};

Lead lead_of(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of leading bytes of `text` consistent with a valid character (at most lead.length).
size_t matching_prefix(std::string_view text, const Lead& lead) {
  if (lead.length == 0 || text.empty()) return 0;
  size_t n = 1;
  for (; n < lead.length && n < text.size(); ++n) {
    const auto b = static_cast<uint8_t>(text[n]);
    const bool ok = n == 1 ? (b >= lead.lo && b <= lead.hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
  }
  return n;
}

}  // namespace

size_t valid_char_length(std::string_view text) {
  if (text.empty()) return 0;
  const Lead lead = lead_of(static_cast<uint8_t>(text[0]));
  return matching_prefix(text, lead) == lead.length ? lead.length : 0;
}

bool is_incomplete_prefix(std::string_view bytes) {
  if (bytes.empty()) return false;
  const Lead lead = lead_of(static_cast<uint8_t>(bytes[0]));
  return lead.length > bytes.size() && matching_prefix(bytes, lead) == bytes.size();
}

}  // namespace minillm::utf8
