#include "grammar/schema_regex.h"

#include <vector>

#include "grammar/gbnf_text.h"
#include "minillm/error.h"

namespace minillm::grammar {
namespace {

class RegexConverter {
 public:
  RegexConverter(std::string_view pattern, const std::string& any_char)
      : p_(pattern), any_char_(any_char) {}

  std::string convert() {
    const bool anchored_start = peek() == '^';
    if (anchored_start) ++pos_;
    std::string body = alternatives();
    bool anchored_end = false;
    if (peek() == '$') {
      ++pos_;
      anchored_end = true;
    }
    if (pos_ < p_.size()) {
      if (p_[pos_] == ')') fail("an unmatched ')'");
      fail(std::string("'") + p_[pos_] + "' here");
    }
    std::string out = anchored_start ? "" : "(" + any_char_ + ")* ";
    out += "(" + body + ")";
    if (!anchored_end) out += " (" + any_char_ + ")*";
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorKind::Unsupported,
                "JSON Schema pattern '" + std::string(p_) + "': " + what + " is not supported");
  }
  char peek() const { return pos_ < p_.size() ? p_[pos_] : '\0'; }
  bool at_end() const { return pos_ >= p_.size(); }

  std::string alternatives() {
    std::string out = sequence();
    while (peek() == '|') {
      ++pos_;
      out += " | " + sequence();
    }
    return out;
  }

  std::string sequence() {
    std::vector<std::string> items;
    while (!at_end() && peek() != '|' && peek() != ')') {
      if (peek() == '$' && pos_ + 1 == p_.size()) break;  // the end anchor
      std::string item = atom();
      item = quantified(std::move(item));
      items.push_back(std::move(item));
    }
    if (items.empty()) return "\"\"";
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : " ") + i;
    return out;
  }

  std::string quantified(std::string item) {
    const char c = peek();
    std::string suffix;
    if (c == '*' || c == '+' || c == '?') {
      ++pos_;
      suffix = std::string(1, c);
    } else if (c == '{') {
      const size_t start = pos_;
      ++pos_;
      while (!at_end() && peek() != '}') ++pos_;
      if (at_end()) fail("an unterminated {");
      ++pos_;
      suffix = std::string(p_.substr(start, pos_ - start));  // same syntax in GBNF
      for (char d : suffix.substr(1, suffix.size() - 2))
        if (!(d >= '0' && d <= '9') && d != ',') fail("the quantifier " + suffix);
    } else {
      return item;
    }
    if (peek() == '?') ++pos_;  // lazy: the same set of strings
    if (peek() == '*' || peek() == '+' || peek() == '{') fail("a repeated quantifier");
    return "(" + item + ")" + suffix;
  }

  std::string chars(const std::vector<CharRange>& ranges) {
    std::string out = json_string_chars(ranges);
    if (out.empty()) fail("a character class of control characters only");
    return out;
  }

  // One escape after '\' (the backslash already read), as ranges; false for a class escape
  // that is not a plain set (none today).
  std::vector<CharRange> escape_ranges(bool in_class) {
    const char e = peek();
    ++pos_;
    switch (e) {
      case 'd':
        return {{'0', '9'}};
      case 'w':
        return {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
      case 's':
        return {{'\t', '\r'}, {' ', ' '}};
      case 'D':
        return normalize_ranges({{'0', '9'}}, true);
      case 'W':
        return normalize_ranges({{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}, true);
      case 'S':
        return normalize_ranges({{'\t', '\r'}, {' ', ' '}}, true);
      case 'n':
        return {{'\n', '\n'}};
      case 't':
        return {{'\t', '\t'}};
      case 'r':
        return {{'\r', '\r'}};
      case 'f':
        return {{'\f', '\f'}};
      case 'v':
        return {{'\v', '\v'}};
      case 'x':
      case 'u': {
        const int digits = e == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int i = 0; i < digits; ++i, ++pos_) {
          const char h = peek();
          const int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
          if (d < 0) fail(std::string("the escape \\") + e);
          v = v * 16 + uint32_t(d);
        }
        return {{v, v}};
      }
      default:
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
          fail(std::string("the escape \\") + e + (in_class ? " in a class" : ""));
        return {{uint32_t(uint8_t(e)), uint32_t(uint8_t(e))}};
    }
  }

  uint32_t utf8_char() {
    uint32_t cp;
    if (!next_utf8(p_, pos_, cp)) fail("invalid UTF-8");
    return cp;
  }

  std::string atom() {
    const char c = peek();
    if (c == '(') {
      ++pos_;
      if (peek() == '?') {
        if (pos_ + 1 < p_.size() && p_[pos_ + 1] == ':')
          pos_ += 2;
        else
          fail("a group of the form (?...) other than (?:...)");
      }
      if (++depth_ > 128) fail("groups nested more than 128 deep");
      std::string inner = alternatives();
      if (peek() != ')') fail("an unterminated group");
      ++pos_;
      --depth_;
      return "(" + inner + ")";
    }
    if (c == '[') return char_class();
    if (c == '.') {
      ++pos_;
      return chars(normalize_ranges({{'\n', '\n'}, {'\r', '\r'}}, true));
    }
    if (c == '\\') {
      ++pos_;
      if (peek() == 'b' || peek() == 'B') fail("the word boundary \\b");
      if (peek() >= '1' && peek() <= '9') fail("a back reference");
      return chars(escape_ranges(false));
    }
    if (c == '^') fail("'^' other than at the start");
    if (c == '$') fail("'$' other than at the end");
    if (c == '*' || c == '+' || c == '?' || c == '{') fail("a quantifier with nothing before it");
    const uint32_t cp = utf8_char();
    return chars({{cp, cp}});
  }

  std::string char_class() {
    ++pos_;  // '['
    const bool negated = peek() == '^';
    if (negated) ++pos_;
    std::vector<CharRange> ranges;
    bool first = true;
    while (first || peek() != ']') {
      if (at_end()) fail("an unterminated character class");
      first = false;
      std::vector<CharRange> item;
      if (peek() == '\\') {
        ++pos_;
        item = escape_ranges(true);
      } else {
        const uint32_t cp = utf8_char();
        item = {{cp, cp}};
      }
      if (item.size() == 1 && item[0].lo == item[0].hi && peek() == '-' && pos_ + 1 < p_.size() &&
          p_[pos_ + 1] != ']') {
        ++pos_;
        uint32_t hi;
        if (peek() == '\\') {
          ++pos_;
          const auto e = escape_ranges(true);
          if (e.size() != 1 || e[0].lo != e[0].hi) fail("a range ending in a class escape");
          hi = e[0].lo;
        } else {
          hi = utf8_char();
        }
        if (hi < item[0].lo) fail("a range with its end before its start");
        item[0].hi = hi;
      }
      ranges.insert(ranges.end(), item.begin(), item.end());
    }
    ++pos_;
    return chars(normalize_ranges(ranges, negated));
  }

  std::string_view p_;
  const std::string& any_char_;
  size_t pos_ = 0;
  int depth_ = 0;  // groups open at the current position
};

}  // namespace

std::string regex_to_gbnf(std::string_view pattern, const std::string& any_char) {
  return RegexConverter(pattern, any_char).convert();
}

}  // namespace minillm::grammar
