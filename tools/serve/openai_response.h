// The OpenAI response objects: whole answers (chat.completion, text_completion), streamed chunks
// (chat.completion.chunk, text_completion), usage and log-probabilities.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "minillm/continuous_batcher.h"
#include "openai_request.h"

namespace minillm::serve {

// One choice as it is being generated.
struct ChoiceState {
  std::string text;
  std::vector<GeneratedToken> tokens;   // with logprobs only
  size_t tokens_sent = 0;               // streaming: logprobs already sent
  const char* finish_reason = nullptr;  // set when the choice ended
  uint32_t completion_tokens = 0;
};

// The fields every object of one request shares.
struct ResponseHeader {
  std::string id;  // "chatcmpl-…" / "cmpl-…"
  int64_t created = 0;
  std::string model;
};

ResponseHeader new_header(Endpoint endpoint, std::string model);

// "stop", "length" as OpenAI names the ways an answer ends.
const char* finish_reason(StopReason stop);

nlohmann::json usage_json(const BatcherOutcome& outcome, const std::vector<ChoiceState>& choices);

// The whole answer, for a request that did not stream.
nlohmann::json completion_json(const ParsedRequest& request, const ResponseHeader& header,
                               const std::vector<ChoiceState>& choices,
                               const BatcherOutcome& outcome, const Tokenizer& tokenizer);

// A streamed chunk for one choice: `text` new since the last chunk, the log-probabilities not
// yet sent, and the finish reason (null until it ended; `first`: the chat chunk that names the
// role).
nlohmann::json chunk_json(const ParsedRequest& request, const ResponseHeader& header,
                          uint32_t index, ChoiceState& choice, const std::string& text, bool first,
                          const char* finish_reason, const Tokenizer& tokenizer);

// The last chunk when stream_options.include_usage is set: no choices, the usage.
nlohmann::json usage_chunk_json(const ParsedRequest& request, const ResponseHeader& header,
                                const nlohmann::json& usage);

}  // namespace minillm::serve
