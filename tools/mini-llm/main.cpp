// mini-llm: quick checks of models from the command line. Flags follow llama.cpp's where one
// exists.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>

#include "commands.h"
#include "minillm/error.h"
#include "model_source.h"

int main(int argc, char** argv) {
  CLI::App app{"mini-llm: run Llama/Mistral-family models on the CPU", "mini-llm"};
  app.require_subcommand(1);
  minillm::cli::add_info_command(app);
  minillm::cli::add_logits_command(app);
  minillm::cli::add_tokenize_command(app);
  minillm::cli::add_generate_command(app);
  minillm::cli::add_convert_command(app);
  minillm::cli::add_bench_command(app);
  minillm::cli::add_chat_command(app);
  minillm::cli::add_synth_command(app);
  minillm::cli::add_quantize_command(app);
  minillm::cli::add_template_command(app);
  minillm::cli::add_pull_command(app);
  minillm::cli::add_serve_command(app);
  try {
    // CLI11 takes the arguments in reverse order, without the program name.
    std::vector<std::string> args = minillm::cli::spell_long_options(argc, argv);
    args.erase(args.begin());
    std::reverse(args.begin(), args.end());
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, exit code 1, for any wrong or missing argument.
    std::cerr << "mini-llm: error: " << e.what() << " (see mini-llm --help)\n";
    return 1;
  } catch (const minillm::Error& e) {
    std::cerr << "mini-llm: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mini-llm: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
