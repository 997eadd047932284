#include "grammar/gbnf_text.h"

#include <algorithm>
#include <cstdio>

#include <utf8proc.h>

namespace minillm::grammar {
namespace {

std::string hex_escape(uint32_t cp) {
  char buf[16];
  if (cp < 0x100)
    std::snprintf(buf, sizeof buf, "\\x%02X", cp);
  else if (cp < 0x10000)
    std::snprintf(buf, sizeof buf, "\\u%04X", cp);
  else
    std::snprintf(buf, sizeof buf, "\\U%08X", cp);
  return buf;
}

// A code point inside [...]: letters and digits as they are, everything else escaped.
std::string class_char(uint32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'))
    return std::string(1, char(cp));
  return hex_escape(cp);
}

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  utf8proc_uint8_t bytes[4];
  const auto n = utf8proc_encode_char(utf8proc_int32_t(cp), bytes);
  out.append(reinterpret_cast<const char*>(bytes), size_t(n));
}

bool next_utf8(std::string_view text, size_t& pos, uint32_t& cp) {
  if (pos >= text.size()) return false;
  utf8proc_int32_t c;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                                  utf8proc_ssize_t(text.size() - pos), &c);
  if (n <= 0) return false;
  cp = uint32_t(c);
  pos += size_t(n);
  return true;
}

std::string gbnf_literal(std::string_view bytes) {
  std::string out = "\"";
  for (char c : bytes) {
    const auto b = uint8_t(c);
    if (c == '"')
      out += "\\\"";
    else if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (b < 0x20 || b == 0x7F)
      out += hex_escape(b);
    else
      out += c;
  }
  return out + "\"";
}

std::string gbnf_class(const std::vector<CharRange>& ranges) {
  std::string out = "[";
  for (const CharRange& r : ranges) {
    out += class_char(r.lo);
    if (r.hi > r.lo) {
      out += '-';
      out += class_char(r.hi);
    }
  }
  return out + "]";
}

std::string json_string_chars(const std::vector<CharRange>& ranges) {
  // Plain: everything from U+0020 on except '"' and '\'.
  const std::vector<CharRange> plain =
      normalize_ranges({{0, 0x1F}, {'"', '"'}, {'\\', '\\'}}, true);
  std::vector<CharRange> kept;
  for (const CharRange& r : ranges)
    for (const CharRange& p : plain) {
      const uint32_t lo = std::max(r.lo, p.lo), hi = std::min(r.hi, p.hi);
      if (lo <= hi) kept.push_back({lo, hi});
    }
  std::vector<std::string> alternatives;
  if (!kept.empty()) alternatives.push_back(gbnf_class(normalize_ranges(kept, false)));
  auto has = [&](uint32_t c) {
    for (const CharRange& r : ranges)
      if (r.lo <= c && c <= r.hi) return true;
    return false;
  };
  const std::pair<uint32_t, const char*> escapes[] = {
      {'"', "\\\""}, {'\\', "\\\\"}, {'\t', "\\t"}, {'\n', "\\n"}, {'\r', "\\r"}};
  for (const auto& [c, text] : escapes)
    if (has(c)) alternatives.push_back(gbnf_literal(text));
  if (alternatives.empty()) return "";
  if (alternatives.size() == 1) return alternatives[0];
  std::string out = "(";
  for (size_t i = 0; i < alternatives.size(); ++i) {
    if (i) out += " | ";
    out += alternatives[i];
  }
  return out + ")";
}

}  // namespace minillm::grammar
