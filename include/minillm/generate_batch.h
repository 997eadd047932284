// Generation for many prompts at once over one BatchSession: the prompts are evaluated together
// (in passes of up to n_batch tokens), then every step decodes the next token of every unfinished
// sequence in one pass, each with its own sampler chain, stop conditions and stream. Each
// request gets exactly the tokens and text generate() gives it alone in a Session.
//
//   std::vector<minillm::BatchRequest> requests(16);
//   for (auto& r : requests) r.prompt = tokenizer.encode("Once upon a time"),
//   r.params.sampling.seed = ...; auto results = minillm::generate_batch(batch, tokenizer,
//   requests,
//       [](size_t request, std::string_view text, int32_t) { ...; return true; });
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "minillm/batch_session.h"
#include "minillm/generate.h"
#include "minillm/tokenizer.h"

namespace minillm {

struct BatchRequest {
  std::vector<int32_t> prompt;  // token ids (BOS included if wanted)
  GenerateParams params;
};

// Text of request `request`, as generate()'s TokenCallback; return false to stop that request.
using BatchTokenCallback =
    std::function<bool(size_t request, std::string_view text, int32_t token)>;

// Adds a sequence per request, generates, and removes them again. Throws Error (before any
// evaluation) for an empty prompt, a prompt longer than n_seq_ctx, invalid sampling parameters or
// a tokenizer that does not match the model.
std::vector<GenerateResult> generate_batch(BatchSession& batch, const Tokenizer& tokenizer,
                                           std::span<const BatchRequest> requests,
                                           const BatchTokenCallback& on_text = {});

}  // namespace minillm
