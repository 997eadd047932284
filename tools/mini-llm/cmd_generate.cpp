// mini-llm generate: print the prompt, then the generated text as it is produced; the timing
// summary goes to stderr.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "minillm/tokenizer.h"
#include "options.h"

namespace minillm::cli {

void add_generate_command(CLI::App& app) {
  struct Options {
    std::string model, prompt, prompt_file, kv_type = "f16";
    int32_t n_predict = -1;
    SamplerParams sampling;
    int64_t seed = -1;
    int threads = 0;
    uint32_t ctx = 0, batch = 512;
    bool ignore_eos = false, no_echo = false;
    std::vector<std::string> stops;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt, streamed to stdout");
  cmd->add_option("-m,--model", o->model, "Model file (.gguf)")->required();
  auto* p = cmd->add_option("-p,--prompt", o->prompt, "Prompt text");
  auto* f = cmd->add_option("-f,--file", o->prompt_file, "Read the prompt from a file (byte for byte)");
  p->excludes(f);
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate (-1 = until end of text or a full context)")
      ->check(CLI::Range(-1, 1 << 30));
  cmd->add_option("--temp", o->sampling.temperature, "Temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "Top-k (0 = off)")->capture_default_str();
  cmd->add_option("--top-p", o->sampling.top_p, "Top-p (1 = off)")->capture_default_str();
  cmd->add_option("--min-p", o->sampling.min_p, "Min-p (0 = off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", o->sampling.repeat_penalty, "Repetition penalty (1 = off)")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", o->sampling.repeat_last_n, "Tokens the penalties look back at")
      ->capture_default_str();
  cmd->add_option("--frequency-penalty", o->sampling.frequency_penalty, "Frequency penalty")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", o->sampling.presence_penalty, "Presence penalty")
      ->capture_default_str();
  cmd->add_option("-s,--seed", o->seed, "Random seed (-1 = random)")->capture_default_str();
  add_threads_option(*cmd, o->threads);
  cmd->add_option("-c,--ctx-size", o->ctx, "Context size (default: min(model context, 4096))");
  cmd->add_option("-b,--batch-size", o->batch, "Prompt tokens evaluated per batch")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  cmd->add_option("--kv-type", o->kv_type, "KV cache element type")
      ->check(CLI::IsMember({"f16", "f32"}))
      ->capture_default_str();
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
    const auto model = Model::load(o->model);
    const Tokenizer tokenizer = Tokenizer::from_file(o->model);
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

    GenerateParams params;
    params.max_tokens = o->n_predict;
    params.sampling = o->sampling;
    params.sampling.seed = o->seed >= 0 ? uint64_t(o->seed) : std::random_device{}();
    params.ignore_eos = o->ignore_eos;
    params.stop_strings = o->stops;
    params.sampling.validate();

    Session session(model, {.n_ctx = o->ctx,
                            .n_batch = o->batch,
                            .kv_type = o->kv_type == "f32" ? KvCacheType::F32 : KvCacheType::F16,
                            .n_threads = o->threads});
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
