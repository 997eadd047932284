// mini-llm convert MODEL_DIR OUT.gguf [--type TYPE]: a Hugging Face Llama/Mistral folder as GGUF.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/tensor_type.h"
#include "model/convert_gguf.h"
#include "progress.h"

namespace minillm::cli {

void add_convert_command(CLI::App& app) {
  struct Options {
    std::string folder, out, type;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("convert", "Convert a Hugging Face model folder to a GGUF file");
  cmd->add_option("MODEL_DIR", o->folder, "Folder with config.json, safetensors and tokenizer")
      ->required();
  cmd->add_option("OUT", o->out, "GGUF file to write")->required();
  cmd->add_option("--type", o->type,
                  "Weight type: f32, f16, bf16, q8_0, q4_0, ... (default: as stored)");
  cmd->callback([o] {
    ConvertOptions options;
    if (!o->type.empty()) {
      options.type = parse_tensor_type(o->type);
      if (!options.type) throw Error("--type: '" + o->type + "' is not a tensor type");
    }
    std::unique_ptr<ProgressBar> bar;
    options.progress = [&](size_t done, size_t total) {
      if (!bar) bar = std::make_unique<ProgressBar>("convert", total, ProgressBar::Unit::Items);
      bar->update(done);
    };
    const ConvertResult r = convert_hf_to_gguf(o->folder, o->out, options);
    if (bar) bar->finish("");
    std::fprintf(stderr, "wrote %s: %zu tensors", o->out.c_str(), r.n_tensors);
    if (r.n_kept_type)
      std::fprintf(stderr, ", %zu kept their type (row length not a multiple of the block)",
                   r.n_kept_type);
    if (r.n_vocab_padding)
      std::fprintf(stderr, ", %zu placeholder tokens pad the vocabulary", r.n_vocab_padding);
    std::fprintf(stderr, "\n");
  });
}

}  // namespace minillm::cli
