// Compiling the named pre-tokenizers (pretokenizer_table.cpp) and the PCRE2 splitting loop.
#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <cstdlib>

#include "minillm/error.h"
#include "tokenizer/pretokenizer_table.h"
#include "tokenizer/utf8.h"

namespace minillm {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0)
    return "error " + std::to_string(code);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  explicit Regex(const char* pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    // MATCH_INVALID_UTF: invalid bytes in the subject are allowed and simply never match.
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
    if (!code)
      throw Error(ErrorKind::Internal,
                  "tokenizer: pre-tokenizer expression does not compile at offset " +
                      std::to_string(offset) + ": " + pcre2_message(error));
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: without JIT it is only slower
  }
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(std::string_view name) : name_(name) {
  for (const PreTokenizerSpec& spec : pre_tokenizer_specs()) {
    for (const char* n : spec.names) {
      if (name != n) continue;
      nfc_ = spec.nfc;
      for (const char* r : spec.regexes) steps_.push_back(std::make_unique<Regex>(r));
      return;
    }
  }
  std::string known;
  for (const std::string& n : supported_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorKind::Unsupported,
              "tokenizer: pre-tokenizer '" + std::string(name) +
                  "' (tokenizer.ggml.pre) is not supported; supported: " + known);
}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string> PreTokenizer::supported_names() {
  std::vector<std::string> names;
  for (const PreTokenizerSpec& spec : pre_tokenizer_specs())
    for (const char* n : spec.names) names.emplace_back(n);
  return names;
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& words) const {
  if (text.empty()) return;
  using MatchData = std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)>;
  const MatchData match(pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
  if (!match) throw Error(ErrorKind::OutOfMemory, "tokenizer: out of memory while pre-tokenizing");

  std::vector<std::string_view> pieces{text}, next;
  for (size_t s = 0; s < steps_.size(); ++s) {
    const bool last = s + 1 == steps_.size();
    std::vector<std::string_view>& dest = last ? words : next;
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t gap = 0;  // start of the text not yet emitted
      size_t pos = 0;
      while (pos < piece.size()) {
        const int rc =
            pcre2_match(steps_[s]->code, subject, piece.size(), pos, 0, match.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0)
          throw Error(ErrorKind::Internal,
                      "tokenizer: pre-tokenizer regex failed: " + pcre2_message(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        const size_t begin = ov[0], end = ov[1];
        if (end == begin) {  // an empty match cuts nothing; step over one character
          const size_t len = utf8::valid_char_length(piece.substr(begin));
          pos = begin + (len ? len : 1);
          continue;
        }
        if (begin > gap) dest.push_back(piece.substr(gap, begin - gap));
        dest.push_back(piece.substr(begin, end - begin));
        gap = pos = end;
      }
      if (gap < piece.size()) dest.push_back(piece.substr(gap));
    }
    if (!last) {
      pieces.swap(next);
      next.clear();
    }
  }
}

std::string nfc_normalize(std::string_view text) {
  utf8proc_uint8_t* result = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &result,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return std::string(text);  // invalid UTF-8: leave the bytes as they are
  std::string out(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
  std::free(result);
  return out;
}

}  // namespace minillm
