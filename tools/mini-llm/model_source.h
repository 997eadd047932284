// Where a command's model comes from: `-m PATH` (a .gguf file or a Hugging Face folder),
// `-m hf://USER/REPO[:QUANT]` or `-hf USER/REPO[:QUANT]` (pulled from the Hugging Face Hub into
// its cache), or, with none of these, the demo model bundled with mini-llm (models/README.md).
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "minillm/model.h"

namespace minillm::cli {

struct ModelFlags {
  std::string model;    // -m: a path or hf://USER/REPO[:QUANT]
  std::string hf_repo;  // -hf / --hf-repo: USER/REPO[:QUANT]
};

// Adds -m/--model and --hf-repo (spelled -hf on the command line, as llama.cpp does).
// `positional`: the model may also be given as the first positional argument (info).
void add_model_options(CLI::App& cmd, ModelFlags& flags, bool positional = false);

// The local path to load: the file or folder given, the Hub model (downloaded when missing,
// with progress on stderr), or the bundled demo model (saying so on stderr).
std::filesystem::path resolve_model(const ModelFlags& flags);

// The bundled demo model: next to an installed mini-llm (PREFIX/share/minillm), or in the source
// tree it was built from. Throws Error when it is in neither place.
std::filesystem::path demo_model_path();

// The same for commands where a model is optional: nothing when no model was named.
std::optional<std::filesystem::path> resolve_model_if_given(const ModelFlags& flags);

// Downloads (or finds in the cache) USER/REPO[:QUANT], showing progress; returns what to load.
std::filesystem::path pull_model(const std::string& ref);

// Model::load with a progress bar for the weight preparation when stderr is a terminal.
std::shared_ptr<const Model> load_model(const std::filesystem::path& path,
                                        LoadOptions options = {});

// llama.cpp spells --hf-repo as -hf, a short option with two letters, which CLI11 does not
// accept: the arguments are rewritten before parsing.
std::vector<std::string> spell_long_options(int argc, char** argv);

}  // namespace minillm::cli
