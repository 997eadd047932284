// mini-llm logits: evaluate token ids and write the logits as little-endian float32.
#include <bit>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "minillm/tokenizer.h"
#include "model_source.h"
#include "options.h"
#include "quantize_option.h"
#include "text_file.h"

namespace minillm::cli {
namespace {

std::vector<int32_t> parse_ids(const std::string& text, const std::string& source) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < 0 || v > 0x7FFFFFFF)
      throw Error(source + ": '" + word + "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) throw Error(source + ": no token ids given");
  return ids;
}

}  // namespace

void add_logits_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    std::string ids, ids_file, prompt, output, kv_type = "f16", quantize;
    bool all = false;
    int threads = 0;
    uint32_t ctx = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "logits", "Evaluate token ids and write float32 logits (last position, or all with --all)");
  add_model_options(*cmd, o->model);
  add_quantize_option(*cmd, o->quantize);
  auto* ids =
      cmd->add_option("--ids", o->ids, "Token ids, space-separated, fed as given (no BOS added)");
  auto* ids_file = cmd->add_option("--ids-file", o->ids_file, "File of space-separated token ids");
  auto* prompt = cmd->add_option("-p,--prompt", o->prompt,
                                 "Text, tokenized as the model's vocabulary asks (BOS included)");
  ids->excludes(ids_file)->excludes(prompt);
  ids_file->excludes(prompt);
  cmd->add_flag("--all", o->all, "Write logits of every position (n_positions × n_vocab)");
  add_kv_type_option(*cmd, o->kv_type);
  cmd->add_option("-o,--output", o->output, "Output file")->required();
  add_threads_option(*cmd, o->threads);
  cmd->add_option("-c,--ctx-size", o->ctx, "KV cache capacity (default: enough for the ids)");
  cmd->callback([o] {
    const auto path = resolve_model(o->model);
    std::vector<int32_t> tokens;
    if (!o->ids.empty())
      tokens = parse_ids(o->ids, "--ids");
    else if (!o->ids_file.empty())
      tokens = parse_ids(read_whole_file(o->ids_file), o->ids_file);
    else if (!o->prompt.empty())
      tokens = Tokenizer::from_path(path).encode(o->prompt);
    else
      throw Error("give the tokens with --ids, --ids-file or -p");

    const auto model = load_model(path, load_options(o->quantize));
    SessionOptions so;
    so.kv_type = kv_type_from_name(o->kv_type);
    so.n_threads = o->threads;
    so.n_ctx = o->ctx ? o->ctx : uint32_t(tokens.size());
    Session session(model, so);
    const auto logits = session.eval(tokens, o->all);

    std::ofstream out(o->output, std::ios::binary);
    if (!out) throw Error("cannot write '" + o->output + "'");
    static_assert(std::endian::native == std::endian::little, "logits are written little-endian");
    out.write(reinterpret_cast<const char*>(logits.data()),
              std::streamsize(logits.size() * sizeof(float)));
    if (!out) throw Error("error writing '" + o->output + "'");
  });
}

}  // namespace minillm::cli
