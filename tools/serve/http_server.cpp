#include "http_server.h"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <set>

#include "api_error.h"
#include "metrics.h"
#include "minillm/error.h"
#include "openai_response.h"

namespace minillm::serve {

extern const char kChatPage[];  // chat.html, embedded at build time

namespace {

using nlohmann::json;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.status == 503) res.set_header("Retry-After", "1");
  send_json(res, e.status, e.body());
}

// Compares the bearer token in constant time (hashes first, so the length leaks nothing either).
bool token_matches(const std::string& given, const std::string& key) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(given.data()), given.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

// cpp-httplib 0.11 (Debian 12) listens with a backlog of 5, so a burst of connections beyond that
// waits for the client's SYN retry (1 s). Linux lets listen() be called again on the listening
// socket to raise the backlog; the socket is found among this process's descriptors by its port.
void raise_listen_backlog(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    int listening = 0;
    socklen_t len = sizeof listening;
    if (fd <= 2 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
      continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6)
      bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port) ::listen(fd, SOMAXCONN);
  }
  closedir(dir);
}

// What the batcher's thread hands to the connection's thread, guarded by `mutex`.
struct Channel {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ChoiceState> choices;
  std::vector<std::string> unsent;  // per choice: text not yet streamed
  bool done = false;
  BatcherOutcome outcome;

  explicit Channel(uint32_t n) : choices(n), unsent(n) {}
};

// The callbacks hold the channel: the batcher may still call them after the connection's thread
// has given up on the request (a client gone, a shutdown), until it ends the request.
void attach(const std::shared_ptr<Channel>& ch, BatcherRequest& r) {
  r.on_text = [ch](uint32_t c, std::string_view text) {
    std::lock_guard lock(ch->mutex);
    ch->choices[c].text += text;
    ch->unsent[c] += text;
    ch->changed.notify_all();
  };
  r.on_token = [ch](const GeneratedToken& g) {
    std::lock_guard lock(ch->mutex);
    ch->choices[g.choice].tokens.push_back(g);
  };
  r.on_choice_end = [ch](uint32_t c, const GenerateResult& result) {
    std::lock_guard lock(ch->mutex);
    ch->choices[c].finish_reason = finish_reason(result.stop);
    ch->choices[c].completion_tokens = result.stats.generated_tokens;
    ch->changed.notify_all();
  };
  r.on_end = [ch](const BatcherOutcome& o) {
    std::lock_guard lock(ch->mutex);
    ch->outcome = o;
    ch->done = true;
    ch->changed.notify_all();
  };
}

ApiError error_from(const BatcherOutcome& o) {
  if (o.error) {
    try {
      std::rethrow_exception(o.error);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::InvalidArgument) return ApiError(400, e.what());
      return ApiError(500, e.what());
    } catch (const std::exception& e) {
      return ApiError(500, e.what());
    }
  }
  return ApiError(503, "the server is shutting down", {}, "shutting_down");
}

}  // namespace

struct HttpServer::Impl {
  ServeOptions options;
  httplib::Server http;
  Metrics metrics;
  std::atomic<bool> stopping{false};

  std::mutex mutex;                  // guards backend and tickets
  std::shared_ptr<Backend> backend;  // null while loading
  std::set<std::shared_ptr<BatcherTicket>> tickets;

  std::shared_ptr<Backend> current_backend() {
    std::lock_guard lock(mutex);
    return backend;
  }

  void routes();
  void generate(Endpoint endpoint, const std::string& body, httplib::Response& res);
  void stream(const std::shared_ptr<Backend>& be, std::shared_ptr<ParsedRequest> r,
              std::shared_ptr<Channel> ch, std::shared_ptr<BatcherTicket> ticket,
              httplib::Response& res);
  void forget(const std::shared_ptr<BatcherTicket>& t) {
    std::lock_guard lock(mutex);
    tickets.erase(t);
  }
};

HttpServer::HttpServer(ServeOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  Impl& s = *impl_;
  const auto threads = s.options.connection_threads;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_payload_max_length(s.options.max_body);
  s.http.set_read_timeout(s.options.timeout_s, 0);
  s.http.set_write_timeout(s.options.timeout_s, 0);
  s.http.set_keep_alive_timeout(std::min(s.options.timeout_s, 3));
  s.routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  Impl& s = *impl_;
  const int port =
      s.options.port == 0
          ? s.http.bind_to_any_port(s.options.host)
          : (s.http.bind_to_port(s.options.host, s.options.port) ? s.options.port : -1);
  if (port < 0)
    throw Error("cannot listen on " + s.options.host + ":" + std::to_string(s.options.port));
  raise_listen_backlog(port);
  return port;
}

