#include "openai_request.h"

#include <cmath>
#include <limits>
#include <optional>
#include <random>

#include "api_error.h"
#include "minillm/chat.h"
#include "minillm/error.h"

namespace minillm::serve {
namespace {

// Requests keep their object keys in order: a JSON Schema's properties are generated in it.
using json = nlohmann::ordered_json;

ApiError bad(const std::string& param, const std::string& message) {
  return ApiError(400, message, param, "invalid_value");
}

// Typed access to optional fields; JSON null counts as absent, as the OpenAI API treats it.
class Fields {
 public:
  explicit Fields(const json& body) : body_(body) {}

  const json* get(const std::string& name) const {
    const auto it = body_.find(name);
    return it == body_.end() || it->is_null() ? nullptr : &*it;
  }

  std::optional<double> number(const std::string& name, double lo, double hi) const {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw bad(name, "'" + name + "' must be a number");
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
      throw bad(name, "'" + name + "' must be between " + fmt(lo) + " and " + fmt(hi));
    return x;
  }

  std::optional<int64_t> integer(const std::string& name, int64_t lo, int64_t hi) const {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) throw bad(name, "'" + name + "' must be an integer");
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(hi))
      throw bad(name, "'" + name + "' must be between " + std::to_string(lo) + " and " +
                          std::to_string(hi));
    const int64_t x = v->get<int64_t>();
    if (x < lo || x > hi)
      throw bad(name, "'" + name + "' must be between " + std::to_string(lo) + " and " +
                          std::to_string(hi));
    return x;
  }

  std::optional<bool> boolean(const std::string& name) const {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw bad(name, "'" + name + "' must be true or false");
    return v->get<bool>();
  }

  std::optional<std::string> string(const std::string& name) const {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw bad(name, "'" + name + "' must be a string");
    return v->get<std::string>();
  }

 private:
  static std::string fmt(double x) {
    std::string s = std::to_string(x);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  const json& body_;
};

std::string content_text(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return {};
  if (!content.is_array())
    throw bad(param, "'" + param + "' must be a string or an array of text parts");
  // Text parts are joined with newlines; other part types (images, audio) need a model that
  // reads them.
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      throw bad(p, "'" + p + "' must be an object with a 'type'");
    if (part["type"] != "text")
      throw ApiError(400,
                     "content parts of type '" + part["type"].get<std::string>() +
                         "' are not supported by this model",
                     p + ".type", "unsupported_value");
    if (!part.contains("text") || !part["text"].is_string())
      throw bad(p + ".text", "'" + p + ".text' must be a string");
    if (i > 0) text += '\n';
    text += part["text"].get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> read_messages(const json& body) {
  const auto it = body.find("messages");
  if (it == body.end() || it->is_null()) throw bad("messages", "'messages' is required");
  if (!it->is_array() || it->empty()) throw bad("messages", "'messages' must be a non-empty array");
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad(p, "'" + p + "' must be an object");
    if (!m.contains("role") || !m["role"].is_string())
      throw bad(p + ".role", "'" + p + ".role' must be a string");
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";  // OpenAI's newer name for the system role
    if (role != "system" && role != "user" && role != "assistant")
      throw bad(p + ".role", "'" + p + ".role' must be system, user, assistant or developer");
    if (!m.contains("content")) throw bad(p + ".content", "'" + p + ".content' is required");
    messages.push_back({role, content_text(m["content"], p + ".content")});
  }
  return messages;
}

std::vector<std::string> read_stop(const Fields& f) {
  const json* v = f.get("stop");
  if (!v) return {};
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array() && v->size() <= 4) {
    for (const json& s : *v) {
      if (!s.is_string()) throw bad("stop", "'stop' must be a string or an array of strings");
      stops.push_back(s.get<std::string>());
    }
  } else {
    throw bad("stop", "'stop' must be a string or an array of at most 4 strings");
  }
  for (const std::string& s : stops)
    if (s.empty()) throw bad("stop", "'stop' strings must not be empty");
  return stops;
}

std::vector<std::pair<int32_t, float>> read_logit_bias(const Fields& f, int32_t n_vocab) {
  const json* v = f.get("logit_bias");
  if (!v) return {};
  if (!v->is_object())
    throw bad("logit_bias", "'logit_bias' must be an object of token id -> bias");
  std::vector<std::pair<int32_t, float>> bias;
  for (const auto& [key, value] : v->items()) {
    size_t used = 0;
    long id = -1;
    try {
      id = std::stol(key, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != key.size() || id < 0 || id >= n_vocab)
      throw bad("logit_bias", "'logit_bias' key '" + key + "' is not a token id below " +
                                  std::to_string(n_vocab));
    if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100)
      throw bad("logit_bias", "'logit_bias' values must be numbers between -100 and 100");
    bias.emplace_back(int32_t(id), value.get<float>());
  }
  return bias;
}

