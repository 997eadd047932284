#include "openai_response.h"

#include <chrono>
#include <random>

namespace minillm::serve {
namespace {

using nlohmann::json;

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char digits[] = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += digits[rng() % 16];
  return id;
}

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(int(c));
  return b;
}

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
json chat_logprobs(std::span<const GeneratedToken> tokens, const Tokenizer& tok) {
  json content = json::array();
  for (const GeneratedToken& g : tokens) {
    const std::string piece = tok.token_to_piece(g.token);
    json top = json::array();
    for (const TokenLogprob& t : g.top) {
      const std::string p = tok.token_to_piece(t.token);
      top.push_back({{"token", p}, {"logprob", t.logprob}, {"bytes", bytes_of(p)}});
    }
    content.push_back({{"token", piece},
                       {"logprob", g.logprob},
                       {"bytes", bytes_of(piece)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

// Completions: parallel arrays, offsets into the choice's text (after the echoed prompt).
json completion_logprobs(std::span<const GeneratedToken> tokens, const Tokenizer& tok,
                         size_t offset) {
  json pieces = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const GeneratedToken& g : tokens) {
    const std::string piece = tok.token_to_piece(g.token);
    pieces.push_back(piece);
    lps.push_back(g.logprob);
    json top = json::object();
    for (const TokenLogprob& t : g.top) top[tok.token_to_piece(t.token)] = t.logprob;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += piece.size();
  }
  return {{"tokens", pieces},
          {"token_logprobs", lps},
          {"top_logprobs", tops},
          {"text_offset", offsets}};
}

json logprobs_json(const ParsedRequest& r, std::span<const GeneratedToken> tokens,
                   const Tokenizer& tok, size_t offset) {
  if (!r.logprobs) return nullptr;
  return r.endpoint == Endpoint::Chat ? chat_logprobs(tokens, tok)
                                      : completion_logprobs(tokens, tok, offset);
}

json header_fields(const ParsedRequest& r, const ResponseHeader& h, bool chunk) {
  const char* object = r.endpoint == Endpoint::Chat
                           ? (chunk ? "chat.completion.chunk" : "chat.completion")
                           : "text_completion";
  return {{"id", h.id},
          {"object", object},
          {"created", h.created},
          {"model", h.model},
          {"system_fingerprint", "mini-llm"}};
}

}  // namespace

ResponseHeader new_header(Endpoint endpoint, std::string model) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {random_id(endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-"),
          std::chrono::duration_cast<std::chrono::seconds>(now).count(), std::move(model)};
}

const char* finish_reason(StopReason stop) {
  switch (stop) {
    case StopReason::MaxTokens:
    case StopReason::ContextFull:
      return "length";
    case StopReason::EndOfText:
    case StopReason::StopString:
    case StopReason::Callback:
      break;
  }
  return "stop";
}

json usage_json(const BatcherOutcome& outcome, const std::vector<ChoiceState>& choices) {
  uint32_t completion = 0;
  for (const ChoiceState& c : choices) completion += c.completion_tokens;
  return {{"prompt_tokens", outcome.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", outcome.prompt_tokens + completion},
          {"prompt_tokens_details", {{"cached_tokens", outcome.cached_tokens}}}};
}

json completion_json(const ParsedRequest& r, const ResponseHeader& h,
                     const std::vector<ChoiceState>& choices, const BatcherOutcome& outcome,
                     const Tokenizer& tok) {
  json out = header_fields(r, h, false);
  json list = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceState& c = choices[i];
    json choice = {{"index", i}, {"finish_reason", c.finish_reason ? c.finish_reason : "stop"}};
    if (r.endpoint == Endpoint::Chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
      choice["logprobs"] = logprobs_json(r, c.tokens, tok, 0);
    } else {
      const std::string prefix = r.echo ? r.prompt_text : std::string();
      choice["text"] = prefix + c.text;
      choice["logprobs"] = logprobs_json(r, c.tokens, tok, prefix.size());
    }
    list.push_back(std::move(choice));
  }
  out["choices"] = std::move(list);
  out["usage"] = usage_json(outcome, choices);
  return out;
}

json chunk_json(const ParsedRequest& r, const ResponseHeader& h, uint32_t index, ChoiceState& c,
                const std::string& text, bool first, const char* finish, const Tokenizer& tok) {
  json out = header_fields(r, h, true);
  const std::span<const GeneratedToken> fresh =
      std::span(c.tokens).subspan(std::min(c.tokens_sent, c.tokens.size()));
  json choice = {{"index", index},
                 {"finish_reason", finish ? json(finish) : json(nullptr)},
                 {"logprobs", logprobs_json(r, fresh, tok, 0)}};
  c.tokens_sent = c.tokens.size();
  if (r.endpoint == Endpoint::Chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (first || !text.empty()) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  out["choices"] = json::array({std::move(choice)});
  if (r.include_usage) out["usage"] = nullptr;
  return out;
}

json usage_chunk_json(const ParsedRequest& r, const ResponseHeader& h, const json& usage) {
  json out = header_fields(r, h, true);
  out["choices"] = json::array();
  out["usage"] = usage;
  return out;
}

}  // namespace minillm::serve
