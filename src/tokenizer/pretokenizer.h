// Pre-tokenization for byte-level BPE: cutting text into words before merges run, by the regular
// expressions that the vocabulary names (GGUF tokenizer.ggml.pre).
//
// A pre-tokenizer is a sequence of regular expressions applied one after another, as Hugging
// Face's `Split` with behaviour "Isolated" does: each expression cuts every piece left by the
// previous ones into its matches and the text between matches. Matching is PCRE2 in UTF mode with
// Unicode properties (\p{L}, \s, ...). Bytes that are not valid UTF-8 never match, so they end up
// in pieces of their own and are still encoded (byte-level BPE covers every byte).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace minillm {

class PreTokenizer {
 public:
  // Compiles the expressions of the named pre-tokenizer; throws Error naming `name` (and the
  // supported names) when it is not known.
  explicit PreTokenizer(std::string_view name);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  const std::string& name() const { return name_; }
  // True when the vocabulary's tokenizer normalizes text to Unicode NFC first (GPT-NeoX / MPT).
  bool nfc() const { return nfc_; }

  // Appends the words of `text` (views into it, in order, together covering all of it).
  // Thread-safe: the compiled expressions are only read.
  void split(std::string_view text, std::vector<std::string_view>& words) const;

  // Every name the constructor accepts, for messages and tests.
  static std::vector<std::string> supported_names();

 private:
  struct Regex;
  std::string name_;
  bool nfc_ = false;
  std::vector<std::unique_ptr<Regex>> steps_;
};

// NFC of `text` when it is valid UTF-8; otherwise the text unchanged.
std::string nfc_normalize(std::string_view text);

}  // namespace minillm
