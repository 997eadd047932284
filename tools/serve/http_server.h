// `mini-llm serve`: the OpenAI-compatible HTTP front end over a ContinuousBatcher. HTTP parsing,
// the connection threads and timeouts are cpp-httplib's; this layer maps requests to the batcher
// and its results back to OpenAI's JSON and server-sent events.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "minillm/chat_template.h"
#include "minillm/continuous_batcher.h"
#include "openai_request.h"

namespace httplib {
class Server;
}

namespace minillm::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0 = any free port
  std::string api_key;         // "" = no authentication
  size_t max_body = 8u << 20;  // bytes; larger bodies get 413
  int timeout_s = 60;          // read, write and keep-alive timeout of a connection
  uint32_t connection_threads = 64;
};

// What answering needs once the model is loaded.
struct Backend {
  std::unique_ptr<ContinuousBatcher> batcher;
  ChatTemplate chat_template;
  RequestDefaults defaults;
  std::string model_id;                           // the model file or folder name
  std::unique_ptr<ResponseFormats> formats = {};  // made by set_backend
};

class HttpServer {
 public:
  explicit HttpServer(ServeOptions options);
  ~HttpServer();

  // Binds the socket; returns the port (the chosen one for port 0). Throws Error on failure.
  int bind();
  // Accepts connections until stop(); /health answers 503 and the API 503 until set_backend().
  void serve();
  void set_backend(std::unique_ptr<Backend> backend);
  // Stops accepting, cancels the requests in flight (their streams end), and makes serve()
  // return once the connections are done.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minillm::serve