std::vector<int32_t> completion_prompt(const json& body, const Tokenizer& tokenizer,
                                       std::string& text) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw bad("prompt", "'prompt' is required");
  const json* p = &*it;
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  if (p->is_string()) {
    text = p->get<std::string>();
    EncodeOptions eo;
    eo.add_eos = false;
    return tokenizer.encode(text, eo);
  }
  if (p->is_array() && !p->empty()) {  // token ids
    std::vector<int32_t> ids;
    for (const json& t : *p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tokenizer.n_vocab())
        throw bad("prompt", "'prompt' must be a string or an array of token ids below " +
                                std::to_string(tokenizer.n_vocab()));
      ids.push_back(int32_t(t.get<int64_t>()));
    }
    text = tokenizer.decode(ids);
    return ids;
  }
  throw bad("prompt", "'prompt' must be a string or an array of token ids");
}

}  // namespace

ParsedRequest parse_request(Endpoint endpoint, const json& body, const Tokenizer& tokenizer,
                            const ChatTemplate& chat_template, const RequestDefaults& defaults,
                            ResponseFormats& formats) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  const Fields f(body);
  ParsedRequest r;
  r.endpoint = endpoint;
  r.model = f.string("model").value_or("");

  SamplerParams& s = r.params.sampling;
  s = defaults.sampling;
  if (auto t = f.number("temperature", 0, 2)) s.temperature = float(*t);
  if (auto p = f.number("top_p", 0, 1)) {
    s.top_p = float(*p);
    if (*p == 0) s.temperature = 0;  // only the most likely token is left
  }
  if (auto k = f.integer("top_k", 0, std::numeric_limits<int32_t>::max())) s.top_k = int32_t(*k);
  if (auto m = f.number("min_p", 0, 1)) s.min_p = float(*m);
  if (auto rp = f.number("repeat_penalty", 0.01, 100)) s.repeat_penalty = float(*rp);
  if (auto pp = f.number("presence_penalty", -2, 2)) s.presence_penalty = float(*pp);
  if (auto fp = f.number("frequency_penalty", -2, 2)) s.frequency_penalty = float(*fp);
  s.logit_bias = read_logit_bias(f, tokenizer.n_vocab());
  if (auto seed = f.integer("seed", std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max()))
    s.seed = uint64_t(*seed);
  else
    s.seed = std::random_device{}();

  // Chat answers run until the model stops (or the context is full); completions default to 16
  // tokens, as in the OpenAI API.
  r.params.max_tokens = endpoint == Endpoint::Chat ? -1 : 16;
  if (auto m = f.integer("max_tokens", 1, std::numeric_limits<int32_t>::max()))
    r.params.max_tokens = int32_t(*m);
  if (endpoint == Endpoint::Chat)
    if (auto m = f.integer("max_completion_tokens", 1, std::numeric_limits<int32_t>::max()))
      r.params.max_tokens = int32_t(*m);
  r.params.stop_strings = read_stop(f);
  r.params.ignore_eos = f.boolean("ignore_eos").value_or(false);  // llama.cpp's extension
  r.n = uint32_t(f.integer("n", 1, defaults.n_parallel).value_or(1));

  r.stream = f.boolean("stream").value_or(false);
  if (const json* so = f.get("stream_options")) {
    if (!so->is_object()) throw bad("stream_options", "'stream_options' must be an object");
    const Fields sf(*so);
    const json* iu = sf.get("include_usage");
    if (iu && !iu->is_boolean())
      throw bad("stream_options.include_usage",
                "'stream_options.include_usage' must be true or false");
    r.include_usage = iu && iu->get<bool>();
  }

  if (endpoint == Endpoint::Chat) {
    r.logprobs = f.boolean("logprobs").value_or(false);
    if (auto t = f.integer("top_logprobs", 0, 20)) {
      if (!r.logprobs) throw bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
      r.top_logprobs = uint32_t(*t);
    }
    if (const json* rf = f.get("response_format")) r.params.grammar = formats.constraint(*rf);
    try {
      r.prompt = chat_prompt_tokens(tokenizer, chat_template, read_messages(body));
    } catch (const ChatTemplateRaised& e) {
      throw ApiError(400, e.what(), "messages", "invalid_value");
    } catch (const Error& e) {
      throw ApiError(400, std::string("the chat template failed: ") + e.what(), "messages");
    }
  } else {
    if (auto lp = f.integer("logprobs", 0, 5)) {  // completions: the number of alternatives
      r.logprobs = true;
      r.top_logprobs = uint32_t(*lp);
    }
    r.echo = f.boolean("echo").value_or(false);
    r.prompt = completion_prompt(body, tokenizer, r.prompt_text);
    if (r.prompt.empty()) throw bad("prompt", "'prompt' must not be empty");
  }
  return r;
}

}  // namespace minillm::serve
