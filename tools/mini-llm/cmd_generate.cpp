// mini-llm generate: print the prompt, then the generated text as it is produced; the timing
// summary goes to stderr.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/grammar.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "minillm/tokenizer.h"
#include "model_source.h"
#include "options.h"
#include "quantize_option.h"

namespace minillm::cli {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::BadFile, "cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

void add_generate_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    std::string prompt, prompt_file, quantize;
    int32_t n_predict = -1;
    SamplingFlags sampling;
    SessionFlags session;
    bool ignore_eos = false, no_echo = false;
    std::vector<std::string> stops;
    std::string grammar_file, json_schema_file;
    bool json = false, print_grammar = false;
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
  auto* g = cmd->add_option("--grammar-file", o->grammar_file,
                            "Constrain the output to this GBNF grammar (start rule: root)");
  auto* js = cmd->add_option("--json-schema", o->json_schema_file,
                             "Constrain the output to JSON valid against this JSON Schema file");
  auto* j = cmd->add_flag("--json", o->json, "Constrain the output to a JSON object");
  g->excludes(js)->excludes(j);
  js->excludes(j);
  cmd->add_flag("--print-grammar", o->print_grammar,
                "Print the grammar (GBNF) of --json-schema / --json to stderr");
  cmd->callback([o] {
    // The grammar first: a bad grammar or schema is reported before the model loads.
    std::optional<Grammar> grammar;
    if (!o->grammar_file.empty()) grammar = Grammar::parse(read_file(o->grammar_file));
    if (!o->json_schema_file.empty())
      grammar = Grammar::from_json_schema(read_file(o->json_schema_file));
    if (o->json) grammar = Grammar::any_json_object();
    if (grammar && o->print_grammar) std::fputs(grammar->gbnf().c_str(), stderr);

    std::string prompt = o->prompt;
    if (!o->prompt_file.empty()) prompt = read_file(o->prompt_file);
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
    if (grammar) params.grammar = GrammarConstraint::create(*grammar, tokenizer);

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
