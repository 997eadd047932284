// mini-llm template (-m MODEL | --chat-template FILE | --builtin NAME) --messages FILE.json:
// prints a conversation rendered with a chat template, exactly (no newline added).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

#include "commands.h"
#include "minillm/chat_template.h"
#include "minillm/gguf.h"
#include "minillm/tokenizer.h"
#include "model_source.h"
#include "text_file.h"

namespace minillm::cli {
namespace {

// The text of the special token whose id is stored under `key`, if the model names one.
std::optional<std::string> token_text(const GGUFFile& f, const std::string& key) {
  const GGUFValue* id = f.find(key);
  const GGUFValue* tokens = f.find("tokenizer.ggml.tokens");
  if (!id || id->is_array() || !tokens || !tokens->is_array()) return std::nullopt;
  const int64_t i = id->type() == GGUFType::INT32 ? id->as<int32_t>(key) : id->as_int(key);
  const auto& items = tokens->array().items;
  if (i < 0 || uint64_t(i) >= items.size() || items[size_t(i)].type() != GGUFType::STRING)
    return std::nullopt;
  return items[size_t(i)].as<std::string>();
}

// A Hugging Face folder, a tokenizer.json / tokenizer.model or a folder of tokenizer files (as
// opposed to a GGUF file).
bool is_tokenizer_source(const std::string& path) {
  const std::filesystem::path p(path);
  return std::filesystem::is_directory(p) || p.extension() == ".json" || p.extension() == ".model";
}

// Template and BOS/EOS texts from a GGUF model's tokenizer keys.
void read_gguf(const std::string& path, bool need_template, std::string& source, ChatContext& ctx) {
  const GGUFFile file = GGUFFile::open(path);
  if (need_template) {
    const GGUFValue* t = file.find("tokenizer.chat_template");
    if (!t || t->type() != GGUFType::STRING)
      throw Error(path +
                  " has no tokenizer.chat_template; give --chat-template FILE or --builtin NAME");
    source = t->as<std::string>();
  }
  ctx.bos_token = token_text(file, "tokenizer.ggml.bos_token_id");
  ctx.eos_token = token_text(file, "tokenizer.ggml.eos_token_id");
}

// The same from tokenizer files (tokenizer_config.json carries the chat template).
void read_tokenizer_files(const std::string& path, bool need_template, std::string& source,
                          ChatContext& ctx) {
  const Tokenizer tok = Tokenizer::from_path(path);
  if (need_template) {
    if (tok.vocab().chat_template.empty())
      throw Error(path +
                  " has no chat template (tokenizer_config.json chat_template); give "
                  "--chat-template FILE or --builtin NAME");
    source = tok.vocab().chat_template;
  }
  if (tok.bos_id() >= 0) ctx.bos_token = tok.token_text(tok.bos_id());
  if (tok.eos_id() >= 0) ctx.eos_token = tok.token_text(tok.eos_id());
}

}  // namespace

void add_template_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    std::string template_file, builtin, messages, tools, date;
    std::optional<std::string> bos, eos;
    bool add_generation_prompt = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("template", "Render a conversation with a chat template");
  auto* model =
      cmd->add_option("-m,--model", opt->model.model,
                      "GGUF model, Hugging Face folder, tokenizer.json or hf://USER/REPO[:QUANT]: "
                      "its chat template and BOS/EOS tokens");
  auto* hf = cmd->add_option("--hf-repo", opt->model.hf_repo,
                             "Hugging Face model USER/REPO[:QUANT] (also -hf)");
  cmd->add_option("--chat-template", opt->template_file, "Jinja chat template file")
      ->excludes(model)
      ->excludes(hf);
  cmd->add_option("--builtin", opt->builtin,
                  "Built-in format instead: llama2, mistral, llama3, chatml, zephyr");
  cmd->add_option("--messages", opt->messages,
                  "JSON file: an array of messages, or an object with \"messages\" (and \"tools\")")
      ->required();
  cmd->add_option("--tools", opt->tools, "JSON file with an array of tool descriptions");
  cmd->add_flag("--add-generation-prompt", opt->add_generation_prompt,
                "End with the header of the assistant's reply");
  cmd->add_option("--bos", opt->bos, "BOS token text (default: the model's)");
  cmd->add_option("--eos", opt->eos, "EOS token text (default: the model's)");
  cmd->add_option("--date", opt->date,
                  "Date for strftime_now, e.g. \"26 Jul 2024\" (default: today)");
  cmd->callback([opt] {
    ChatContext ctx;
    std::string source;
    if (const auto path = resolve_model_if_given(opt->model)) {
      if (is_tokenizer_source(path->string()))
        read_tokenizer_files(path->string(), opt->builtin.empty(), source, ctx);
      else
        read_gguf(path->string(), opt->builtin.empty(), source, ctx);
    } else if (!opt->template_file.empty()) {
      if (!opt->builtin.empty()) throw Error("give either --chat-template or --builtin, not both");
      source = read_whole_file(opt->template_file);
    } else if (opt->builtin.empty()) {
      throw Error("template: give -m MODEL, --chat-template FILE or --builtin NAME");
    }
    if (opt->bos) ctx.bos_token = opt->bos;
    if (opt->eos) ctx.eos_token = opt->eos;

    nlohmann::ordered_json messages;
    try {
      messages = nlohmann::ordered_json::parse(read_whole_file(opt->messages));
    } catch (const nlohmann::json::exception& e) {
      throw Error(opt->messages + " is not valid JSON: " + e.what());
    }
    if (messages.is_object() && messages.contains("messages")) {
      if (messages.contains("tools") && !messages["tools"].is_null())
        ctx.tools_json = messages["tools"].dump();
      messages = messages["messages"];
    }
    if (!messages.is_array())
      throw Error(opt->messages + ": expected an array of messages or {\"messages\": [...]}");
    ctx.messages_json = messages.dump();
    if (!opt->tools.empty()) ctx.tools_json = read_whole_file(opt->tools);
    ctx.add_generation_prompt = opt->add_generation_prompt;
    ctx.date = opt->date;

    const ChatTemplate tpl =
        opt->builtin.empty() ? ChatTemplate::parse(source) : ChatTemplate::builtin(opt->builtin);
    std::string text;
    try {
      text = tpl.render(ctx);
    } catch (const Error& e) {
      std::string msg = e.what();  // the error is one line, whatever the template wrote
      for (char& c : msg)
        if (c == '\n' || c == '\r') c = ' ';
      throw Error(e.kind(), msg);
    }
    std::cout << text << std::flush;
  });
}

}  // namespace minillm::cli
