// mini-llm chat: an interactive conversation. The KV cache is kept between turns, so each turn
// evaluates only its new text. With stdin not a terminal it reads one user message per line.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "chat_template_choice.h"
#include "commands.h"
#include "minillm/chat.h"
#include "minillm/error.h"
#include "minillm/model.h"
#include "model_source.h"
#include "options.h"
#include "quantize_option.h"
#include "text_file.h"

namespace minillm::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
  g_interrupted = true;
}

// Ctrl-C stops the answer being generated, not the program. No SA_RESTART, so a pending read
// returns and the prompt is shown again.
void install_sigint_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
}

}  // namespace

void add_chat_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    std::string system, chat_template, quantize;
    int32_t n_predict = 512;
    SamplingFlags sampling;
    SessionFlags session;
    std::vector<std::string> stops;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "chat",
      "Talk with a model; /reset, /save FILE, /load FILE; Ctrl-C stops an answer, Ctrl-D exits");
  add_model_options(*cmd, o->model);
  add_quantize_option(*cmd, o->quantize);
  cmd->add_option("--system", o->system, "System message");
  cmd->add_option("--chat-template", o->chat_template,
                  "Jinja template file, or a built-in: llama2, mistral, llama3, chatml, zephyr");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens per answer at most (-1 = no limit)")
      ->check(CLI::Range(-1, 1 << 30))
      ->capture_default_str();
  add_sampling_options(*cmd, o->sampling);
  add_session_options(*cmd, o->session);
  cmd->add_option("--stop", o->stops, "Also end an answer at this text (repeatable)");
  cmd->callback([o] {
    const auto path = resolve_model(o->model);
    const auto model = load_model(path, load_options(o->quantize));
    const Tokenizer tokenizer = Tokenizer::from_path(path);
    ChatOptions co;
    co.system = o->system;
    co.generate.max_tokens = o->n_predict;
    co.generate.sampling = o->sampling.resolve();
    co.generate.stop_strings = o->stops;
    Session session(model, o->session.resolve());
    Chat chat(session, tokenizer, choose_template(o->chat_template, tokenizer), co);

    const bool interactive = ::isatty(STDIN_FILENO);
    install_sigint_handler();
    std::string line;
    int turn = 0;
    for (;;) {
      if (interactive) {
        std::printf("> ");
        std::fflush(stdout);
      }
      g_interrupted = false;
      if (!std::getline(std::cin, line)) {
        if (g_interrupted && !std::cin.eof()) {  // Ctrl-C at the prompt: ask again
          std::cin.clear();
          std::printf("\n");
          continue;
        }
        break;  // Ctrl-D or end of input
      }
      if (line.empty()) continue;
      if (line == "/reset") {
        chat.reset();
        std::fprintf(stderr, "(conversation reset)\n");
        continue;
      }
      if (line.rfind("/save ", 0) == 0 || line.rfind("/load ", 0) == 0) {
        const std::string path = line.substr(6);
        try {
          if (line[1] == 's') {
            std::ofstream(path, std::ios::binary) << chat.to_json();
            std::fprintf(stderr, "(saved %zu messages to %s)\n", chat.messages().size(),
                         path.c_str());
          } else {
            chat.load_json(read_whole_file(path));
            std::fprintf(stderr, "(loaded %zu messages from %s)\n", chat.messages().size(),
                         path.c_str());
          }
        } catch (const Error& e) {
          std::fprintf(stderr, "error: %s\n", e.what());
        }
        continue;
      }
      const GenerateResult r = chat.send(line, [](std::string_view text, int32_t) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return !g_interrupted.load();
      });
      std::printf("\n");
      std::fflush(stdout);
      const ChatTurnStats& t = chat.last_turn();
      std::fprintf(stderr,
                   "[turn %d: %u new prompt tokens evaluated, %u reused from the cache; %u "
                   "answer tokens, %.1f tokens/s; %s]\n",
                   ++turn, t.prompt_tokens_evaluated, t.prompt_tokens_reused,
                   r.stats.generated_tokens, r.stats.generation_tokens_per_second(),
                   stop_reason_name(r.stop));
    }
  });
}

}  // namespace minillm::cli
