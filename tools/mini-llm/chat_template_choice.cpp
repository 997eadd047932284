#include "chat_template_choice.h"

#include <cstdio>
#include <filesystem>

#include "minillm/error.h"
#include "text_file.h"

namespace minillm::cli {

ChatTemplate choose_template(const std::string& flag, const Tokenizer& tokenizer) {
  if (!flag.empty()) {
    if (std::filesystem::exists(flag)) return ChatTemplate::parse(read_whole_file(flag));
    for (const std::string& name : ChatTemplate::builtin_names())
      if (name == flag) return ChatTemplate::builtin(name);
    throw Error("--chat-template: '" + flag + "' is neither a file nor a built-in template");
  }
  if (!tokenizer.vocab().chat_template.empty())
    return ChatTemplate::parse(tokenizer.vocab().chat_template);
  std::fprintf(stderr, "(the model has no chat template: using chatml)\n");
  return ChatTemplate::builtin("chatml");
}

}  // namespace minillm::cli
