// mini-llm serve: an OpenAI-compatible HTTP server (tools/serve) over a ContinuousBatcher. It
// listens before the model is loaded (/health says 503 until then) and stops on SIGINT/SIGTERM:
// no new connections, requests in flight cancelled, exit 0.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

#include "chat_template_choice.h"
#include "commands.h"
#include "http_server.h"
#include "minillm/continuous_batcher.h"
#include "minillm/error.h"
#include "model_source.h"
#include "options.h"
#include "quantize_option.h"

namespace minillm::cli {
namespace {

// Waits for SIGINT/SIGTERM (blocked in every thread, so only this one receives them) until
// `finished`, and stops the server when one comes.
void watch_signals(serve::HttpServer& server, const std::atomic<bool>& finished) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const timespec tick{0, 200'000'000};
  while (!finished) {
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      std::fprintf(stderr, "(signal %d: stopping)\n", sig);
      server.stop();
      return;
    }
  }
}

}  // namespace

void add_serve_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    std::string quantize, chat_template;
    serve::ServeOptions http;
    uint32_t parallel = 4, max_queue = 64, ctx = 0, batch = 512;
    int threads = 0;
    std::string kv_type = "f16";
    SamplingFlags sampling;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "An OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions, ...)");
  add_model_options(*cmd, o->model);
  add_quantize_option(*cmd, o->quantize);
  cmd->add_option("--host", o->http.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->http.port, "Port (0 = any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--parallel", o->parallel, "Sequences generated together (-np)")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", o->ctx,
                  "Context of each request, prompt and answer (default: min(model, 4096))");
  cmd->add_option("-b,--batch-size", o->batch, "Tokens per forward pass at most")
      ->check(CLI::Range(1u, 1u << 16))
      ->capture_default_str();
  add_threads_option(*cmd, o->threads);
  add_kv_type_option(*cmd, o->kv_type);
  cmd->add_option("--api-key", o->http.api_key,
                  "Require Authorization: Bearer KEY on /v1/* and /metrics");
  cmd->add_option("--chat-template", o->chat_template,
                  "Jinja template file, or a built-in: llama2, mistral, llama3, chatml, zephyr");
  cmd->add_option("--max-queue", o->max_queue, "Requests waiting for a slot; more get 503")
      ->check(CLI::Range(0u, 100000u))
      ->capture_default_str();
  cmd->add_option("--timeout", o->http.timeout_s, "Connection read/write timeout, seconds")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  add_sampling_options(*cmd, o->sampling);  // defaults for requests that leave a field out

  cmd->callback([o] {
    o->sampling.resolve();  // rejects invalid defaults before anything starts
    // A local model that is not there fails before the server listens (a Hub model is fetched
    // while /health says the model is loading).
    const std::string& m = o->model.model;
    if (!m.empty() && m.rfind("hf://", 0) != 0 && !std::filesystem::exists(m))
      throw Error("cannot open '" + m + "': No such file or directory");
    o->http.connection_threads = o->parallel + o->max_queue + 16;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread started below
    signal(SIGPIPE, SIG_IGN);                   // a closed connection is a failed write

    serve::HttpServer server(o->http);
    const int port = server.bind();
    std::thread http([&] { server.serve(); });
    std::atomic<bool> finished{false};
    std::thread signals([&] { watch_signals(server, finished); });
    std::printf("listening on http://%s:%d\n", o->http.host.c_str(), port);
    std::fflush(stdout);

    std::string failure;
    try {
      const auto path = resolve_model(o->model);
      const auto model = load_model(path, load_options(o->quantize));
      Tokenizer tokenizer = Tokenizer::from_path(path);
      ChatTemplate chat_template = choose_template(o->chat_template, tokenizer);
      std::string model_id = path.filename().string();
      if (model_id.empty()) model_id = path.parent_path().filename().string();
      auto batcher = std::make_unique<ContinuousBatcher>(
          model, std::move(tokenizer),
          BatcherOptions{.n_parallel = o->parallel,
                         .n_seq_ctx = o->ctx,
                         .n_batch = o->batch,
                         .max_queue = o->max_queue,
                         .kv_type = kv_type_from_name(o->kv_type),
                         .n_threads = o->threads});
      auto backend = std::make_unique<serve::Backend>(serve::Backend{
          .batcher = std::move(batcher),
          .chat_template = std::move(chat_template),
          .defaults = {.sampling = o->sampling.params, .n_parallel = int32_t(o->parallel)},
          .model_id = model_id});
      server.set_backend(std::move(backend));
      std::fprintf(stderr, "(model loaded: %s)\n", path.string().c_str());
    } catch (const std::exception& e) {
      failure = e.what();
      server.stop();
    }
    http.join();
    finished = true;
    signals.join();
    if (!failure.empty()) throw Error(failure);
  });
}

}  // namespace minillm::cli
