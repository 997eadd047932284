// tokenizer_config.json and generation_config.json: the settings transformers keeps beside the
// vocabulary (special token names, whether to add BOS/EOS, extra tokens, the chat template).
#include <algorithm>
#include <map>
#include <string>

#include "formats/json_file.h"
#include "minillm/error.h"
#include "tokenizer/hf_vocab.h"

namespace minillm {
namespace {

using nlohmann::json;

// A special token is written as its text or as {"content": text, ...}.
std::string token_text(const json& v, const char* key, const std::string& src) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  throw Error(ErrorKind::BadFile,
              src + ": '" + key + "' is neither a token text nor {\"content\": ...}");
}

int32_t find_token(const Vocab& v, const std::string& text, const char* key,
                   const std::string& src) {
  const auto it = std::find(v.tokens.begin(), v.tokens.end(), text);
  if (it == v.tokens.end())
    throw Error(ErrorKind::BadFile, src + ": " + key + " '" + text + "' is not in the vocabulary");
  return int32_t(it - v.tokens.begin());
}

// added_tokens_decoder: {"32000": {"content": "<|im_start|>", "special": true}, ...}. Ids inside
// the vocabulary must name the same text; ids past it must continue it without gaps.
void read_added_tokens(Vocab& v, const json& added, const std::string& src) {
  if (!added.is_object())
    throw Error(ErrorKind::BadFile, src + ": 'added_tokens_decoder' is not an object");
  std::map<uint64_t, std::pair<std::string, bool>> extra;
  for (const auto& [key, entry] : added.items()) {
    if (key.empty() || key.size() > 10 || key.find_first_not_of("0123456789") != std::string::npos)
      throw Error(ErrorKind::BadFile, src + ": added token id '" + key + "' is not a number");
    const uint64_t id = std::stoull(key);
    const std::string text = token_text(entry, "added_tokens_decoder", src);
    const json* special = entry.is_object() ? json_member(entry, "special") : nullptr;
    const bool is_special = special && special->is_boolean() && special->get<bool>();
    if (id < v.tokens.size()) {
      if (v.tokens[id] != text)
        throw Error(ErrorKind::BadFile, src + ": added token " + key + " is '" + text +
                                            "' but the vocabulary has '" + v.tokens[id] +
                                            "' there");
      continue;
    }
    extra[id] = {text, is_special};
  }
  for (const auto& [id, token] : extra) {
    if (id != v.tokens.size())
      throw Error(ErrorKind::BadFile, src + ": added token id " + std::to_string(id) +
                                          " leaves a gap after the vocabulary's " +
                                          std::to_string(v.tokens.size()) + " tokens");
    v.tokens.push_back(token.first);
    if (!v.scores.empty()) v.scores.push_back(0.0f);
    if (!v.types.empty())
      v.types.push_back(token.second ? TokenType::Control : TokenType::UserDefined);
  }
}

}  // namespace

void apply_tokenizer_config(Vocab& v, const json& c, const std::string& src) {
  if (!c.is_object()) throw Error(ErrorKind::BadFile, src + ": not a JSON object");
  if (const json* added = json_member(c, "added_tokens_decoder")) read_added_tokens(v, *added, src);
  const std::pair<const char*, int32_t*> names[] = {{"bos_token", &v.bos_id},
                                                    {"eos_token", &v.eos_id},
                                                    {"unk_token", &v.unk_id},
                                                    {"pad_token", &v.pad_id}};
  for (const auto& [key, id] : names)
    if (const json* t = json_member(c, key))
      *id = find_token(v, token_text(*t, key, src), key, src);
  for (const auto& [key, flag] :
       {std::pair{"add_bos_token", &v.add_bos}, std::pair{"add_eos_token", &v.add_eos}})
    if (const json* b = json_member(c, key)) {
      if (!b->is_boolean())
        throw Error(ErrorKind::BadFile, src + ": '" + key + "' is not true or false");
      *flag = b->get<bool>();
    }
  if (const json* t = json_member(c, "chat_template")) {
    if (t->is_string()) {
      v.chat_template = t->get<std::string>();
    } else if (t->is_array()) {
      // Several named templates: the one named "default", else the first.
      for (const json& named : *t)
        if (named.is_object() && named.value("template", json()).is_string() &&
            (v.chat_template.empty() || named.value("name", "") == "default"))
          v.chat_template = named["template"].get<std::string>();
    } else {
      throw Error(ErrorKind::BadFile,
                  src + ": 'chat_template' is neither a string nor a list of templates");
    }
  }
}

void apply_generation_config(Vocab& v, const json& c, const std::string& src) {
  if (!c.is_object()) throw Error(ErrorKind::BadFile, src + ": not a JSON object");
  for (const auto& [key, id] :
       {std::pair{"bos_token_id", &v.bos_id}, std::pair{"eos_token_id", &v.eos_id}}) {
    const json* value = json_member(c, key);
    if (!value || *id >= 0) continue;
    if (value->is_array()) {  // several stop ids: the first is the EOS token
      if (value->empty()) continue;
      value = &value->front();
    }
    uint64_t n = 0;
    if (!json_uint(*value, n) || n >= v.tokens.size())
      throw Error(ErrorKind::BadFile, src + ": '" + key + "' is not a token id of the vocabulary");
    *id = int32_t(n);
  }
}

}  // namespace minillm
