// mini-llm pull USER/REPO[:QUANT]: download a model from the Hugging Face Hub into its cache
// (HF_HUB_CACHE, shared with the Hub's own tools) and print the path to load.
#include <cstdio>

#include "commands.h"
#include "model_source.h"

namespace minillm::cli {

void add_pull_command(CLI::App& app) {
  auto ref = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "pull",
      "Download a model from the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, "
      "HF_HUB_CACHE) and print its local path");
  cmd->add_option("model", *ref,
                  "USER/REPO[:QUANT] (or hf://...): the GGUF file of that quantization, else the "
                  "repo's only GGUF or its Q4_K_M one, else its safetensors folder")
      ->required();
  cmd->callback([ref] { std::printf("%s\n", pull_model(*ref).c_str()); });
}

}  // namespace minillm::cli
