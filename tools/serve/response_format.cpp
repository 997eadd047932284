#include "response_format.h"

#include "api_error.h"
#include "minillm/error.h"

namespace minillm::serve {

using json = nlohmann::ordered_json;

std::shared_ptr<GrammarConstraint> ResponseFormats::constraint(const json& rf) {
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
    throw ApiError(400, "'response_format' must be an object with a 'type'", "response_format");
  const std::string type = rf["type"].get<std::string>();
  if (type == "text") return nullptr;
  if (type == "json_object") return compiled("json_object", Grammar::any_json_object());
  if (type != "json_schema")
    throw ApiError(400, "'response_format.type' must be text, json_object or json_schema",
                   "response_format.type");
  const auto js = rf.find("json_schema");
  if (js == rf.end() || !js->is_object())
    throw ApiError(400, "'response_format.json_schema' must be an object with a 'schema'",
                   "response_format.json_schema");
  const auto schema = js->find("schema");
  if (schema == js->end() || !(schema->is_object() || schema->is_boolean()))
    throw ApiError(400, "'response_format.json_schema.schema' must be a JSON Schema object",
                   "response_format.json_schema.schema");
  const std::string text = schema->dump();
  {
    std::lock_guard lock(mutex_);
    if (auto c = kept(text)) return c;
  }
  try {
    return compiled(text, Grammar::from_json_schema(text));
  } catch (const Error& e) {
    throw ApiError(400, std::string("response_format.json_schema.schema: ") + e.what(),
                   "response_format.json_schema.schema", "invalid_schema");
  }
}

std::shared_ptr<GrammarConstraint> ResponseFormats::compiled(const std::string& key,
                                                             const Grammar& grammar) {
  std::lock_guard lock(mutex_);
  if (auto c = kept(key)) return c;
  if (!vocabulary_) vocabulary_ = GrammarVocabulary::build(tokenizer_);
  auto c = GrammarConstraint::create(grammar, vocabulary_);
  cache_.emplace_front(key, c);
  if (cache_.size() > 32) cache_.pop_back();
  return c;
}

std::shared_ptr<GrammarConstraint> ResponseFormats::kept(const std::string& key) {
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->first != key) continue;
    if (it->second->memory_bytes() > refresh_bytes_) {
      cache_.erase(it);
      return nullptr;
    }
    cache_.splice(cache_.begin(), cache_, it);
    return it->second;
  }
  return nullptr;
}

}  // namespace minillm::serve
