// Hugging Face / SentencePiece tokenizer files -> Vocab (the tokenizer's format-free input).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "minillm/tokenizer.h"

namespace minillm {

// `j[key]` when j is an object holding a non-null `key`, else nullptr (optional fields).
inline const nlohmann::json* json_member(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}
// The string at `j[key]`, or "" when absent or not a string.
inline std::string json_string_member(const nlohmann::json& j, const char* key) {
  const nlohmann::json* v = json_member(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

// tokenizer.json of a BPE model: with byte fallback (Llama 2, Mistral) a "llama" Vocab whose
// scores come from the merge ranks (the earlier a merge, the higher its result's score); without
// it a byte-level "gpt2" Vocab (GPT-2, Llama 3, Qwen 2) with the merges and the named
// pre-tokenizer. Other kinds (Unigram, WordPiece) and normalizers / pre-tokenizers that mini-llm
// does not implement throw an Error saying what is not supported.
Vocab vocab_from_tokenizer_json(const nlohmann::json& tokenizer, const std::string& source);

// The pre-tokenizer name (tokenizer.ggml.pre) that a byte-level tokenizer.json's normalizer,
// pre_tokenizer and decoder amount to; throws Error naming an unrecognised expression.
std::string byte_level_pre_tokenizer(const nlohmann::json& tokenizer, const std::string& source);

// tokenizer.model: a SentencePiece ModelProto of a BPE model.
Vocab vocab_from_sentencepiece(std::span<const uint8_t> bytes, const std::string& source);

// tokenizer_config.json: bos/eos/unk/pad token texts, add_bos_token/add_eos_token, added tokens
// (added_tokens_decoder) and the chat template.
void apply_tokenizer_config(Vocab& vocab, const nlohmann::json& config, const std::string& source);

// generation_config.json: bos/eos ids where the vocabulary has none yet.
void apply_generation_config(Vocab& vocab, const nlohmann::json& config, const std::string& source);

}  // namespace minillm
