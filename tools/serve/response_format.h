// `response_format` of a chat request as a grammar constraint: json_object → any JSON object,
// json_schema → the schema's grammar. Compiled constraints are kept (by schema text, the most
// recent 32) so requests with the same schema share their token masks; one that has grown past
// `refresh_bytes` (64 MiB) (its automaton grows with every new text it meets) is compiled afresh
// for the next request, while the requests using it keep it.
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
  // A constraint this large has met some 80,000 automaton states (it refuses more than 262,144).
  static constexpr size_t kRefreshBytes = size_t(64) << 20;
  explicit ResponseFormats(const Tokenizer& tokenizer, size_t refresh_bytes = kRefreshBytes)
      : tokenizer_(tokenizer), refresh_bytes_(refresh_bytes) {}

  // nullptr for {"type": "text"}; throws ApiError 400 naming the field for anything malformed,
  // and for a schema the converter refuses (its message says which keyword).
  std::shared_ptr<GrammarConstraint> constraint(const nlohmann::ordered_json& response_format);

 private:
  std::shared_ptr<GrammarConstraint> compiled(const std::string& key, const Grammar& grammar);
  // The kept constraint for `key` (now the most recent), or nullptr; the caller holds mutex_.
  std::shared_ptr<GrammarConstraint> kept(const std::string& key);

  const Tokenizer& tokenizer_;
  const size_t refresh_bytes_;
  std::mutex mutex_;
  std::shared_ptr<const GrammarVocabulary> vocabulary_;  // built on first use
  std::list<std::pair<std::string, std::shared_ptr<GrammarConstraint>>> cache_;  // recent first
};

}  // namespace minillm::serve
