// mini-llm synth: write a random-weight model at a named real shape (for benchmarks and tests).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/session.h"
#include "options.h"
#include "progress.h"
#include "quantize/synthetic_model.h"

namespace minillm::cli {

void add_synth_command(CLI::App& app) {
  struct Options {
    std::string shape, type = "f16", output, vocab;
    uint64_t seed = 1;
    int threads = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("synth", "Write a model with random weights at a named shape");
  cmd->add_option("--shape", o->shape, "Shape: " + model_shape_names())->required();
  cmd->add_option("--type", o->type, "Weight type or mix: " + quant_target_names())
      ->capture_default_str();
  cmd->add_option("-o,--output", o->output, "Output .gguf file")->required();
  cmd->add_option("--vocab", o->vocab, "Copy the tokenizer (and vocabulary size) from this GGUF");
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  add_threads_option(*cmd, o->threads);
  cmd->callback([o] {
    const auto shape = find_model_shape(o->shape);
    if (!shape)
      throw Error("unknown shape '" + o->shape + "' (known: " + model_shape_names() + ")");
    const auto target = parse_quant_target(o->type);
    if (!target)
      throw Error("unknown type '" + o->type + "' (known: " + quant_target_names() + ")");
    SynthOptions so{*shape, *target, o->seed, std::nullopt,
                    o->threads > 0 ? o->threads : default_thread_count()};
    if (!o->vocab.empty()) so.vocab = o->vocab;
    std::unique_ptr<ProgressBar> bar;
    write_synthetic_model(
        so, o->output, [&](const std::string& name, TensorType type, double, size_t i, size_t n) {
          if (!bar) bar = std::make_unique<ProgressBar>("synth", n, ProgressBar::Unit::Items);
          bar->update(i + 1, name + " " + std::string(type_name(type)));
        });
    const std::string done = "wrote " + o->output;
    if (bar)
      bar->finish(done);
    else
      std::fprintf(stderr, "%s\n", done.c_str());
  });
}

}  // namespace minillm::cli
