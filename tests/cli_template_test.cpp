// mini-llm template: shared chat-template cases rendered through the command, byte for byte, from
// a template file and from a GGUF model's tokenizer.chat_template; errors exit 1 with one line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "minillm/gguf.h"
#include "test_data.h"

namespace minillm {
namespace {

using nlohmann::ordered_json;
using test::run_cli;

ordered_json load_case(const std::string& name) {
  return ordered_json::parse(test::read_file_bytes(test::shared_file("templates/cases") / name));
}

// Arguments that render case `c` from its template file, with the messages in their own file.
std::vector<std::string> case_args(const ordered_json& c, const std::string& messages_file) {
  test::write_file_bytes(messages_file, c.at("messages").dump(2));
  std::vector<std::string> args = {
      "template",
      "--chat-template",
      (test::shared_file("templates") / c.at("template_file").get<std::string>()).string(),
      "--messages",
      messages_file,
      "--date",
      "26 Jul 2024"};
  if (c["bos_token"].is_string()) args.insert(args.end(), {"--bos", c["bos_token"]});
  if (c["eos_token"].is_string()) args.insert(args.end(), {"--eos", c["eos_token"]});
  if (c.value("add_generation_prompt", false)) args.push_back("--add-generation-prompt");
  return args;
}

TEST(CliTemplate, RendersSharedCasesExactly) {
  const auto messages = test::temp_path("messages.json").string();
  for (const char* name :
       {"meta-llama-Llama-3.1-8B-Instruct__system_user.json",
        "Qwen-Qwen2.5-7B-Instruct__multi_turn.json", "llama-2-chat__system_user.json",
        "mistralai-Mistral-Nemo-Instruct-2407__multi_turn.json"}) {
    const auto path = test::shared_file("templates/cases") / name;
    REQUIRE_SHARED_FILE(path);
    const ordered_json c = load_case(name);
    const auto r = run_cli(case_args(c, messages));
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, c.at("expected").get<std::string>()) << name;
    EXPECT_EQ(r.err, "") << name;
  }
  std::filesystem::remove(messages);
}

TEST(CliTemplate, AcceptsACaseFileAsMessages) {
  const auto path = test::shared_file("templates/cases/llama-2-chat__multi_turn.json");
  REQUIRE_SHARED_FILE(path);
  const ordered_json c = load_case("llama-2-chat__multi_turn.json");
  const auto r = run_cli({"template", "--chat-template",
                          test::shared_file("templates/templates/llama-2-chat.jinja").string(),
                          "--messages", path.string(), "--bos", "<s>", "--eos", "</s>"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, c.at("expected").get<std::string>());
}

TEST(CliTemplate, TemplateErrorExits1WithTheTemplatesMessage) {
  const auto path = test::shared_file("templates/cases/google-gemma-2-2b-it__system_user.json");
  REQUIRE_SHARED_FILE(path);
  const ordered_json c = load_case("google-gemma-2-2b-it__system_user.json");
  const auto messages = test::temp_path("messages_err.json").string();
  const auto r = run_cli(case_args(c, messages));
  std::filesystem::remove(messages);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(c.at("expected_error").get<std::string>()), std::string::npos) << r.err;
}

// -m reads the template and the BOS/EOS text from the model's metadata.
TEST(CliTemplate, TemplateAndSpecialTokensFromAModel) {
  const auto tpl_path = test::shared_file("templates/templates/google-gemma-2-2b-it.jinja");
  REQUIRE_SHARED_FILE(tpl_path);
  const ordered_json c = load_case("google-gemma-2-2b-it__multi_turn.json");
  GGUFWriter w;
  w.set("general.architecture", "llama");
  w.set("tokenizer.ggml.model", "llama");
  w.set("tokenizer.ggml.tokens", GGUFValue::string_array({"<pad>", "<eos>", "<bos>", "<unk>"}));
  w.set("tokenizer.ggml.bos_token_id", uint32_t{2});
  w.set("tokenizer.ggml.eos_token_id", uint32_t{1});
  w.set("tokenizer.chat_template", test::read_file_bytes(tpl_path));
  const auto model = test::temp_path("template_model.gguf");
  w.write(model);
  const auto messages = test::temp_path("messages_model.json").string();
  test::write_file_bytes(messages, c.at("messages").dump());

  auto r = run_cli(
      {"template", "-m", model.string(), "--messages", messages, "--add-generation-prompt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, c.at("expected").get<std::string>());
  // --bos overrides the model's token.
  r = run_cli({"template", "-m", model.string(), "--messages", messages, "--bos", "[B]"});
  EXPECT_EQ(r.out.rfind("[B]<start_of_turn>user\nHi<end_of_turn>\n", 0), 0u) << r.out;
  // --builtin replaces the model's template but keeps its tokens.
  r = run_cli({"template", "-m", model.string(), "--builtin", "llama2", "--messages", messages});
  EXPECT_EQ(
      r.out,
      "<bos>[INST] Hi [/INST] Hello! How can I help? <eos><bos>[INST] Tell me a joke. [/INST]");
  std::filesystem::remove(model);
  std::filesystem::remove(messages);
}

TEST(CliTemplate, BadInputGivesOneErrorLineAndExitCode1) {
  const auto messages = test::temp_path("messages_bad.json").string();
  test::write_file_bytes(messages, R"([{"role": "user", "content": "Hi"}])");
  const auto bad_json = test::temp_path("bad.json").string();
  test::write_file_bytes(bad_json, "[{");
  const auto bad_tpl = test::temp_path("bad.jinja").string();
  test::write_file_bytes(bad_tpl, "line one\n{% for m in messages %}");
  const std::string stories = test::shared_file("models/stories260K.gguf").string();
  std::vector<std::vector<std::string>> cases = {
      {"template", "--messages", messages},  // no template source
      {"template", "--builtin", "nope", "--messages", messages},
      {"template", "--chat-template", "/nonexistent.jinja", "--messages", messages},
      {"template", "--builtin", "chatml", "--messages", "/nonexistent.json"},
      {"template", "--builtin", "chatml", "--messages", bad_json},
      {"template", "--chat-template", bad_tpl, "--messages", messages},
      {"template", "--builtin", "chatml", "--messages", messages, "--date", "soon"},
      {"template", "--builtin", "chatml"},  // no messages
  };
  if (std::filesystem::exists(stories))  // a model without a chat template
    cases.push_back({"template", "-m", stories, "--messages", messages});
  test::expect_each_fails_in_one_line(cases);
  const auto r = run_cli({"template", "--chat-template", bad_tpl, "--messages", messages});
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  for (const auto& f : {messages, bad_json, bad_tpl}) std::filesystem::remove(f);
}

}  // namespace
}  // namespace minillm
