// `response_format` of a chat request as a grammar constraint: json_object → any JSON object,
// json_schema → the schema's grammar. Compiled constraints are kept (by schema text, the most
// recent 32) so requests with the same schema share their token masks.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "minillm/grammar.h"
#include "minillm/tokenizer.h"

namespace minillm::serve {

class ResponseFormats {
 public:
  explicit ResponseFormats(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // nullptr for {"type": "text"}; throws ApiError 400 naming the field for anything malformed,
  // and for a schema the converter refuses (its message says which keyword).
  std::shared_ptr<GrammarConstraint> constraint(const nlohmann::ordered_json& response_format);

 private:
  std::shared_ptr<GrammarConstraint> compiled(const std::string& key, const Grammar& grammar);

  const Tokenizer& tokenizer_;
  std::mutex mutex_;
  std::shared_ptr<const GrammarVocabulary> vocabulary_;  // built on first use
  std::list<std::pair<std::string, std::shared_ptr<GrammarConstraint>>> cache_;  // recent first
};

}  // namespace minillm::serve
