// Text generation: evaluate a prompt in batches, then sample and stream tokens until a stop
// condition.
//
//   auto model = minillm::Model::load("model.gguf");
//   auto tokenizer = minillm::Tokenizer::from_file("model.gguf");
//   minillm::Session session(model, {.n_ctx = 2048});
//   minillm::GenerateParams params;
//   params.max_tokens = 64;
//   params.sampling.temperature = 0;  // greedy
//   auto result = minillm::generate(session, tokenizer, "Once upon a time", params,
//                                   [](std::string_view text, int32_t) {
//                                     std::cout << text << std::flush;
//                                     return true;  // false stops generation
//                                   });
//   std::cerr << result.stats.generation_tokens_per_second() << " tokens/s\n";
//
// A logits processor plugs user code into every step (a logit bias, a ban, a grammar mask, or a
// token chosen outright):
//
//   params.logits_processor = [&](std::span<float> logits, std::span<const int32_t> generated)
//       -> std::optional<int32_t> {
//     logits[tokenizer.eos_id()] = -INFINITY;  // never stop on EOS
//     return std::nullopt;                     // sample from the changed logits
//   };
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "minillm/grammar.h"
#include "minillm/sampler.h"
#include "minillm/session.h"
#include "minillm/tokenizer.h"

namespace minillm {

// Called before sampling at every step with the logits of the last position (n_vocab floats, a
// copy it may change in place; the sampler then runs on the changed values) and the ids
// generated so far. Returning a token id uses that token instead of sampling (it must be inside
// the vocabulary; it still feeds the repetition penalties and the stop conditions); returning
// std::nullopt samples as usual. What it throws passes out of generate().
using LogitsProcessor = std::function<std::optional<int32_t>(std::span<float> logits,
                                                             std::span<const int32_t> generated)>;

struct GenerateParams {
  int32_t max_tokens = 128;  // tokens to generate at most; -1 = until EOS or the context is full
  SamplerParams sampling;
  bool ignore_eos = false;  // keep going past end-of-generation tokens (EOS, <|eot_id|>, ...)
  std::vector<std::string> stop_strings;  // stop when the generated text contains one of these
  bool add_bos = true;                    // for a text prompt: prepend BOS as the vocabulary asks
  bool parse_special = false;             // for a text prompt: recognise special-token text
  LogitsProcessor logits_processor;       // optional; see above
  // Optional: the text must match this grammar (minillm/grammar.h). Tokens that cannot continue
  // it are masked before the logits processor runs, and generation ends (EndOfText) as soon as
  // the grammar is complete. One constraint may serve many requests at once.
  std::shared_ptr<GrammarConstraint> grammar;
};

enum class StopReason {
  MaxTokens,    // max_tokens generated
  EndOfText,    // the model produced an end-of-generation token (Tokenizer::is_end_of_generation),
                // or the grammar (GenerateParams::grammar) is complete
  StopString,   // the text contains one of the stop strings (not streamed, not in `text`)
  ContextFull,  // the KV cache has no room for another token
  Callback,     // the callback returned false
};
const char* stop_reason_name(StopReason reason);

struct GenerateStats {
  uint32_t prompt_tokens = 0;
  double prompt_seconds = 0;
  uint32_t generated_tokens = 0;  // tokens sampled (including a final EOS)
  double generation_seconds = 0;  // sampling + evaluating the generated tokens
  double prompt_tokens_per_second() const;
  double generation_tokens_per_second() const;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (EOS included when it ended generation)
  std::string text;             // the streamed text: decoded tokens, cut before any stop string
  StopReason stop = StopReason::MaxTokens;
  GenerateStats stats;
};

// Receives each piece of text as soon as it is complete UTF-8 (and cannot be the start of a stop
// string), with the id of the token that completed it. Return false to stop.
using TokenCallback = std::function<bool(std::string_view text, int32_t token)>;

// Continues the session's sequence with `prompt` (appended after whatever the session holds)
// and generates. Throws Error when the prompt does not fit in the context.
GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::string_view prompt,
                        const GenerateParams& params, const TokenCallback& on_text = {});
GenerateResult generate(Session& session, const Tokenizer& tokenizer,
                        std::span<const int32_t> prompt_ids, const GenerateParams& params,
                        const TokenCallback& on_text = {});

}  // namespace minillm
