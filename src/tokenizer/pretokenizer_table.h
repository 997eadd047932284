// The named pre-tokenizers for byte-level BPE: for each name (GGUF tokenizer.ggml.pre), the
// regular expressions applied one after another and whether text is NFC-normalized first. Plain
// data, so that file loaders can recognise a pre-tokenizer without compiling expressions.
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace minillm {

struct PreTokenizerSpec {
  std::initializer_list<const char*> names;  // the first is the canonical name
  std::initializer_list<const char*> regexes;
  bool nfc = false;
};

std::span<const PreTokenizerSpec> pre_tokenizer_specs();

// The canonical name of the pre-tokenizer made of exactly these expressions (same text, same
// order) and NFC setting; nullopt when no known pre-tokenizer is.
std::optional<std::string> pre_tokenizer_name_for(const std::vector<std::string>& regexes,
                                                  bool nfc);

// The expressions of pre-tokenizer `name` (one of the names in the table); empty if unknown.
std::vector<std::string> pre_tokenizer_regexes(const std::string& name);

}  // namespace minillm
