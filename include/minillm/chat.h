// A multi-turn conversation over one Session: each turn renders the conversation with the chat
// template, evaluates only the text that is new since the last turn (the KV cache keeps the
// rest), and streams the answer.
//
//   minillm::Session session(model, {.n_ctx = 4096});
//   minillm::Chat chat(session, tokenizer, minillm::ChatTemplate::builtin("chatml"), {});
//   auto answer = chat.send("Hello!", [](std::string_view text, int32_t) {
//     std::cout << text << std::flush;
//     return true;
//   });
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minillm/chat_template.h"
#include "minillm/generate.h"

namespace minillm {

struct ChatOptions {
  std::string system;       // a system message opening the conversation; empty = none
  GenerateParams generate;  // per answer: max_tokens, sampling, stop strings
  std::string date;         // for strftime_now() in templates; empty = today
};

struct ChatTurnStats {
  uint32_t prompt_tokens_evaluated = 0;  // new tokens evaluated before the answer
  uint32_t prompt_tokens_reused = 0;     // tokens already in the KV cache
};

// The prompt of a conversation for a model: rendered with the template (the generation prompt
// added), special-token text parsed, BOS prepended unless the template wrote it. What Chat
// evaluates, for callers that keep the conversation themselves (a server).
std::vector<int32_t> chat_prompt_tokens(const Tokenizer& tokenizer,
                                        const ChatTemplate& chat_template,
                                        std::vector<ChatMessage> messages,
                                        const std::string& date = {});

class Chat {
 public:
  // The session must outlive the Chat; the Chat starts from an empty cache.
  Chat(Session& session, Tokenizer tokenizer, ChatTemplate chat_template, ChatOptions options);

  // Adds the user's message, generates the assistant's answer and adds it to the conversation.
  // Throws Error when the conversation no longer fits in the context.
  GenerateResult send(std::string_view user_message, const TokenCallback& on_text = {});

  void reset();  // forgets the conversation (keeps the system message) and empties the cache
  const std::vector<ChatMessage>& messages() const { return messages_; }
  // The conversation as a JSON array of {"role", "content"} objects, and back. Loading replaces
  // the conversation; the next send() evaluates it from the start.
  std::string to_json() const;
  void load_json(std::string_view json);

  const ChatTurnStats& last_turn() const { return last_turn_; }

 private:
  std::string render(bool add_generation_prompt) const;
  std::vector<int32_t> tokenize_continuation(std::string_view text, bool at_start) const;

  Session& session_;
  Tokenizer tokenizer_;
  ChatTemplate template_;
  ChatOptions options_;
  std::vector<ChatMessage> messages_;
  std::string cached_text_;               // the text whose tokens are in the KV cache
  std::optional<int32_t> pending_token_;  // last answer token: sampled, not yet evaluated
  ChatTurnStats last_turn_;
};

}  // namespace minillm
