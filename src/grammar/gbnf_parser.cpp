// GBNF text -> Grammar::Impl. The syntax is llama.cpp's: `name ::= alternatives` (a rule ends at
// the end of its line unless inside parentheses or after `::=` / `|`), string literals with
// escapes, character classes [a-z] and [^...], `.`, groups, `*` `+` `?` `{m}` `{m,}` `{m,n}`
// `{,n}`, and `#` comments. Groups and repetitions become rules of their own.
#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

#include "grammar/gbnf_text.h"
#include "grammar/grammar_check.h"
#include "grammar/grammar_rules.h"
#include "minillm/error.h"

namespace minillm::grammar {
namespace {

constexpr int kMaxRepetition = 10000;  // {m,n} bounds beyond this are refused (rule explosion)
constexpr int kMaxNesting = 256;       // deeper groups are refused (the parser recurses)

using Sequence = std::vector<Element>;

struct RuleDraft {
  std::string name;
  std::vector<Sequence> alternatives = {};
  bool defined = false;
  size_t first_reference = std::string::npos;  // byte offset, for "undefined rule" errors
};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view text) : text_(text) {}

  Grammar::Impl parse(std::string_view root_name) {
    skip_space(true);
    while (pos_ < text_.size()) {
      parse_rule();
      skip_space(true);
    }
    for (const RuleDraft& r : rules_)
      if (!r.defined) fail_at(r.first_reference, "undefined rule '" + r.name + "'");
    const auto root = ids_.find(std::string(root_name));
    if (root == ids_.end())
      throw Error("grammar: no rule named '" + std::string(root_name) + "' (the start rule)");
    return finish(root->second);
  }

