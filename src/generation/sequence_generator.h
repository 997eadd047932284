// The per-sequence half of generation: sampling, stop conditions and streaming text for one
// sequence, whatever evaluates it (generate() over a Session, generate_batch() over a
// BatchSession).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "generation/stop_strings.h"
#include "minillm/generate.h"
#include "minillm/grammar.h"
#include "minillm/sampler.h"
#include "minillm/tokenizer.h"

namespace minillm {

class SequenceGenerator {
 public:
  // The sampler sees the prompt (penalties), as in llama.cpp.
  SequenceGenerator(const Tokenizer& tokenizer, const GenerateParams& params,
                    std::span<const int32_t> prompt, TokenCallback on_text);

  // From the logits after the last evaluated token: picks the next token and streams its text.
  // Returns the token to evaluate next, or nothing when generation ends (result().stop says why).
  // `room`: whether the context can take one more token.
  std::optional<int32_t> step(std::span<const float> logits, bool room);
  // Releases the text still held back (unless generation ended in a stop string or by the
  // caller) and returns the result; call once, after step() returned nothing.
  GenerateResult finish();
  // The tokens sampled so far (the last one is what step() just picked, or the one that ended
  // generation).
  std::span<const int32_t> tokens() const { return result_.tokens; }

 private:
  bool emit(const std::string& piece, int32_t id, bool final);

  int32_t next_token(std::span<const float> logits);

  const Tokenizer& tokenizer_;
  const GenerateParams& params_;
  TokenCallback on_text_;
  Sampler sampler_;
  StreamDecoder decoder_;
  StopStringFilter filter_;
  GenerateResult result_;
  std::vector<float> processed_;  // the logits processor's copy of the logits
  std::optional<GrammarMatcher> grammar_;
};

}  // namespace minillm
