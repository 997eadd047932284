// The mini-llm subcommands. Each file cmd_*.cpp adds one subcommand to the application; the
// callback it installs runs the command and returns normally or throws minillm::Error.
#pragma once

#include <CLI/CLI.hpp>

namespace minillm::cli {

void add_info_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_template_command(CLI::App& app);
void add_pull_command(CLI::App& app);
void add_serve_command(CLI::App& app);

}  // namespace minillm::cli
