// mini-llm template -m with Hugging Face tokenizer files: the chat template and BOS/EOS texts come
// from tokenizer_config.json (here Llama 3.1's, the same template as the shared case files).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "test_data.h"

namespace minillm {
namespace {

using nlohmann::ordered_json;
using test::run_cli;

TEST(CliTemplateHF, Llama3FolderRendersSharedCases) {
  const auto folder = test::shared_file("vocab/hf-tokenizers/llama3");
  REQUIRE_SHARED_FILE(folder / "tokenizer_config.json");
  const auto messages = test::temp_path("hf_messages.json").string();
  for (const char* name : {"meta-llama-Llama-3.1-8B-Instruct__system_user.json",
                           "meta-llama-Llama-3.1-8B-Instruct__multi_turn.json"}) {
    const auto path = test::shared_file("templates/cases") / name;
    REQUIRE_SHARED_FILE(path);
    const ordered_json c = ordered_json::parse(test::read_file_bytes(path));
    ASSERT_EQ(c.at("template_file"), "templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
    test::write_file_bytes(messages, c.at("messages").dump());
    // No --bos/--eos: the folder's tokenizer files must supply the case's texts.
    std::vector<std::string> args = {"template", "-m",     folder.string(), "--messages",
                                     messages,   "--date", "26 Jul 2024"};
    if (c.value("add_generation_prompt", false)) args.push_back("--add-generation-prompt");
    for (const std::string& model : {folder.string(), (folder / "tokenizer.json").string()}) {
      args[2] = model;
      const auto r = run_cli(args);
      EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
      EXPECT_EQ(r.out, c.at("expected").get<std::string>()) << name << " from " << model;
      EXPECT_EQ(r.err, "");
    }
  }
  std::filesystem::remove(messages);
}

TEST(CliTemplateHF, FolderWithoutTemplateIsAnError) {
  const auto folder = test::shared_file("hf/stories260K");  // no chat_template in its config
  REQUIRE_SHARED_FILE(folder / "tokenizer_config.json");
  const auto messages = test::temp_path("hf_messages2.json").string();
  test::write_file_bytes(messages, R"([{"role": "user", "content": "hi"}])");
  const auto r = run_cli({"template", "-m", folder.string(), "--messages", messages});
  std::filesystem::remove(messages);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_HAS(r.err, "chat template");
}

}  // namespace
}  // namespace minillm
