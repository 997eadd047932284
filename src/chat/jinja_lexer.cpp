// The template lexer. Whitespace control follows Jinja2's lexer: `{%-`/`-%}` strip all
// whitespace beside the tag; otherwise lstrip_blocks removes spaces and tabs between the start
// of a line and a block or comment tag, and trim_blocks removes the first newline after one.
#include "chat/jinja_lexer.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "chat/jinja_value.h"

namespace minillm::jinja {
namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t start = find_tag(pos_);
      std::string text =
          src_.substr(pos_, start == std::string::npos ? std::string::npos : start - pos_);
      const int text_line = line_;
      if (start == std::string::npos) {
        emit_text(std::move(text), text_line);
        break;
      }
      const char kind = src_[start + 1];
      size_t p = start + 2;
      char lmod = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) lmod = src_[p++];
      strip_before_tag(text, lmod, kind != '{');
      emit_text(std::move(text), text_line);
      count_lines(pos_, start);
      pos_ = start;
      if (kind == '#')
        comment(p);
      else
        tag(p, kind == '{');
    }
    push(TokType::Eof, "", line_);
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1))
      if (i + 1 < src_.size() && std::strchr("{%#", src_[i + 1]) && src_[i + 1] != '\0') return i;
    return std::string::npos;
  }

  void count_lines(size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) line_ += src_[i] == '\n';
  }

  // Whitespace control on the text before a tag.
  void strip_before_tag(std::string& text, char lmod, bool block_or_comment) const {
    if (lmod == '-') {
      size_t n = text.size();
      while (n > 0 && is_ws(text[n - 1])) --n;
      text.resize(n);
    } else if (lmod != '+' && block_or_comment) {
      // lstrip_blocks: only when the tag starts its line (the text may also be the rest of a
      // line whose newline the previous tag consumed).
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        bool blank = l_pos < text.size();
        for (size_t i = l_pos; i < text.size(); ++i) blank = blank && is_ws(text[i]);
        if (blank) text.resize(l_pos);
      }
    }
  }

  // Whitespace control after a tag that ends just before `end`; moves pos_ past it.
  void finish_tag(size_t end, char rmod, bool trim_newline) {
    size_t q = end;
    if (rmod == '-')
      while (q < src_.size() && is_ws(src_[q])) ++q;
    else if (rmod != '+' && trim_newline && q < src_.size() && src_[q] == '\n')
      ++q;
    count_lines(pos_, q);
    line_starting_ = q > end && src_[q - 1] == '\n';
    pos_ = q;
  }

  void comment(size_t p) {
    const size_t close = src_.find("#}", p);
    if (close == std::string::npos) fail(line_, "unclosed comment ('{#' without '#}')");
    char rmod = 0;
    if (close > p && (src_[close - 1] == '-' || src_[close - 1] == '+')) rmod = src_[close - 1];
    finish_tag(close + 2, rmod, true);
  }

  void tag(size_t p, bool variable) {
    const int tag_line = line_;
    const size_t first_token = tokens_.size();
    push(variable ? TokType::VarBegin : TokType::BlockBegin, "", tag_line);
    int depth = 0;  // open brackets: an end delimiter inside them is not the end of the tag
    size_t q = p;
    pos_ = p;
    while (true) {
      while (q < src_.size() && is_ws(src_[q])) line_ += src_[q++] == '\n';
      pos_ = q;
      if (q >= src_.size())
        fail(tag_line,
             variable ? "unclosed '{{' (no matching '}}')" : "unclosed '{%' (no matching '%}')");
      if (depth == 0) {
        const char* close = variable ? "}}" : "%}";
        char rmod = 0;
        size_t at = q;
        if ((src_[q] == '-' || (!variable && src_[q] == '+')) && src_.compare(q + 1, 2, close) == 0)
          rmod = src_[q], at = q + 1;
        if (src_.compare(at, 2, close) == 0) {
          push(variable ? TokType::VarEnd : TokType::BlockEnd, "", line_);
          finish_tag(at + 2, rmod, !variable);
          if (!variable && tokens_.size() == first_token + 3 &&
              tokens_[first_token + 1].type == TokType::Name &&
              tokens_[first_token + 1].text == "raw") {
            tokens_.resize(first_token);
            raw(tag_line);
          }
          return;
        }
      }
      q = token(q, depth);
    }
  }

  // {% raw %}...{% endraw %}: everything between is text.
  void raw(int raw_line) {
    for (size_t i = src_.find("{%", pos_); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t q = i + 2;
      char lmod = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) lmod = src_[q++];
      while (q < src_.size() && is_ws(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < src_.size() && is_ws(src_[q])) ++q;
      char rmod = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) rmod = src_[q++];
      if (src_.compare(q, 2, "%}") != 0) continue;
      std::string text = src_.substr(pos_, i - pos_);
      const int text_line = line_;
      strip_before_tag(text, lmod, true);
      emit_text(std::move(text), text_line);
      count_lines(pos_, i);
      pos_ = i;
      finish_tag(q + 2, rmod, true);
      return;
    }
    fail(raw_line, "unclosed '{% raw %}' (no '{% endraw %}')");
  }

  // Lexes one token at q inside a tag; returns the position after it.
  size_t token(size_t q, int& depth) {
    const char c = src_[q];
    if (is_name_start(c)) {
      size_t e = q;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      push(TokType::Name, src_.substr(q, e - q), line_);
      return e;
    }
    if (is_digit(c)) return number(q);
    if (c == '\'' || c == '"') return string_literal(q);
    static const char* kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo)
      if (src_.compare(q, 2, op) == 0) {
        push(TokType::Op, op, line_);
        return q + 2;
      }
    if (std::strchr("+-*/%~<>()[]{},.:|=", c) && c != '\0') {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if (c == ')' || c == ']' || c == '}') {
        if (depth == 0) fail(line_, std::string("unexpected '") + c + "'");
        --depth;
      }
      push(TokType::Op, std::string(1, c), line_);
      return q + 1;
    }
    fail(line_, std::string("unexpected character '") + c + "' in tag");
  }

  size_t number(size_t q) {
    auto digits = [&](size_t i) {
      while (i < src_.size() && (is_digit(src_[i]) ||
                                 (src_[i] == '_' && i + 1 < src_.size() && is_digit(src_[i + 1]))))
        ++i;
      return i;
    };
    size_t e = digits(q);
    bool is_float = false;
    // A fraction needs digits after the dot, and `foo.0.1` is two item accesses.
    const bool after_dot = q > 0 && src_[q - 1] == '.';
    if (!after_dot && e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1]))
      e = digits(e + 1), is_float = true;
    if (!after_dot && e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t f = e + 1;
      if (f < src_.size() && (src_[f] == '+' || src_[f] == '-')) ++f;
      if (f < src_.size() && is_digit(src_[f])) e = digits(f), is_float = true;
    }
    std::string text;
    for (size_t i = q; i < e; ++i)
      if (src_[i] != '_') text += src_[i];
    Token t;
    t.line = line_;
    t.text = text;
    if (is_float) {
      t.type = TokType::Float;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.type = TokType::Int;
      errno = 0;
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) fail(line_, "integer literal " + text + " is too large");
    }
    tokens_.push_back(std::move(t));
    return e;
  }

  // A quoted string with Python's escapes (\n, \t, \xhh, \uXXXX, ...); unknown escapes stay.
  size_t string_literal(size_t q) {
    const char quote = src_[q];
    const int start_line = line_;
    std::u32string out;
    size_t i = q + 1;
    std::string plain;
    auto flush = [&] {
      out += utf8_decode(plain);
      plain.clear();
    };
    while (true) {
      if (i >= src_.size()) fail(start_line, "unclosed string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\' || i + 1 >= src_.size()) {
        plain += c;
        ++i;
        continue;
      }
      flush();
      const char e = src_[i + 1];
      i += 2;
      auto hex = [&](int n) {
        char32_t v = 0;
        for (int k = 0; k < n; ++k, ++i) {
          const int h = i < src_.size() ? hex_value(src_[i]) : -1;
          if (h < 0) fail(line_, "bad \\x, \\u or \\U escape in string literal");
          v = v * 16 + char32_t(h);
        }
        if (v > 0x10ffff) fail(line_, "escape past U+10FFFF in string literal");
        out += v;
      };
      switch (e) {
        case 'n':
          out += U'\n';
          break;
        case 't':
          out += U'\t';
          break;
        case 'r':
          out += U'\r';
          break;
        case 'a':
          out += U'\a';
          break;
        case 'b':
          out += U'\b';
          break;
        case 'f':
          out += U'\f';
          break;
        case 'v':
          out += U'\v';
          break;
        case '\\':
          out += U'\\';
          break;
        case '\'':
          out += U'\'';
          break;
        case '"':
          out += U'"';
          break;
        case '\n':
          ++line_;
          break;  // line continuation
        case 'x':
          hex(2);
          break;
        case 'u':
          hex(4);
          break;
        case 'U':
          hex(8);
          break;
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = char32_t(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k)
              v = v * 8 + char32_t(src_[i++] - '0');
            out += v;
          } else {
            plain += '\\';
            --i;  // the character after the backslash is kept as written
          }
      }
    }
    flush();
    push(TokType::String, utf8_encode(out), start_line);
    return i + 1;
  }

  void emit_text(std::string text, int line) {
    if (!text.empty()) push(TokType::Text, std::move(text), line);
  }
  void push(TokType type, std::string text, int line) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    t.line = line;
    tokens_.push_back(std::move(t));
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;  // the text before the next tag starts a line
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  // Jinja2 reads templates with universal newlines and, by default, drops one trailing newline.
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(std::move(src)).run();
}

}  // namespace minillm::jinja
