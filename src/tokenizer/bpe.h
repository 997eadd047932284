// Byte-level BPE (GGUF tokenizer.ggml.model = "gpt2": GPT-2, Llama 3, Falcon, DeepSeek, ...).
//
// Encoding one run of plain text: optional NFC, pre-tokenization into words (pretokenizer.h),
// then per word: every byte starts as the token of its GPT-2 character (byte_unicode.h), and the
// adjacent pair with the lowest merge rank (leftmost on ties) is merged until no listed merge
// applies, as Hugging Face tokenizers' BPE model does.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "tokenizer/pretokenizer.h"

namespace minillm {

struct BpeModel {
  struct Merge {
    int32_t rank;    // position in tokenizer.ggml.merges: lower merges first
    int32_t result;  // token id of the concatenation
  };
  std::unique_ptr<PreTokenizer> pre;
  std::unordered_map<uint64_t, Merge> merges;  // key: left id << 32 | right id
  std::array<int32_t, 256> byte_token;         // token of each byte's character, -1 if missing
  bool ignore_merges = false;                  // a word that is a whole token is taken as is

  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
};

}  // namespace minillm
