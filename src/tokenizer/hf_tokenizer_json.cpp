// tokenizer.json (Hugging Face tokenizers) with a BPE model. Two kinds: the SentencePiece-BPE one
// that Llama 2 and Mistral ship (byte_fallback, spaces turned into U+2581 by the normalizer or a
// Metaspace pre-tokenizer, a dummy prefix) and byte-level BPE (no byte_fallback; GPT-2, Llama 3:
// see hf_byte_level.cpp). Added tokens hold <unk>, <s>, </s>, chat markers and any extras.
#include <map>
#include <string>
#include <utility>

#include "formats/json_file.h"
#include "minillm/error.h"
#include "tokenizer/hf_vocab.h"

namespace minillm {
namespace {

using nlohmann::json;

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// A merge, written "left right" or ["left", "right"].
std::pair<std::string, std::string> merge_pair(const json& m, size_t rank, const std::string& src) {
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
      throw Error(ErrorKind::BadFile,
                  src + ": merge " + std::to_string(rank) + " '" + s + "' is not 'left right'");
    return {s.substr(0, space), s.substr(space + 1)};
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  throw Error(ErrorKind::BadFile,
              src + ": merge " + std::to_string(rank) + " is not a pair of strings");
}

bool is_byte_token(std::string_view t) {
  return t.size() == 6 && t.starts_with("<0x") && t.back() == '>';
}

// Where the text gets its U+2581s and its dummy prefix. Returns add_space_prefix.
bool read_space_handling(const json& j, const std::string& src) {
  const json* norm = json_member(j, "normalizer");
  const json* pre = json_member(j, "pre_tokenizer");
  auto unsupported = [&](const std::string& what) -> bool {
    throw Error(ErrorKind::Unsupported,
                src + ": " + what +
                    " is not supported yet (mini-llm reads the SentencePiece-style "
                    "tokenizer.json of Llama 2 and Mistral)");
  };
  if (norm) {
    // Llama 2 / Mistral ("legacy"): Sequence[Prepend "▁", Replace " " -> "▁"].
    std::vector<json> steps;
    if (json_string_member(*norm, "type") == "Sequence" && json_member(*norm, "normalizers") &&
        (*norm)["normalizers"].is_array())
      steps.assign((*norm)["normalizers"].begin(), (*norm)["normalizers"].end());
    else
      steps.push_back(*norm);
    bool prefix = false, replace = false;
    for (const json& s : steps) {
      const std::string type = json_string_member(s, "type");
      if (type == "Prepend" && json_string_member(s, "prepend") == kSpace && !replace) {
        prefix = true;
      } else if (type == "Replace" && json_member(s, "pattern") &&
                 json_string_member(s["pattern"], "String") == " " &&
                 json_string_member(s, "content") == kSpace) {
        replace = true;
      } else {
        unsupported("normalizer step '" + (type.empty() ? s.dump() : type) + "'");
      }
    }
    if (!replace) unsupported("a normalizer that keeps spaces as they are");
    if (pre)
      unsupported("pre_tokenizer '" + json_string_member(*pre, "type") + "' after a normalizer");
    return prefix;
  }
  // Newer files: no normalizer, Metaspace pre-tokenizer without splitting.
  if (!pre || json_string_member(*pre, "type") != "Metaspace")
    unsupported(pre ? "pre_tokenizer '" + json_string_member(*pre, "type") + "'"
                    : std::string("a tokenizer.json without normalizer or pre_tokenizer"));
  if (json_string_member(*pre, "replacement") != kSpace)
    unsupported("a Metaspace replacement other than U+2581");
  if (const json* split = json_member(*pre, "split");
      split && split->is_boolean() && split->get<bool>())
    unsupported("a Metaspace pre_tokenizer that splits words");
  const std::string scheme = json_string_member(*pre, "prepend_scheme");
  if (scheme == "never") return false;
  // "first" prefixes only the start of the text; mini-llm also prefixes text that follows a
  // special token (as "always" does), which matters only when special tokens are parsed.
  if (scheme == "always" || scheme == "first") return true;
  const json* add = json_member(*pre, "add_prefix_space");  // the older spelling
  return !add || (add->is_boolean() && add->get<bool>());
}

// Reads the leading / trailing special token of the single-sequence template, if any.
void read_post_processor(const json& j, Vocab& v, const std::map<std::string, int32_t>& ids) {
  const json* pp = json_member(j, "post_processor");
  v.add_bos = false;
  v.add_eos = false;
  if (!pp) return;
  const json* tmpl = pp;
  if (json_string_member(*pp, "type") == "Sequence" && json_member(*pp, "processors")) {
    tmpl = nullptr;
    for (const json& p : (*pp)["processors"])
      if (json_string_member(p, "type") == "TemplateProcessing") tmpl = &p;
  }
  if (!tmpl || json_string_member(*tmpl, "type") != "TemplateProcessing") return;
  const json* single = json_member(*tmpl, "single");
  if (!single || !single->is_array() || single->empty()) return;
  auto special_id = [&](const json& piece) -> int32_t {
    const json* st = json_member(piece, "SpecialToken");
    if (!st) return -1;
    const auto it = ids.find(json_string_member(*st, "id"));
    return it == ids.end() ? -1 : it->second;
  };
  if (const int32_t id = special_id(single->front()); id >= 0) {
    v.bos_id = id;
    v.add_bos = true;
  }
  if (single->size() > 1)
    if (const int32_t id = special_id(single->back()); id >= 0) {
      v.eos_id = id;
      v.add_eos = true;
    }
}

}  // namespace

Vocab vocab_from_tokenizer_json(const json& j, const std::string& src) {
  if (!j.is_object()) throw Error(ErrorKind::BadFile, src + ": not a JSON object");
  const json* model = json_member(j, "model");
  if (!model || !model->is_object()) throw Error(ErrorKind::BadFile, src + ": 'model' is missing");
  const std::string type = json_string_member(*model, "type");
  if (!type.empty() && type != "BPE")
    throw Error(ErrorKind::Unsupported,
                src + ": tokenizer model type '" + type + "' is not supported yet (only BPE)");
  const json* fallback = json_member(*model, "byte_fallback");
  if (fallback && !fallback->is_boolean())
    throw Error(ErrorKind::BadFile, src + ": 'byte_fallback' is not a boolean");
  const bool byte_level = !fallback || !fallback->get<bool>();  // GPT-2 style: no <0xNN> tokens
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (json_member(*model, key))
      throw Error(ErrorKind::Unsupported, src + ": BPE '" + key + "' is not supported yet");

  const json* vocab = json_member(*model, "vocab");
  const json* merges = json_member(*model, "merges");
  if (!vocab || !vocab->is_object())
    throw Error(ErrorKind::BadFile, src + ": model 'vocab' is missing");
  if (!merges || !merges->is_array())
    throw Error(ErrorKind::BadFile, src + ": model 'merges' is missing");
  const json* added = json_member(j, "added_tokens");
  if (added && !added->is_array())
    throw Error(ErrorKind::BadFile, src + ": 'added_tokens' is not a list");
  // Ids are checked against the number of entries, so a hostile id cannot size a huge table.
  const size_t n_max = vocab->size() + (added ? added->size() : 0);

  Vocab v;
  v.model = byte_level ? "gpt2" : "llama";
  std::vector<bool> filled(n_max, false);
  v.tokens.resize(n_max);
  v.types.assign(n_max, TokenType::Normal);
  auto place = [&](const std::string& text, const json& id_json, const char* what) {
    uint64_t id = 0;
    if (!json_uint(id_json, id) || id >= n_max)
      throw Error(ErrorKind::BadFile, src + ": " + what + " '" + text + "' has an id outside 0.." +
                                          std::to_string(n_max - 1));
    if (filled[id] && v.tokens[id] != text)
      throw Error(ErrorKind::BadFile, src + ": id " + std::to_string(id) + " is given to both '" +
                                          v.tokens[id] + "' and '" + text + "'");
    v.tokens[id] = text;
    filled[id] = true;
    return int32_t(id);
  };
  std::map<std::string, int32_t> ids;  // text -> id, for merges and special tokens
  for (const auto& [text, id] : vocab->items()) {
    const int32_t i = place(text, id, "token");
    ids.emplace(text, i);
    if (!byte_level && is_byte_token(text)) v.types[i] = TokenType::Byte;
  }
  if (const std::string unk = json_string_member(*model, "unk_token"); !unk.empty()) {
    const auto it = ids.find(unk);
    if (it == ids.end())
      throw Error(ErrorKind::BadFile, src + ": unk_token '" + unk + "' is not in the vocabulary");
    v.unk_id = it->second;
  }
  if (added)
    for (const json& a : *added) {
      if (!a.is_object() || !json_member(a, "content") || !a["content"].is_string() ||
          !json_member(a, "id"))
        throw Error(ErrorKind::BadFile, src + ": an added token lacks 'id' or 'content'");
      const std::string text = a["content"].get<std::string>();
      const int32_t i = place(text, a["id"], "added token");
      ids.emplace(text, i);
      const json* special = json_member(a, "special");
      const bool is_special = special && special->is_boolean() && special->get<bool>();
      if (i != v.unk_id) v.types[i] = is_special ? TokenType::Control : TokenType::UserDefined;
    }
  if (v.unk_id >= 0) v.types[v.unk_id] = TokenType::Unknown;
  size_t n = n_max;
  while (n > 0 && !filled[n - 1]) --n;
  for (size_t i = 0; i < n; ++i)
    if (!filled[i]) throw Error(ErrorKind::BadFile, src + ": no token has id " + std::to_string(i));
  v.tokens.resize(n);
  v.types.resize(n);

  if (byte_level) {
    // The tokenizer checks that every merge names tokens of the vocabulary.
    v.merges.reserve(merges->size());
    for (size_t rank = 0; rank < merges->size(); ++rank) {
      const auto [left, right] = merge_pair((*merges)[rank], rank, src);
      if (left.empty() || right.empty() || left.find(' ') != std::string::npos ||
          right.find(' ') != std::string::npos)
        throw Error(ErrorKind::BadFile, src + ": merge " + std::to_string(rank) + " ('" + left +
                                            "' + '" + right +
                                            "') is not two byte-level token texts");
      v.merges.push_back(left + ' ' + right);
    }
    if (const json* ignore = json_member(*model, "ignore_merges")) {
      if (!ignore->is_boolean())
        throw Error(ErrorKind::BadFile, src + ": 'ignore_merges' is not a boolean");
      v.ignore_merges = ignore->get<bool>();
    }
    v.pre_tokenizer = byte_level_pre_tokenizer(j, src);
    v.add_space_prefix = false;
    read_post_processor(j, v, ids);
    return v;
  }

  // Scores: a merge earlier in the list wins, so its result scores higher. Tokens no merge makes
  // (single characters, bytes, specials) score below every merge.
  const float lowest = -float(merges->size()) - 1.0f;
  v.scores.assign(n, lowest);
  std::vector<bool> scored(n, false);
  for (size_t rank = 0; rank < merges->size(); ++rank) {
    const auto [left, right] = merge_pair((*merges)[rank], rank, src);
    const auto it = ids.find(left + right);
    if (!ids.contains(left) || !ids.contains(right) || it == ids.end())
      throw Error(ErrorKind::BadFile, src + ": merge " + std::to_string(rank) + " ('" + left +
                                          "' + '" + right +
                                          "') uses or makes a token missing from the vocabulary");
    if (!scored[it->second]) {
      scored[it->second] = true;
      v.scores[it->second] = -float(rank);
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (v.types[i] != TokenType::Normal) v.scores[i] = 0.0f;

  v.add_space_prefix = read_space_handling(j, src);
  read_post_processor(j, v, ids);
  // Without a template the conventional SentencePiece names still identify BOS and EOS.
  if (v.bos_id < 0 && ids.contains("<s>")) v.bos_id = ids.at("<s>");
  if (v.eos_id < 0 && ids.contains("</s>")) v.eos_id = ids.at("</s>");
  return v;
}

}  // namespace minillm
