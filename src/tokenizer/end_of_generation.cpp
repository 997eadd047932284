// Which tokens end a generation. Chat models stop on an end-of-turn marker that is often not the
// vocabulary's EOS (Llama 3 Instruct: EOS is <|end_of_text|> but turns end with <|eot_id|>), and
// older GGUF files do not name it in tokenizer.ggml.eot_token_id, so well-known control-token
// texts count as well.
#include <algorithm>
#include <string_view>

#include "minillm/error.h"
#include "tokenizer/spm.h"

namespace minillm {
namespace {

constexpr std::string_view kEndTexts[] = {
    "<|eot_id|>",    "<|eom_id|>",    "<|end_of_text|>", "<|im_end|>",
    "<|endoftext|>", "<end_of_turn>", "<|end|>",
};

}  // namespace

void Tokenizer::Impl::init_end_of_generation() {
  const size_t n = vocab.tokens.size();
  for (const auto& [name, id] : {std::pair{"EOT", vocab.eot_id}, std::pair{"EOM", vocab.eom_id}})
    if (id < -1 || (id >= 0 && static_cast<size_t>(id) >= n))
      throw Error(ErrorKind::BadFile, "tokenizer: " + std::string(name) + " token id " +
                                          std::to_string(id) + " is outside the vocabulary of " +
                                          std::to_string(n) + " tokens");
  eog_ids.clear();
  for (int32_t id : {vocab.eos_id, vocab.eot_id, vocab.eom_id})
    if (id >= 0) eog_ids.push_back(id);
  for (size_t i = 0; i < n; ++i) {
    if (vocab.types[i] != TokenType::Control) continue;
    if (std::ranges::find(kEndTexts, std::string_view(vocab.tokens[i])) != std::end(kEndTexts))
      eog_ids.push_back(static_cast<int32_t>(i));
  }
  std::ranges::sort(eog_ids);
  eog_ids.erase(std::unique(eog_ids.begin(), eog_ids.end()), eog_ids.end());
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return std::ranges::binary_search(impl_->eog_ids, id);
}

const std::vector<int32_t>& Tokenizer::end_of_generation_ids() const {
  return impl_->eog_ids;
}

}  // namespace minillm
