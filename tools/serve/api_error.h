// An HTTP error answered in the OpenAI shape: {"error": {"message", "type", "param", "code"}}.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace minillm::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {})
      : std::runtime_error(message),
        status(status),
        param(std::move(param)),
        code(std::move(code)) {}

  int status;
  std::string param;  // the request field at fault, "" = none
  std::string code;   // a machine-readable code, "" = none

  // "invalid_request_error", "authentication_error", ... as OpenAI names them by status.
  std::string type() const;
  nlohmann::json body() const;
};

// Serializes for the wire: invalid UTF-8 (a model may emit a lone byte) becomes U+FFFD.
std::string dump(const nlohmann::json& j);

}  // namespace minillm::serve
