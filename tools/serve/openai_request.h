// Reading /v1/chat/completions and /v1/completions request bodies: every field checked for its
// type and range (ApiError 400 naming the field), unknown fields ignored as OpenAI does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "minillm/chat_template.h"
#include "minillm/generate.h"
#include "minillm/tokenizer.h"
#include "response_format.h"

namespace minillm::serve {

enum class Endpoint { Chat, Completions };

// What the server's command line sets as defaults for fields a request leaves out.
struct RequestDefaults {
  SamplerParams sampling;  // seed unused: a request without one gets a random seed
  int32_t n_parallel = 1;  // the largest n
};

struct ParsedRequest {
  Endpoint endpoint = Endpoint::Chat;
  std::vector<int32_t> prompt;
  std::string prompt_text;  // completions: for echo
  GenerateParams params;
  uint32_t n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  uint32_t top_logprobs = 0;
  bool echo = false;
  std::string model;  // as the client named it (answers use the server's id)
};

// Throws ApiError (400) for wrong types, out-of-range values, a chat the template rejects and
// unsupported options. `formats` compiles response_format (chat only).
ParsedRequest parse_request(Endpoint endpoint, const nlohmann::ordered_json& body,
                            const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                            const RequestDefaults& defaults, ResponseFormats& formats);

}  // namespace minillm::serve
