// Which chat template a command uses: --chat-template FILE or a built-in name, else the model's
// own, else ChatML (what llama.cpp-class tools fall back to).
#pragma once

#include <string>

#include "minillm/chat_template.h"
#include "minillm/tokenizer.h"

namespace minillm::cli {

// Says on stderr when it falls back to ChatML.
ChatTemplate choose_template(const std::string& flag, const Tokenizer& tokenizer);

}  // namespace minillm::cli
