#include "minillm/generate.h"

#include <algorithm>
#include <chrono>

#include "generation/sequence_generator.h"
#include "minillm/error.h"

namespace minillm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
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

  SequenceGenerator gen(tokenizer, params, prompt_ids, on_text);
  const auto prompt_start = Clock::now();
  std::span<const float> logits = session.eval(prompt_ids);
  const double prompt_seconds = seconds_since(prompt_start);

  const auto gen_start = Clock::now();
  while (const std::optional<int32_t> next = gen.step(logits, session.n_past() < session.n_ctx()))
    logits = session.eval(std::span<const int32_t>(&*next, 1));
  GenerateResult result = gen.finish();
  result.stats.prompt_tokens = uint32_t(prompt_ids.size());
  result.stats.prompt_seconds = prompt_seconds;
  result.stats.generation_seconds = seconds_since(gen_start);
  return result;
}

}  // namespace minillm
