// mini-llm generate: print the prompt, then the generated text as it is produced; the timing
// summary goes to stderr.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "minillm/tokenizer.h"
#include "model_source.h"
#include "options.h"
#include "quantize_option.h"

namespace minillm::cli {

void add_generate_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    std::string prompt, prompt_file, quantize;
    int32_t n_predict = -1;
    SamplingFlags sampling;
    SessionFlags session;
    bool ignore_eos = false, no_echo = false;
    std::vector<std::string> stops;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt, streamed to stdout");
  add_model_options(*cmd, o->model);
  add_quantize_option(*cmd, o->quantize);
  auto* p = cmd->add_option("-p,--prompt", o->prompt, "Prompt text");
  auto* f =
      cmd->add_option("-f,--file", o->prompt_file, "Read the prompt from a file (byte for byte)");
  p->excludes(f);
  cmd->add_option("-n,--n-predict", o->n_predict,
                  "Tokens to generate (-1 = until end of text or a full context)")
      ->check(CLI::Range(-1, 1 << 30));
  add_sampling_options(*cmd, o->sampling);
  add_session_options(*cmd, o->session);
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past the end-of-text token");
  cmd->add_flag("--no-echo", o->no_echo, "Print only the generated text, not the prompt");
  cmd->add_option("--stop", o->stops, "Stop when the generated text contains this (repeatable)");
  cmd->callback([o] {
    std::string prompt = o->prompt;
    if (!o->prompt_file.empty()) {
      std::ifstream in(o->prompt_file, std::ios::binary);
      if (!in) throw Error("cannot read '" + o->prompt_file + "'");
      std::ostringstream s;
      s << in.rdbuf();
      prompt = s.str();
    }
    const auto load_start = std::chrono::steady_clock::now();
    const auto path = resolve_model(o->model);
    const auto model = load_model(path, load_options(o->quantize));
    const Tokenizer tokenizer = Tokenizer::from_path(path);
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

    GenerateParams params;
    params.max_tokens = o->n_predict;
    params.sampling = o->sampling.resolve();
    params.ignore_eos = o->ignore_eos;
    params.stop_strings = o->stops;

    Session session(model, o->session.resolve());
    if (!o->no_echo) {
      std::fwrite(prompt.data(), 1, prompt.size(), stdout);
      std::fflush(stdout);
    }
    const GenerateResult r =
        generate(session, tokenizer, prompt, params, [](std::string_view text, int32_t) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
          return true;
        });
    const GenerateStats& s = r.stats;
    std::fprintf(stderr,
                 "\nload: %.1f ms | prompt: %u tokens, %.2f tokens/s | generation: %u tokens, "
                 "%.2f tokens/s | stop: %s | seed: %llu | threads: %d\n",
                 load_s * 1e3, s.prompt_tokens, s.prompt_tokens_per_second(), s.generated_tokens,
                 s.generation_tokens_per_second(), stop_reason_name(r.stop),
                 (unsigned long long)params.sampling.seed, session.n_threads());
  });
}

}  // namespace minillm::cli
