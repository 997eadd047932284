#include "minillm/generate.h"

#include <algorithm>
#include <chrono>

#include "generation/stop_strings.h"
#include "minillm/error.h"

namespace minillm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The processor (if any) sees a copy of the logits, so the session's buffer stays as evaluated.
int32_t next_token(Sampler& sampler, std::span<const float> logits,
                   const LogitsProcessor& processor, std::span<const int32_t> generated,
                   std::vector<float>& copy) {
  if (!processor) return sampler.sample(logits);
  copy.assign(logits.begin(), logits.end());
  if (const std::optional<int32_t> forced = processor(copy, generated)) {
    if (*forced < 0 || size_t(*forced) >= logits.size())
      throw Error("the logits processor chose token " + std::to_string(*forced) +
                  ", outside the vocabulary of " + std::to_string(logits.size()));
    return *forced;
  }
  return sampler.sample(copy);
}

}  // namespace

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::MaxTokens:
      return "max tokens";
    case StopReason::EndOfText:
      return "end of text";
    case StopReason::StopString:
      return "stop string";
    case StopReason::ContextFull:
      return "context full";
    case StopReason::Callback:
      return "stopped by caller";
  }
  return "unknown";
}

double GenerateStats::prompt_tokens_per_second() const {
  return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0;
}
double GenerateStats::generation_tokens_per_second() const {
  return generation_seconds > 0 ? generated_tokens / generation_seconds : 0;
}

GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::string_view prompt,
                        const GenerateParams& params, const TokenCallback& on_text) {
  EncodeOptions eo;
  eo.add_bos = params.add_bos;
  eo.add_eos = false;
  eo.parse_special = params.parse_special;
  const std::vector<int32_t> ids = tokenizer.encode(prompt, eo);
  return generate(session, tokenizer, ids, params, on_text);
}

GenerateResult generate(Session& session, const Tokenizer& tokenizer,
                        std::span<const int32_t> prompt_ids, const GenerateParams& params,
                        const TokenCallback& on_text) {
  if (prompt_ids.empty()) throw Error("the prompt is empty (no tokens to start from)");
  if (params.max_tokens < -1) throw Error("max_tokens must be -1 (unlimited) or more");
  if (tokenizer.n_vocab() != int32_t(session.model().config().n_vocab))
    throw Error("the tokenizer's vocabulary (" + std::to_string(tokenizer.n_vocab()) +
                " tokens) does not match the model's (" +
                std::to_string(session.model().config().n_vocab) + ")");
  if (prompt_ids.size() > size_t(session.n_ctx() - session.n_past()))
    throw Error(ErrorKind::ContextFull, "the prompt has " + std::to_string(prompt_ids.size()) +
                                            " tokens but the context has room for " +
                                            std::to_string(session.n_ctx() - session.n_past()));

  Sampler sampler(params.sampling);
  for (int32_t id : prompt_ids) sampler.accept(id);  // penalties see the prompt, as in llama.cpp
  GenerateResult result;

  const auto prompt_start = Clock::now();
  std::span<const float> logits = session.eval(prompt_ids);
  result.stats.prompt_tokens = uint32_t(prompt_ids.size());
  result.stats.prompt_seconds = seconds_since(prompt_start);

  StreamDecoder decoder(tokenizer,
                        DecodeOptions{.render_special = false, .strip_leading_space = false});
  StopStringFilter filter(params.stop_strings);
  // Hands text to the caller; false when generation must stop.
  auto emit = [&](std::string piece, int32_t id, bool final) {
    const auto out = filter.push(piece, final);
    result.text += out.text;
    if (!out.text.empty() && on_text && !on_text(out.text, id)) {
      result.stop = StopReason::Callback;
      return false;
    }
    if (out.matched) {
      result.stop = StopReason::StopString;
      return false;
    }
    return true;
  };

  const auto gen_start = Clock::now();
  std::vector<float> processed;  // the logits processor's copy of the logits
  for (int32_t n = 0;; ++n) {
    if (params.max_tokens >= 0 && n >= params.max_tokens) {
      result.stop = StopReason::MaxTokens;
      break;
    }
    const int32_t id =
        next_token(sampler, logits, params.logits_processor, result.tokens, processed);
    sampler.accept(id);
    result.tokens.push_back(id);
    if (!params.ignore_eos && tokenizer.is_end_of_generation(id)) {
      result.stop = StopReason::EndOfText;
      break;
    }
    if (!emit(decoder.push(id), id, false)) break;
    const bool last = params.max_tokens >= 0 && n + 1 >= params.max_tokens;
    if (last) continue;  // the loop head reports MaxTokens; no need to evaluate this token
    if (session.n_past() >= session.n_ctx()) {
      result.stop = StopReason::ContextFull;
      break;
    }
    logits = session.eval(std::span<const int32_t>(&result.tokens.back(), 1));
  }
  // Release what the decoder and the stop-string filter still hold, unless generation ended
  // inside a stop string or the caller asked to stop.
  if (result.stop != StopReason::StopString && result.stop != StopReason::Callback)
    emit(decoder.flush(), result.tokens.empty() ? -1 : result.tokens.back(), true);
  result.stats.generated_tokens = uint32_t(result.tokens.size());
  result.stats.generation_seconds = seconds_since(gen_start);
  return result;
}

}  // namespace minillm