void HttpServer::serve() {
  impl_->http.listen_after_bind();
}

void HttpServer::set_backend(std::unique_ptr<Backend> backend) {
  backend->formats = std::make_unique<ResponseFormats>(backend->batcher->tokenizer());
  std::lock_guard lock(impl_->mutex);
  impl_->backend = std::move(backend);
}

void HttpServer::stop() {
  Impl& s = *impl_;
  s.stopping = true;
  {
    std::lock_guard lock(s.mutex);
    for (const auto& t : s.tickets) t->cancel();
    s.backend.reset();  // the batcher goes when the last request using it is done
  }
  s.http.stop();
}

void HttpServer::Impl::routes() {
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const bool protected_path = req.path.rfind("/v1/", 0) == 0 || req.path == "/metrics";
    if (options.api_key.empty() || !protected_path)
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) != 0 || !token_matches(auth.substr(prefix.size()), options.api_key)) {
      res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, ApiError(401,
                               auth.empty() ? "missing API key (Authorization: Bearer KEY)"
                                            : "invalid API key",
                               {}, "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Statuses cpp-httplib sets itself (404, 413, 400 for a malformed request) get an OpenAI body.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 404) message = "no such endpoint: " + req.method + " " + req.path;
    if (res.status == 413) message = "the request body is larger than the server accepts";
    if (res.status == 405) message = "method not allowed";
    send_error(res, ApiError(res.status, message));
  });
  http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
    metrics.count_response(res.status);
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          send_error(res, ApiError(500, std::string("internal error: ") + e.what()));
        } catch (...) {
          send_error(res, ApiError(500, "internal error"));
        }
      });

  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kChatPage, "text/html; charset=utf-8");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (current_backend())
      send_json(res, 200, {{"status", "ok"}});
    else if (stopping)
      send_json(res, 503, {{"status", "shutting down"}});
    else
      send_json(res, 503, {{"status", "loading model"}});
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const auto be = current_backend();
    BatcherStats stats;
    if (be) stats = be->batcher->stats();
    res.set_content(metrics.render(be ? &stats : nullptr), "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const auto be = current_backend();
    if (!be) return send_error(res, ApiError(503, "the model is loading"));
    const json model = {
        {"id", be->model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "mini-llm"}};
    send_json(res, 200, {{"object", "list"}, {"data", json::array({model})}});
  });
  // Bodies are read here, not by cpp-httplib, which does not limit a chunked body's size.
  for (const auto& [path, endpoint] : {std::pair{"/v1/chat/completions", Endpoint::Chat},
                                       std::pair{"/v1/completions", Endpoint::Completions}}) {
    http.Post(path, [this, endpoint = endpoint](const httplib::Request& req, httplib::Response& res,
                                                const httplib::ContentReader& read) {
      std::string body;
      bool too_large = req.has_header("Content-Length") &&
                       std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) >
                           options.max_body;
      const bool complete = !too_large && read([&](const char* data, size_t n) {
        too_large = body.size() + n > options.max_body;
        if (!too_large) body.append(data, n);
        return !too_large;
      });
      if (too_large) {
        res.set_header("Connection", "close");
        return send_error(res,
                          ApiError(413, "the request body is larger than the server accepts (" +
                                            std::to_string(options.max_body) + " bytes)"));
      }
      if (!complete) return send_error(res, ApiError(400, "the request body could not be read"));
      generate(endpoint, body, res);
    });
  }
}

