// Hugging Face / SentencePiece tokenizer files -> Vocab (the tokenizer's format-free input).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "minillm/tokenizer.h"

namespace minillm {

// tokenizer.json: a BPE model with byte fallback (Llama 2, Mistral). Scores come from the merge
// ranks (the earlier a merge, the higher its result's score). Other kinds (byte-level BPE,
// Unigram, WordPiece) and normalizers other than SentencePiece's space handling throw an Error
// saying they are not supported yet.
Vocab vocab_from_tokenizer_json(const nlohmann::json& tokenizer, const std::string& source);

// tokenizer.model: a SentencePiece ModelProto of a BPE model.
Vocab vocab_from_sentencepiece(std::span<const uint8_t> bytes, const std::string& source);

// tokenizer_config.json: bos/eos/unk/pad token texts, add_bos_token/add_eos_token, added tokens
// (added_tokens_decoder) and the chat template.
void apply_tokenizer_config(Vocab& vocab, const nlohmann::json& config, const std::string& source);

// generation_config.json: bos/eos ids where the vocabulary has none yet.
void apply_generation_config(Vocab& vocab, const nlohmann::json& config, const std::string& source);

}  // namespace minillm
