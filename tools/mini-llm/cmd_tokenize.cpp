// mini-llm tokenize -m MODEL (-p TEXT | -f FILE) [--no-bos] [--special]: the token ids of a text,
// space-separated on one line. Reads only the vocabulary, so vocabulary-only GGUF files work.
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/tokenizer.h"
#include "model_source.h"

namespace minillm::cli {
namespace {

// The file byte for byte: newlines (a trailing one included) are part of the text.
std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the text file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": cannot read the text file");
  return text;
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    std::string prompt;
    std::string file;
    bool no_bos = false;
    bool special = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  add_model_options(*cmd, opt->model);
  CLI::Option* prompt = cmd->add_option("-p,--prompt", opt->prompt, "Text to tokenize");
  CLI::Option* file =
      cmd->add_option("-f,--file", opt->file, "File whose bytes are the text to tokenize");
  prompt->excludes(file);
  file->excludes(prompt);
  cmd->add_flag("--no-bos", opt->no_bos, "Do not prepend the BOS token");
  cmd->add_flag("--special", opt->special,
                "Recognise control-token text such as <s> as those tokens");
  cmd->callback([opt, prompt, file] {
    if (prompt->count() == 0 && file->count() == 0)
      throw Error("tokenize: give the text with -p TEXT or -f FILE");
    const std::string text = file->count() ? read_file_bytes(opt->file) : opt->prompt;
    const Tokenizer tok = Tokenizer::from_path(resolve_model(opt->model));
    EncodeOptions options;
    options.add_bos = !opt->no_bos;
    options.parse_special = opt->special;
    const std::vector<int32_t> ids = tok.encode(text, options);
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(ids[i]);
    }
    std::cout << line << "\n";
  });
}

}  // namespace minillm::cli