void HttpServer::Impl::generate(Endpoint endpoint, const std::string& request_body,
                                httplib::Response& res) {
  const auto be = current_backend();
  try {
    if (stopping) throw ApiError(503, "the server is shutting down", {}, "shutting_down");
    if (!be) throw ApiError(503, "the model is loading");
    nlohmann::ordered_json body;
    try {
      body = nlohmann::ordered_json::parse(request_body);
    } catch (const json::exception& e) {
      throw ApiError(400, std::string("the body is not valid JSON: ") + e.what(), {},
                     "invalid_json");
    }
    auto r = std::make_shared<ParsedRequest>(parse_request(
        endpoint, body, be->batcher->tokenizer(), be->chat_template, be->defaults, *be->formats));

    auto ch = std::make_shared<Channel>(r->n);
    BatcherRequest br;
    br.prompt = r->prompt;
    br.params = r->params;
    br.n_choices = r->n;
    br.logprobs = r->logprobs;
    br.top_logprobs = r->top_logprobs;
    attach(ch, br);
    std::shared_ptr<BatcherTicket> ticket;
    try {
      ticket = be->batcher->submit(std::move(br));
    } catch (const Error& e) {
      throw ApiError(400, e.what(), e.kind() == ErrorKind::ContextFull ? "messages" : "",
                     e.kind() == ErrorKind::ContextFull ? "context_length_exceeded" : "");
    }
    if (!ticket)
      throw ApiError(503, "the server is busy: the queue is full; retry later", {}, "queue_full");
    {
      std::lock_guard lock(mutex);
      tickets.insert(ticket);
    }
    if (r->stream) return stream(be, r, ch, ticket, res);

    std::unique_lock lock(ch->mutex);
    ch->changed.wait(lock, [&] { return ch->done; });
    forget(ticket);
    if (ch->outcome.error || ch->outcome.cancelled) throw error_from(ch->outcome);
    send_json(res, 200,
              completion_json(*r, new_header(endpoint, be->model_id), ch->choices, ch->outcome,
                              be->batcher->tokenizer()));
  } catch (ApiError& e) {
    if (endpoint == Endpoint::Completions && e.param == "messages") e.param = "prompt";
    send_error(res, e);
  }
}

// Server-sent events: a chunk per piece of text as it comes, then the finish reasons, the usage
// (when asked) and [DONE]. A failed write means the client is gone: its request is cancelled.
void HttpServer::Impl::stream(const std::shared_ptr<Backend>& be, std::shared_ptr<ParsedRequest> r,
                              std::shared_ptr<Channel> ch, std::shared_ptr<BatcherTicket> ticket,
                              httplib::Response& res) {
  auto header = std::make_shared<ResponseHeader>(new_header(r->endpoint, be->model_id));
  auto started = std::make_shared<std::vector<bool>>(r->n, false);
  auto ended = std::make_shared<std::vector<bool>>(r->n, false);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, be, r, ch, header, started, ended](size_t, httplib::DataSink& sink) {
        const Tokenizer& tok = be->batcher->tokenizer();
        auto send = [&](const json& j) {
          const std::string event = "data: " + dump(j) + "\n\n";
          return sink.write(event.data(), event.size());
        };
        std::vector<json> out;
        bool done = false;
        BatcherOutcome outcome;
        {
          std::unique_lock lock(ch->mutex);
          ch->changed.wait_for(lock, std::chrono::milliseconds(250), [&] {
            if (ch->done) return true;
            for (uint32_t c = 0; c < r->n; ++c)
              if (!(*started)[c] || !ch->unsent[c].empty() ||
                  (ch->choices[c].finish_reason && !(*ended)[c]))
                return true;
            return false;
          });
          for (uint32_t c = 0; c < r->n; ++c) {
            ChoiceState& cs = ch->choices[c];
            const bool first = !(*started)[c];
            const bool finish = cs.finish_reason && !(*ended)[c];
            std::string text = std::move(ch->unsent[c]);
            ch->unsent[c].clear();
            if (first && r->echo) text = r->prompt_text + text;
            if (!first && !finish && text.empty()) continue;
            (*started)[c] = true;
            (*ended)[c] = (*ended)[c] || finish;
            // The finish reason goes in a chunk of its own after the last text, as OpenAI sends it.
            if (finish && (!text.empty() || first)) {
              out.push_back(chunk_json(*r, *header, c, cs, text, first, nullptr, tok));
              out.push_back(chunk_json(*r, *header, c, cs, "", false, cs.finish_reason, tok));
            } else {
              out.push_back(chunk_json(*r, *header, c, cs, text, first,
                                       finish ? cs.finish_reason : nullptr, tok));
            }
          }
          done = ch->done;
          outcome = ch->outcome;
        }
        for (const json& j : out)
          if (!send(j)) return false;  // the client is gone; the releaser cancels
        if (!done) return true;
        if (outcome.error || (outcome.cancelled && stopping)) {
          const ApiError e = error_from(outcome);
          send(e.body());
          sink.done();
          return true;
        }
        if (outcome.cancelled) return false;
        if (r->include_usage) send(usage_chunk_json(*r, *header, usage_json(outcome, ch->choices)));
        static const char kDone[] = "data: [DONE]\n\n";
        sink.write(kDone, sizeof kDone - 1);
        sink.done();
        return true;
      },
      [this, ticket](bool) {
        ticket->cancel();  // no effect once the request has ended
        forget(ticket);
      });
}

}  // namespace minillm::serve
