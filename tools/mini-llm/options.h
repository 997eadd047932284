// Options shared by several subcommands, spelled as llama.cpp spells them.
#pragma once

#include <CLI/CLI.hpp>

namespace minillm::cli {

inline void add_threads_option(CLI::App& cmd, int& threads) {
  cmd.add_option("-t,--threads", threads, "Threads (default: physical cores)")
      ->check(CLI::Range(1, 1024));
}

}  // namespace minillm::cli
