// mini-llm quantize IN.gguf OUT.gguf TYPE: re-encode an F32/F16/BF16 model, logging each
// tensor's quantization error.
#include <cstdio>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/session.h"
#include "options.h"
#include "quantize/quantize_model.h"

namespace minillm::cli {

void add_quantize_command(CLI::App& app) {
  struct Options {
    std::string input, output, type;
    int threads = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize an F32/F16/BF16 GGUF model");
  cmd->add_option("input", o->input, "Input .gguf (F32, F16 or BF16 weights)")->required();
  cmd->add_option("output", o->output, "Output .gguf")->required();
  cmd->add_option("type", o->type, "Target: " + quant_target_names())->required();
  add_threads_option(*cmd, o->threads);
  cmd->callback([o] {
    const auto target = parse_quant_target(o->type);
    if (!target)
      throw Error("unknown type '" + o->type + "' (known: " + quant_target_names() + ")");
    const int threads = o->threads > 0 ? o->threads : default_thread_count();
    quantize_model(o->input, o->output, *target, threads,
                   [](const std::string& name, TensorType type, double rmse, size_t i, size_t n) {
                     const int width = 30, done = int((i + 1) * width / n);
                     std::fprintf(stderr, "[%.*s%*s] %zu/%zu %-28s -> %-6s rmse %.3e\n", done,
                                  "==============================", width - done, "", i + 1, n,
                                  name.c_str(), std::string(type_name(type)).c_str(), rmse);
                   });
    std::fprintf(stderr, "wrote %s\n", o->output.c_str());
  });
}

}  // namespace minillm::cli
