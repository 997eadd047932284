// The one exception type the library throws. Every failure caused by input (a malformed file,
// a bad argument, a context overflow) is reported as a minillm::Error with a message that says
// what is wrong and where, and a kind that says what sort of failure it is, so that callers can
// act on it without reading the message; the library never exits or aborts on bad input.
//
//   try {
//     auto model = minillm::Model::load(path);
//   } catch (const minillm::Error& e) {
//     if (e.kind() == minillm::ErrorKind::BadFile) ask_for_another_file(e.what());
//     else throw;
//   }
#pragma once

#include <stdexcept>
#include <string>

namespace minillm {

enum class ErrorKind {
  InvalidArgument,  // a parameter or input the caller passed is out of range or inconsistent
  BadFile,          // a file is missing, unreadable, truncated or malformed
  Unsupported,      // well-formed, but uses a type, architecture or feature mini-llm lacks
  ContextFull,      // the tokens do not fit in the session's KV cache
  Cancelled,        // the caller asked to stop
  OutOfMemory,      // an allocation or mapping failed
  Internal,         // a broken invariant inside the library (a bug)
};

// "invalid argument", "bad file", "unsupported", "context full", "cancelled", "out of memory",
// "internal".
const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  // Without a kind: InvalidArgument, since an Error is by definition caused by the caller's input.
  explicit Error(const std::string& message) : Error(ErrorKind::InvalidArgument, message) {}
  explicit Error(const char* message) : Error(ErrorKind::InvalidArgument, message) {}

  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace minillm
