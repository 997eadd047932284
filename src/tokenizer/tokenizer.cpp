// Tokenizer: splitting text around special tokens, BOS/EOS, decoding, and lookups.
#include "minillm/tokenizer.h"

#include "minillm/error.h"
#include "tokenizer/spm.h"

namespace minillm {

Tokenizer Tokenizer::from_vocab(Vocab vocab) {
  return Tokenizer(std::make_shared<const Impl>(std::move(vocab)));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  const Impl& im = *impl_;
  const Vocab& v = im.vocab;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (options.add_bos && v.add_bos && v.bos_id >= 0) out.push_back(v.bos_id);

  // Cut the text at whole-token matches (user-defined always, control/unknown when asked); each
  // plain run in between is BPE-encoded. Like Hugging Face and llama.cpp, every plain run that
  // starts the text or follows a matched token gets the dummy space prefix (SentencePiece only).
  const auto& buckets = options.parse_special ? im.special_match : im.always_match;
  size_t plain_start = 0;
  for (size_t i = 0; i < text.size();) {
    int32_t matched = -1;
    for (int32_t id : buckets[static_cast<uint8_t>(text[i])]) {
      if (text.substr(i).starts_with(v.tokens[id])) {
        matched = id;
        break;
      }
    }
    if (matched < 0) {
      ++i;
      continue;
    }
    im.encode_run(text.substr(plain_start, i - plain_start), out);
    out.push_back(matched);
    i += v.tokens[matched].size();
    plain_start = i;
  }
  im.encode_run(text.substr(plain_start), out);

  if (options.add_eos && v.add_eos && v.eos_id >= 0) out.push_back(v.eos_id);
  return out;
}

void Tokenizer::Impl::append_piece(int32_t id, const DecodeOptions& options, bool& at_start,
                                   std::string& out) const {
  check_id(id);
  const TokenType type = vocab.types[id];
  if (type == TokenType::Control) {
    // Control tokens are invisible unless rendered, and never end the "start of text" state,
    // so the space after a leading BOS is still dropped.
    if (options.render_special) out += vocab.tokens[id];
    return;
  }
  std::string_view piece = pieces[id];
  if (type == TokenType::Unknown && options.render_special) piece = vocab.tokens[id];
  if (piece.empty()) return;
  if (at_start) {
    at_start = false;
    const bool word_piece = type == TokenType::Normal || type == TokenType::UserDefined ||
                            type == TokenType::Unused || type == TokenType::Undefined;
    if (options.strip_leading_space && vocab.add_space_prefix && word_piece && piece[0] == ' ')
      piece.remove_prefix(1);
  }
  out += piece;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) impl_->append_piece(id, options, at_start, out);
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  impl_->check_id(id);
  const TokenType type = impl_->vocab.types[id];
  if (render_special && (type == TokenType::Control || type == TokenType::Unknown))
    return impl_->vocab.tokens[id];
  return impl_->pieces[id];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  impl_->check_id(id);
  return impl_->vocab.tokens[id];
}

TokenType Tokenizer::token_type(int32_t id) const {
  impl_->check_id(id);
  return impl_->vocab.types[id];
}

float Tokenizer::token_score(int32_t id) const {
  impl_->check_id(id);
  return impl_->vocab.scores[id];
}

std::optional<int32_t> Tokenizer::token_id(std::string_view text) const {
  const auto it = impl_->all_tokens.find(text);
  if (it == impl_->all_tokens.end()) return std::nullopt;
  return it->second;
}

int32_t Tokenizer::n_vocab() const {
  return static_cast<int32_t>(impl_->vocab.tokens.size());
}
int32_t Tokenizer::bos_id() const {
  return impl_->vocab.bos_id;
}
int32_t Tokenizer::eos_id() const {
  return impl_->vocab.eos_id;
}
int32_t Tokenizer::unk_id() const {
  return impl_->vocab.unk_id;
}
int32_t Tokenizer::pad_id() const {
  return impl_->vocab.pad_id;
}
bool Tokenizer::is_control(int32_t id) const {
  return token_type(id) == TokenType::Control;
}
const Vocab& Tokenizer::vocab() const {
  return impl_->vocab;
}

}  // namespace minillm
