// Checking a Vocab and building the tokenizer's lookup tables from it.
#include <algorithm>
#include <string>

#include "minillm/error.h"
#include "tokenizer/spm.h"

namespace minillm {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";

// "<0xNN>" -> NN, or -1 when the text has another form.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else
      return -1;
    value = value * 16 + digit;
  }
  return value;
}

std::string replace_space_symbol(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i).starts_with(kSpaceSymbol)) {
      out += ' ';
      i += kSpaceSymbol.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

void check_special_id(const char* name, int32_t id, size_t n_vocab) {
  if (id < -1 || (id >= 0 && static_cast<size_t>(id) >= n_vocab))
    throw Error(ErrorKind::BadFile, "tokenizer: " + std::string(name) + " token id " +
                                        std::to_string(id) + " is outside the vocabulary of " +
                                        std::to_string(n_vocab) + " tokens");
}

}  // namespace

Tokenizer::Impl::Impl(Vocab v) : vocab(std::move(v)) {
  if (vocab.model != "llama" && vocab.model != "gpt2")
    throw Error(
        ErrorKind::Unsupported,
        "tokenizer: tokenizer kind '" + vocab.model +
            "' is not supported (supported: 'llama' SentencePiece BPE, 'gpt2' byte-level BPE)");
  const size_t n = vocab.tokens.size();
  if (n == 0) throw Error(ErrorKind::BadFile, "tokenizer: the vocabulary has no tokens");
  if (n > static_cast<size_t>(INT32_MAX))
    throw Error(ErrorKind::BadFile, "tokenizer: the vocabulary is too large");
  if (vocab.scores.empty()) vocab.scores.assign(n, 0.0f);
  if (vocab.scores.size() != n)
    throw Error(ErrorKind::BadFile, "tokenizer: " + std::to_string(vocab.scores.size()) +
                                        " scores for " + std::to_string(n) + " tokens");
  if (vocab.types.empty()) {
    vocab.types.assign(n, TokenType::Normal);
    for (size_t i = 0; i < n; ++i)
      if (parse_byte_token(vocab.tokens[i]) >= 0) vocab.types[i] = TokenType::Byte;
  }
  if (vocab.types.size() != n)
    throw Error(ErrorKind::BadFile, "tokenizer: " + std::to_string(vocab.types.size()) +
                                        " token types for " + std::to_string(n) + " tokens");
  check_special_id("BOS", vocab.bos_id, n);
  check_special_id("EOS", vocab.eos_id, n);
  check_special_id("unknown", vocab.unk_id, n);
  check_special_id("padding", vocab.pad_id, n);

  byte_ids.fill(-1);
  pieces.resize(n);
  all_tokens.reserve(n);
  merge_pieces.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    const std::string& text = vocab.tokens[i];
    all_tokens.emplace(text, id);  // the first id wins for duplicated texts
    switch (vocab.types[i]) {
      case TokenType::Byte: {
        const int value = parse_byte_token(text);
        if (value < 0)
          throw Error(ErrorKind::BadFile, "tokenizer: byte token " + std::to_string(i) +
                                              " has text '" + text + "' instead of <0xNN>");
        if (byte_ids[value] < 0) byte_ids[value] = id;
        has_byte_tokens = true;
        pieces[i] = std::string(1, static_cast<char>(value));
        break;
      }
      case TokenType::Control:
        break;
      case TokenType::Unknown:
        // SentencePiece's surface for <unk>: " ⁇ ".
        pieces[i] = " \xE2\x81\x87 ";
        break;
      case TokenType::Undefined:
      case TokenType::Normal:
      case TokenType::UserDefined:
      case TokenType::Unused:
        merge_pieces.emplace(text, id);
        pieces[i] = replace_space_symbol(text);
        break;
      default:
        throw Error(ErrorKind::BadFile, "tokenizer: token " + std::to_string(i) +
                                            " has unknown type " +
                                            std::to_string(static_cast<int>(vocab.types[i])));
    }
    if (text.empty()) continue;
    const auto first = static_cast<uint8_t>(text[0]);
    const TokenType type = vocab.types[i];
    if (type == TokenType::UserDefined) always_match[first].push_back(id);
    if (type == TokenType::UserDefined || type == TokenType::Control || type == TokenType::Unknown)
      special_match[first].push_back(id);
  }
  // Longest text first so that "<|end|>" is not cut short by a shorter token sharing its start;
  // stable, so equal lengths keep id order.
  auto by_length = [this](int32_t a, int32_t b) {
    return vocab.tokens[a].size() > vocab.tokens[b].size();
  };
  for (auto& bucket : always_match) std::stable_sort(bucket.begin(), bucket.end(), by_length);
  for (auto& bucket : special_match) std::stable_sort(bucket.begin(), bucket.end(), by_length);

  if (vocab.model == "gpt2") init_byte_level();
  init_end_of_generation();
}

void Tokenizer::Impl::check_id(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab.tokens.size())
    throw Error(ErrorKind::InvalidArgument, "tokenizer: token id " + std::to_string(id) +
                                                " is outside the vocabulary of " +
                                                std::to_string(vocab.tokens.size()) + " tokens");
}

}  // namespace minillm
