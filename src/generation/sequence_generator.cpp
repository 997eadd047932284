#include "generation/sequence_generator.h"

#include <string>

#include "minillm/error.h"

namespace minillm {

SequenceGenerator::SequenceGenerator(const Tokenizer& tokenizer, const GenerateParams& params,
                                     std::span<const int32_t> prompt, TokenCallback on_text)
    : tokenizer_(tokenizer),
      params_(params),
      on_text_(std::move(on_text)),
      sampler_(params.sampling),
      decoder_(tokenizer, DecodeOptions{.render_special = false, .strip_leading_space = false}),
      filter_(params.stop_strings) {
  for (int32_t id : prompt) sampler_.accept(id);
  if (params.grammar) {
    if (params.grammar->n_vocab() != tokenizer.n_vocab())
      throw Error("the grammar was bound to a vocabulary of " +
                  std::to_string(params.grammar->n_vocab()) + " tokens, not this tokenizer's " +
                  std::to_string(tokenizer.n_vocab()));
    grammar_.emplace(params.grammar);
  }
}

bool SequenceGenerator::emit(const std::string& piece, int32_t id, bool final) {
  const auto out = filter_.push(piece, final);
  result_.text += out.text;
  if (!out.text.empty() && on_text_ && !on_text_(out.text, id)) {
    result_.stop = StopReason::Callback;
    return false;
  }
  if (out.matched) {
    result_.stop = StopReason::StopString;
    return false;
  }
  return true;
}

// The grammar mask and the processor (if any) see a copy of the logits, so the evaluator's buffer
// stays as evaluated.
int32_t SequenceGenerator::next_token(std::span<const float> logits) {
  if (!params_.logits_processor && !grammar_) return sampler_.sample(logits);
  processed_.assign(logits.begin(), logits.end());
  if (grammar_) grammar_->apply(processed_);
  if (params_.logits_processor) {
    if (const auto forced = params_.logits_processor(processed_, result_.tokens)) {
      if (*forced < 0 || size_t(*forced) >= logits.size())
        throw Error("the logits processor chose token " + std::to_string(*forced) +
                    ", outside the vocabulary of " + std::to_string(logits.size()));
      return *forced;
    }
  }
  return sampler_.sample(processed_);
}

std::optional<int32_t> SequenceGenerator::step(std::span<const float> logits, bool room) {
  const auto n = int32_t(result_.tokens.size());
  if (params_.max_tokens >= 0 && n >= params_.max_tokens) {
    result_.stop = StopReason::MaxTokens;
    return std::nullopt;
  }
  const int32_t id = next_token(logits);
  if (grammar_) grammar_->accept(id);  // throws for a token the processor forced against it
  sampler_.accept(id);
  result_.tokens.push_back(id);
  if (!params_.ignore_eos && tokenizer_.is_end_of_generation(id)) {
    result_.stop = StopReason::EndOfText;
    return std::nullopt;
  }
  if (!emit(decoder_.push(id), id, false)) return std::nullopt;
  if (grammar_ && grammar_->is_complete()) {
    result_.stop = StopReason::EndOfText;
    return std::nullopt;
  }
  if (params_.max_tokens >= 0 && n + 1 >= params_.max_tokens) {
    result_.stop = StopReason::MaxTokens;  // no need to evaluate the last token
    return std::nullopt;
  }
  if (!room) {
    result_.stop = StopReason::ContextFull;
    return std::nullopt;
  }
  return id;
}

GenerateResult SequenceGenerator::finish() {
  if (result_.stop != StopReason::StopString && result_.stop != StopReason::Callback)
    emit(decoder_.flush(), result_.tokens.empty() ? -1 : result_.tokens.back(), true);
  result_.stats.generated_tokens = uint32_t(result_.tokens.size());
  return std::move(result_);
}

}  // namespace minillm
