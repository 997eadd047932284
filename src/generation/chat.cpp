#include "minillm/chat.h"

#include <nlohmann/json.hpp>

#include "minillm/error.h"

namespace minillm {

Chat::Chat(Session& session, Tokenizer tokenizer, ChatTemplate chat_template, ChatOptions options)
    : session_(session),
      tokenizer_(std::move(tokenizer)),
      template_(std::move(chat_template)),
      options_(std::move(options)) {
  reset();
}

void Chat::reset() {
  messages_.clear();
  if (!options_.system.empty()) messages_.push_back({"system", options_.system});
  session_.reset();
  cached_text_.clear();
  pending_token_.reset();
}

namespace {

std::string render_conversation(const ChatTemplate& tpl, const Tokenizer& tokenizer,
                                std::vector<ChatMessage> messages, bool add_generation_prompt,
                                const std::string& date) {
  ChatContext ctx;
  ctx.messages = std::move(messages);
  ctx.add_generation_prompt = add_generation_prompt;
  if (tokenizer.bos_id() >= 0) ctx.bos_token = tokenizer.token_text(tokenizer.bos_id());
  if (tokenizer.eos_id() >= 0) ctx.eos_token = tokenizer.token_text(tokenizer.eos_id());
  ctx.date = date;
  return tpl.render(ctx);
}

// Template text carries special tokens (<|im_start|>, <s>, ...) as text, so they are parsed.
// BOS is added only at the very start, and only when the template did not write it itself.
std::vector<int32_t> encode_template_text(const Tokenizer& tokenizer, std::string_view text,
                                          bool at_start) {
  EncodeOptions eo;
  eo.parse_special = true;
  eo.add_eos = false;
  eo.add_bos = false;
  if (at_start && tokenizer.bos_id() >= 0) {
    const std::string& bos = tokenizer.token_text(tokenizer.bos_id());
    eo.add_bos = text.substr(0, bos.size()) != bos;
  }
  return tokenizer.encode(text, eo);
}

}  // namespace

std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tokenizer,
                                        const ChatTemplate& chat_template,
                                        std::vector<ChatMessage> messages,
                                        const std::string& date) {
  return encode_template_text(
      tokenizer, render_conversation(chat_template, tokenizer, std::move(messages), true, date),
      true);
}

std::string Chat::render(bool add_generation_prompt) const {
  return render_conversation(template_, tokenizer_, messages_, add_generation_prompt,
                             options_.date);
}

std::vector<int32_t> Chat::tokenize_continuation(std::string_view text, bool at_start) const {
  return encode_template_text(tokenizer_, text, at_start);
}

GenerateResult Chat::send(std::string_view user_message, const TokenCallback& on_text) {
  messages_.push_back({"user", std::string(user_message)});
  const std::string full = render(true);

  // What the cache holds is a prefix of the new rendering unless the template rewrote earlier
  // turns (some strip or reformat old messages): then start over.
  std::vector<int32_t> fresh;
  std::string pending_text =
      pending_token_ ? tokenizer_.decode(std::vector<int32_t>{*pending_token_},
                                         {.render_special = true, .strip_leading_space = false})
                     : "";
  if (full.compare(0, cached_text_.size() + pending_text.size(), cached_text_ + pending_text) ==
          0 &&
      session_.n_past() > 0) {
    if (pending_token_) fresh.push_back(*pending_token_);
    const auto rest = tokenize_continuation(
        std::string_view(full).substr(cached_text_.size() + pending_text.size()), false);
    fresh.insert(fresh.end(), rest.begin(), rest.end());
  } else {
    session_.reset();
    cached_text_.clear();
    pending_text.clear();
    fresh = tokenize_continuation(full, true);
  }
  last_turn_.prompt_tokens_reused = session_.n_past();
  last_turn_.prompt_tokens_evaluated = uint32_t(fresh.size());
  pending_token_.reset();

  GenerateResult result;
  try {
    result = generate(session_, tokenizer_, fresh, options_.generate, on_text);
  } catch (...) {
    messages_.pop_back();  // the turn did not happen
    throw;
  }
  messages_.push_back({"assistant", result.text});

  // The cache now holds the new prompt tokens and every answer token but the last sampled one.
  cached_text_ = full;
  if (!result.tokens.empty()) {
    std::vector<int32_t> evaluated(result.tokens.begin(), result.tokens.end() - 1);
    cached_text_ +=
        tokenizer_.decode(evaluated, {.render_special = true, .strip_leading_space = false});
    const int32_t last = result.tokens.back();
    // An end-of-generation token is not part of the answer's text: the template writes its own
    // end-of-turn marker, so that token is dropped rather than evaluated next turn.
    if (!tokenizer_.is_end_of_generation(last)) pending_token_ = last;
  }
  return result;
}

std::string Chat::to_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (const ChatMessage& m : messages_) j.push_back({{"role", m.role}, {"content", m.content}});
  return j.dump(2);
}

void Chat::load_json(std::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("conversation JSON does not parse: ") + e.what());
  }
  if (!j.is_array()) throw Error("a conversation is a JSON array of {role, content} objects");
  std::vector<ChatMessage> loaded;
  for (const auto& m : j) {
    if (!m.is_object() || !m.contains("role") || !m.contains("content") || !m["role"].is_string() ||
        !m["content"].is_string())
      throw Error("each conversation entry needs string fields 'role' and 'content'");
    loaded.push_back({m["role"], m["content"]});
  }
  messages_ = std::move(loaded);
  session_.reset();
  cached_text_.clear();
  pending_token_.reset();
}

}  // namespace minillm
