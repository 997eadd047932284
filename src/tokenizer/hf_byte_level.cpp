// tokenizer.json of the byte-level BPE kind (GPT-2, Llama 3, Qwen 2, StarCoder, ...): the
// normalizer, pre_tokenizer (Split expressions, Digits, ByteLevel) and decoder must together
// amount to one of the named pre-tokenizers that mini-llm implements (pretokenizer_table.h).
#include <string>
#include <vector>

#include "minillm/error.h"
#include "tokenizer/hf_vocab.h"
#include "tokenizer/pretokenizer_table.h"

namespace minillm {
namespace {

using nlohmann::json;

// A boolean setting, `fallback` when absent; anything else than true/false is an error.
bool bool_member(const json& j, const char* key, bool fallback, const std::string& src) {
  const json* v = json_member(j, key);
  if (!v) return fallback;
  if (!v->is_boolean())
    throw Error(ErrorKind::BadFile, src + ": '" + key + "' is not true or false");
  return v->get<bool>();
}

[[noreturn]] void unsupported(const std::string& src, const std::string& what) {
  throw Error(ErrorKind::Unsupported,
              src + ": byte-level BPE tokenizer.json with " + what + " is not supported yet");
}

std::string type_of(const json& j) {
  const std::string type = json_string_member(j, "type");
  return type.empty() ? j.dump() : type;
}

}  // namespace

std::string byte_level_pre_tokenizer(const json& j, const std::string& src) {
  bool nfc = false;
  if (const json* norm = json_member(j, "normalizer")) {
    if (json_string_member(*norm, "type") != "NFC")
      unsupported(src, "normalizer '" + type_of(*norm) + "'");
    nfc = true;
  }
  const json* pre = json_member(j, "pre_tokenizer");
  if (!pre) unsupported(src, "no pre_tokenizer");
  std::vector<json> steps;
  if (json_string_member(*pre, "type") == "Sequence") {
    const json* list = json_member(*pre, "pretokenizers");
    if (!list || !list->is_array())
      throw Error(ErrorKind::BadFile, src + ": Sequence pre_tokenizer without a list");
    steps.assign(list->begin(), list->end());
  } else {
    steps.push_back(*pre);
  }
  std::vector<std::string> regexes;
  bool byte_level = false;
  for (const json& step : steps) {
    const std::string type = json_string_member(step, "type");
    if (byte_level) unsupported(src, "pre_tokenizer step '" + type_of(step) + "' after ByteLevel");
    if (type == "Split") {
      const json* pattern = json_member(step, "pattern");
      const std::string regex = pattern ? json_string_member(*pattern, "Regex") : std::string();
      if (regex.empty()) unsupported(src, "a Split pattern that is not a regular expression");
      const std::string behavior = json_string_member(step, "behavior");
      if (behavior != "Isolated") unsupported(src, "Split behavior '" + behavior + "'");
      if (bool_member(step, "invert", false, src)) unsupported(src, "an inverted Split");
      regexes.push_back(regex);
    } else if (type == "Digits") {
      regexes.emplace_back(bool_member(step, "individual_digits", false, src) ? R"(\p{N})"
                                                                              : R"(\p{N}+)");
    } else if (type == "ByteLevel") {
      if (bool_member(step, "add_prefix_space", true, src))
        unsupported(src, "a ByteLevel pre_tokenizer that adds a prefix space");
      if (bool_member(step, "use_regex", true, src))
        for (std::string& r : pre_tokenizer_regexes("gpt-2")) regexes.push_back(std::move(r));
      byte_level = true;
    } else {
      unsupported(src, "pre_tokenizer '" + type_of(step) + "'");
    }
  }
  if (!byte_level) unsupported(src, "a pre_tokenizer without a ByteLevel step");
  if (const json* dec = json_member(j, "decoder");
      dec && json_string_member(*dec, "type") != "ByteLevel")
    unsupported(src, "decoder '" + type_of(*dec) + "'");

  if (auto name = pre_tokenizer_name_for(regexes, nfc)) return *name;
  std::string listed;
  for (const std::string& r : regexes) listed += (listed.empty() ? "'" : ", '") + r + "'";
  throw Error(
      ErrorKind::BadFile,
      src + ": the pre-tokenizer expressions " + (listed.empty() ? "(none)" : listed) +
          (nfc ? " with NFC" : "") +
          " are not one of the pre-tokenizers mini-llm knows (gpt-2, llama-bpe, qwen2, ...)");
}

}  // namespace minillm