 private:
  [[noreturn]] void fail_at(size_t at, const std::string& what) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n')
        ++line, column = 1;
      else
        ++column;
    }
    throw Error("grammar line " + std::to_string(line) + ", column " + std::to_string(column) +
                ": " + what);
  }
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  // Spaces, tabs and comments; newlines too when `newlines` (inside groups, after ::= and |).
  void skip_space(bool newlines) {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t') {
        ++pos_;
      } else if (c == '#') {
        while (!at_end() && peek() != '\n') ++pos_;
      } else if (newlines && (c == '\n' || c == '\r')) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    if (pos_ == start) fail("expected a rule name");
    return std::string(text_.substr(start, pos_ - start));
  }

  uint32_t rule_id(const std::string& name, size_t referenced_at) {
    const auto [it, added] = ids_.try_emplace(name, uint32_t(rules_.size()));
    if (added) rules_.push_back({.name = name});
    RuleDraft& r = rules_[it->second];
    if (referenced_at != std::string::npos && r.first_reference == std::string::npos)
      r.first_reference = referenced_at;
    return it->second;
  }

  uint32_t new_rule(const std::string& base, std::vector<Sequence> alternatives) {
    std::string name;
    do name = base + "~" + std::to_string(++generated_);
    while (ids_.count(name));
    const uint32_t id = rule_id(name, std::string::npos);
    rules_[id].alternatives = std::move(alternatives);
    rules_[id].defined = true;
    return id;
  }

  void parse_rule() {
    const size_t start = pos_;
    const std::string name = parse_name();
    skip_space(false);
    if (text_.substr(pos_, 3) != "::=") fail("expected '::=' after the rule name '" + name + "'");
    pos_ += 3;
    skip_space(true);
    const uint32_t id = rule_id(name, std::string::npos);
    if (rules_[id].defined) fail_at(start, "rule '" + name + "' is defined twice");
    rules_[id].defined = true;  // before the body, so its groups are named after it
    auto alternatives = parse_alternatives(name, false);
    rules_[id].alternatives = std::move(alternatives);
    skip_space(false);
    if (!at_end() && peek() != '\n' && peek() != '\r')
      fail(std::string("expected the end of the line, found '") + peek() + "'");
  }

  std::vector<Sequence> parse_alternatives(const std::string& rule, bool nested) {
    std::vector<Sequence> alternatives;
    alternatives.push_back(parse_sequence(rule, nested));
    while (peek() == '|') {
      ++pos_;
      skip_space(true);
      alternatives.push_back(parse_sequence(rule, nested));
    }
    return alternatives;
  }

  Sequence parse_sequence(const std::string& rule, bool nested) {
    Sequence seq;
    size_t last_item = std::string::npos;  // where the last repeatable item starts in seq
    while (!at_end()) {
      const char c = peek();
      const size_t item_start = seq.size();
      if (c == '"') {
        ++pos_;
        if (peek() == '"') {  // "" matches the empty string
          ++pos_;
        } else {
          while (peek() != '"') {
            if (at_end() || peek() == '\n') fail("unterminated string literal");
            const uint32_t cp = parse_char();
            seq.push_back({ElementKind::Chars, charset({{cp, cp}}, false)});
          }
          ++pos_;
        }
      } else if (c == '[') {
        seq.push_back({ElementKind::Chars, parse_class()});
      } else if (c == '.') {
        ++pos_;
        seq.push_back({ElementKind::Chars, charset({{0, kMaxCodepoint}}, false)});
      } else if (c == '(') {
        if (++depth_ > kMaxNesting)
          fail("groups nested more than " + std::to_string(kMaxNesting) + " deep");
        ++pos_;
        skip_space(true);
        auto alternatives = parse_alternatives(rule, true);
        if (peek() != ')') fail("expected ')'");
        ++pos_;
        --depth_;
        seq.push_back({ElementKind::Rule, new_rule(rule, std::move(alternatives))});
      } else if (is_name_char(c)) {
        const size_t at = pos_;
        seq.push_back({ElementKind::Rule, rule_id(parse_name(), at)});
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (last_item == std::string::npos)
          fail(std::string("nothing to repeat before '") + c + "'");
        const auto [min, max] = parse_repetition();
        repeat(seq, last_item, min, max, rule);
        last_item = std::string::npos;
        skip_space(nested);
        continue;
      } else {
        break;
      }
      last_item = item_start;
      skip_space(nested);
    }
    return seq;
  }

  // (min, max) with max = -1 for no upper bound.
  std::pair<int, int> parse_repetition() {
    const char c = peek();
    ++pos_;
    if (c == '*') return {0, -1};
    if (c == '+') return {1, -1};
    if (c == '?') return {0, 1};
    skip_space(true);
    auto number = [&]() -> int {
      if (peek() < '0' || peek() > '9') return -1;
      long v = 0;
      while (peek() >= '0' && peek() <= '9') {
        v = v * 10 + (peek() - '0');
        if (v > kMaxRepetition) fail("repetition count above " + std::to_string(kMaxRepetition));
        ++pos_;
      }
      return int(v);
    };
    int min = number(), max;
    skip_space(true);
    if (peek() == ',') {
      ++pos_;
      skip_space(true);
      max = number();
      if (min < 0 && max < 0) fail("expected a number in the repetition");
      if (min < 0) min = 0;
    } else {
      if (min < 0) fail("expected a number in the repetition");
      max = min;
    }
    skip_space(true);
    if (peek() != '}') fail("expected '}' to close the repetition");
    ++pos_;
    if (max >= 0 && max < min) fail("repetition {m,n} with n < m");
    return {min, max};
  }

  // Replaces seq[from..] by `min` copies of it followed by up to max - min optional copies.
  void repeat(Sequence& seq, size_t from, int min, int max, const std::string& rule) {
    const Element item =
        seq.size() - from == 1
            ? seq[from]
            : Element{ElementKind::Rule,
                      new_rule(rule, {Sequence(seq.begin() + long(from), seq.end())})};
    seq.resize(from);
    for (int i = 0; i < min; ++i) seq.push_back(item);
    if (max < 0) {  // star ::= item star | ""  (right recursion: the matcher's stack stays flat)
      const uint32_t star = new_rule(rule, {});
      rules_[star].alternatives = {{item, {ElementKind::Rule, star}}, {}};
      seq.push_back({ElementKind::Rule, star});
    } else if (max > min) {  // opt_k ::= item opt_{k-1} | ""
      uint32_t opt = new_rule(rule, {{item}, {}});
      for (int k = 1; k < max - min; ++k)
        opt = new_rule(rule, {{item, {ElementKind::Rule, opt}}, {}});
      seq.push_back({ElementKind::Rule, opt});
    }
  }

  uint32_t parse_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const char h = peek();
      int d = h >= '0' && h <= '9'   ? h - '0'
              : h >= 'a' && h <= 'f' ? h - 'a' + 10
              : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                     : -1;
      if (d < 0) fail("expected " + std::to_string(digits) + " hexadecimal digits");
      v = v * 16 + uint32_t(d);
      ++pos_;
    }
    if (v > kMaxCodepoint) fail("code point above U+10FFFF");
    return v;
  }

  // One character of a literal or class: an escape or one UTF-8 encoded code point.
  uint32_t parse_char() {
    const auto c = uint8_t(peek());
    if (c == '\\') {
      ++pos_;
      const char e = peek();
      ++pos_;
      switch (e) {
        case 'n':
          return '\n';
        case 'r':
          return '\r';
        case 't':
          return '\t';
        case '0':
          return 0;
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
        case '\'':
          return uint8_t(e);
        case 'x':
          return parse_hex(2);
        case 'u':
          return parse_hex(4);
        case 'U':
          return parse_hex(8);
        default:
          pos_ -= 2;
          fail(std::string("unknown escape '\\") + e + "'");
      }
    }
    uint32_t cp;
    if (!next_utf8(text_, pos_, cp)) fail("invalid UTF-8");
    return cp;
  }

  uint32_t parse_class() {
    ++pos_;  // '['
    const bool negated = peek() == '^';
    if (negated) ++pos_;
    std::vector<CharRange> ranges;
    while (peek() != ']') {
      if (at_end() || peek() == '\n') fail("unterminated character class");
      const uint32_t lo = parse_char();
      uint32_t hi = lo;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < text_.size()) {
        ++pos_;
        if (peek() == '\n') fail("unterminated character class");
        hi = parse_char();
        if (hi < lo) fail("character range with its end before its start");
      }
      ranges.push_back({lo, hi});
    }
    ++pos_;
    if (ranges.empty()) fail("empty character class");
    return charset(std::move(ranges), negated);
  }

  uint32_t charset(std::vector<CharRange> ranges, bool negated) {
    auto normal = normalize_ranges(std::move(ranges), negated);
    const auto [it, added] = charset_ids_.try_emplace(normal, uint32_t(charsets_.size()));
    if (added) charsets_.emplace_back(std::move(normal));
    return it->second;
  }

  Grammar::Impl finish(uint32_t root) {
    Grammar::Impl g;
    g.root = root;
    g.charsets = std::move(charsets_);
    g.source = std::string(text_);
    for (RuleDraft& draft : rules_) {
      Rule r{.name = draft.name, .alternatives = {}};
      for (const Sequence& alt : draft.alternatives) {
        r.alternatives.push_back(uint32_t(g.elements.size()));
        g.elements.insert(g.elements.end(), alt.begin(), alt.end());
        g.elements.push_back({ElementKind::End, 0});
      }
      g.rules.push_back(std::move(r));
    }
    return g;
  }

  std::string_view text_;
  size_t pos_ = 0;
  int generated_ = 0;
  int depth_ = 0;  // groups open at the current position
  std::vector<RuleDraft> rules_;
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<CharSet> charsets_;
  std::map<std::vector<CharRange>, uint32_t> charset_ids_;
};

}  // namespace

}  // namespace minillm::grammar

namespace minillm {

Grammar Grammar::parse(std::string_view gbnf, std::string_view root_rule) {
  auto impl = std::make_shared<Impl>(grammar::GbnfParser(gbnf).parse(root_rule));
  grammar::check_grammar(*impl);
  return Grammar(std::move(impl));
}

const std::string& Grammar::gbnf() const {
  return impl_->source;
}
size_t Grammar::n_rules() const {
  return impl_->rules.size();
}

}  // namespace minillm
