// StreamDecoder: decoding one id at a time without splitting a UTF-8 character.
#include "minillm/tokenizer.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace minillm {

StreamDecoder::StreamDecoder(Tokenizer tokenizer, DecodeOptions options)
    : tokenizer_(std::move(tokenizer)), options_(options) {}

std::string StreamDecoder::push(int32_t id) {
  tokenizer_.impl_->append_piece(id, options_, at_start_, pending_);
  // Release everything up to a trailing character that may still be completed by later bytes.
  // Invalid bytes are released at once: waiting cannot make them valid.
  size_t pos = 0;
  while (pos < pending_.size()) {
    const std::string_view rest = std::string_view(pending_).substr(pos);
    const size_t len = utf8::valid_char_length(rest);
    if (len > 0)
      pos += len;
    else if (utf8::is_incomplete_prefix(rest))
      break;
    else
      pos += 1;
  }
  std::string ready = pending_.substr(0, pos);
  pending_.erase(0, pos);
  return ready;
}

std::string StreamDecoder::flush() {
  std::string rest = std::move(pending_);
  pending_.clear();
  return rest;
}

void StreamDecoder::reset() {
  pending_.clear();
  at_start_ = true;
}

}  // namespace minillm
