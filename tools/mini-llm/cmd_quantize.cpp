// mini-llm quantize IN.gguf OUT.gguf TYPE: re-encode an F32/F16/BF16 model, logging each
// tensor's quantization error.
#include <cmath>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/session.h"
#include "options.h"
#include "progress.h"
#include "quantize/quantize_model.h"

namespace minillm::cli {

void add_quantize_command(CLI::App& app) {
  struct Options {
    std::string input, output, type;
    int threads = 0;
    bool verbose = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize an F32/F16/BF16 GGUF model");
  cmd->add_option("input", o->input, "Input .gguf (F32, F16 or BF16 weights)")->required();
  cmd->add_option("output", o->output, "Output .gguf")->required();
  cmd->add_option("type", o->type, "Target: " + quant_target_names())->required();
  add_threads_option(*cmd, o->threads);
  cmd->add_flag("-v,--verbose", o->verbose, "Print every tensor's type and RMSE");
  cmd->callback([o] {
    const auto target = parse_quant_target(o->type);
    if (!target)
      throw Error("unknown type '" + o->type + "' (known: " + quant_target_names() + ")");
    const int threads = o->threads > 0 ? o->threads : default_thread_count();
    // A bar on a terminal (a few lines in a log); every tensor's RMSE with --verbose; the
    // quantization error summed up at the end.
    std::unique_ptr<ProgressBar> bar;
    double sum_sq = 0, worst = 0;
    size_t n_tensors = 0;
    std::string worst_name;
    quantize_model(o->input, o->output, *target, threads,
                   [&](const std::string& name, TensorType type, double rmse, size_t i, size_t n) {
                     if (o->verbose) {
                       std::fprintf(stderr, "%zu/%zu %-28s -> %-6s rmse %.3e\n", i + 1, n,
                                    name.c_str(), std::string(type_name(type)).c_str(), rmse);
                     } else {
                       if (!bar)
                         bar =
                             std::make_unique<ProgressBar>("quantize", n, ProgressBar::Unit::Items);
                       bar->update(i + 1, name);
                     }
                     sum_sq += rmse * rmse;
                     ++n_tensors;
                     if (rmse >= worst) worst = rmse, worst_name = name;
                   });
    char summary[512];
    std::snprintf(
        summary, sizeof summary,
        "wrote %s: %zu tensors, rmse: root mean square over tensors %.3e, worst %.3e (%s)",
        o->output.c_str(), n_tensors, n_tensors ? std::sqrt(sum_sq / n_tensors) : 0.0, worst,
        worst_name.c_str());
    if (bar)
      bar->finish(summary);
    else
      std::fprintf(stderr, "%s\n", summary);
  });
}

}  // namespace minillm::cli
