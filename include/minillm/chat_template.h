// Chat templates: render a conversation into a model's prompt text from the Jinja template that
// ships with the model (GGUF key `tokenizer.chat_template`), the way Hugging Face's
// apply_chat_template does (trim_blocks and lstrip_blocks on, raise_exception, strftime_now).
//
//   auto tpl = minillm::ChatTemplate::parse(source);       // or ChatTemplate::builtin("llama3")
//   minillm::ChatContext ctx;
//   ctx.messages = {{"system", "Be brief."}, {"user", "Hi"}};
//   ctx.add_generation_prompt = true;
//   ctx.bos_token = "<|begin_of_text|>";
//   std::string prompt = tpl.render(ctx);
//
// The template language is the subset of Jinja2 that model templates use; anything else is an
// Error naming the construct and its line, at parse time where possible.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minillm/error.h"

namespace minillm {

struct ChatMessage {
  std::string role;
  std::string content;
};

struct ChatContext {
  std::vector<ChatMessage> messages;
  // A JSON array of message objects, used instead of `messages` when not empty (for tool calls,
  // tool results and other fields beyond role and content).
  std::string messages_json;
  // A JSON array of tool descriptions; empty: `tools` is none, as Hugging Face passes it.
  std::string tools_json;
  // A JSON object of further template variables (e.g. {"tools_in_user_message": false}).
  std::string variables_json;
  bool add_generation_prompt = false;
  // The special tokens' text; unset: the variable is undefined (prints as nothing).
  std::optional<std::string> bos_token, eos_token;
  // The date strftime_now() reports: "26 Jul 2024" or "2024-07-26"; empty: today.
  std::string date;
};

// Thrown when a template calls raise_exception(message); what() is exactly the message.
class ChatTemplateRaised : public Error {
 public:
  using Error::Error;
};

class ChatTemplate {
 public:
  // Parses a template; throws Error ("chat template line N: ...") for syntax errors and
  // unsupported constructs.
  static ChatTemplate parse(std::string source);
  // A fallback for models without a template: "llama2", "mistral", "llama3", "chatml", "zephyr".
  static ChatTemplate builtin(std::string_view name);
  static const std::vector<std::string>& builtin_names();

  // Throws ChatTemplateRaised for the template's own errors, Error for anything else (bad JSON,
  // runtime type errors, the step, depth and size limits that stop runaway templates).
  std::string render(const ChatContext& ctx) const;
  const std::string& source() const;

 private:
  ChatTemplate() = default;
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace minillm
