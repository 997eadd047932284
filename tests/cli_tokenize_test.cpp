// mini-llm tokenize, run as a separate process: ids equal the shared test vectors, and bad
// arguments or files give exit code 1 with one line on stderr.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "minillm/gguf.h"
#include "test_data.h"
#include "vocab_cases.h"

namespace {

namespace fs = std::filesystem;

using namespace minillm::test;

TEST(CliTokenize, FileInputMatchesVectors) {
  const fs::path path = minillm::test::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  REQUIRE_SHARED_FILE(path);
  const std::string inp = read_file_bytes(path.string() + ".inp");
  std::istringstream out_lines(read_file_bytes(path.string() + ".out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  const fs::path text_file = temp_path("text");
  int n = 0;
  for (size_t start = 0, at; (at = inp.find(sep, start)) != std::string::npos;
       start = at + sep.size(), ++n) {
    std::string want;
    ASSERT_TRUE(std::getline(out_lines, want));
    // The .out lines start with a space; the command prints the ids alone.
    while (!want.empty() && want.front() == ' ') want.erase(0, 1);
    write_file_bytes(text_file, inp.substr(start, at - start));
    const CliResult r =
        run_cli({"tokenize", "-m", path.string(), "-f", text_file.string(), "--no-bos"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want + "\n") << "case " << n;
  }
  fs::remove(text_file);
  EXPECT_EQ(n, 46);
}

TEST(CliTokenize, PromptBosAndSpecial) {
  const fs::path path = minillm::test::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  REQUIRE_SHARED_FILE(path);
  // "Hello world" = 15043 3186 (vectors), BOS = 1 (the vocabulary's bos_token_id).
  EXPECT_EQ(run_cli({"tokenize", "-m", path.string(), "-p", "Hello world"}).out, "1 15043 3186\n");
  EXPECT_EQ(run_cli({"tokenize", "-m", path.string(), "-p", "Hello world", "--no-bos"}).out,
            "15043 3186\n");
  // From the llama2 corpus: "<s>Hello</s>" with special-token parsing is 1 15043 2.
  EXPECT_EQ(
      run_cli({"tokenize", "-m", path.string(), "-p", "<s>Hello</s>", "--no-bos", "--special"}).out,
      "1 15043 2\n");
  EXPECT_EQ(run_cli({"tokenize", "-m", path.string(), "-p", "<s>", "--no-bos"}).out,
            "529 29879 29958\n");
}

TEST(CliTokenize, ErrorsGiveOneLineAndExitCode1) {
  const fs::path path = minillm::test::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  const std::vector<std::vector<std::string>> bad = {
      {"tokenize", "-m", "/nonexistent/model.gguf", "-p", "hi"},
      {"tokenize", "-m", path.string(), "-f", "/nonexistent/text.txt"},
      {"tokenize", "-m", path.string()},                        // no text
      {"tokenize", "-m", path.string(), "-p", "a", "-f", "b"},  // both
      {"tokenize", "-m", path.string(), "-p", "hi", "--bogus"},
  };
  for (const CliResult& r : minillm::test::expect_each_fails_in_one_line(bad))
    EXPECT_EQ(r.out, "") << r.err;
}

TEST(CliTokenize, UnsupportedTokenizerKindNamed) {
  // A vocabulary-only GGUF of a kind mini-llm does not implement (BERT's WordPiece).
  minillm::GGUFWriter w;
  w.set("general.architecture", "bert");
  w.set("tokenizer.ggml.model", "bert");
  w.set("tokenizer.ggml.tokens", minillm::GGUFValue::string_array({"a"}));
  const fs::path path = temp_path("bert.gguf");
  w.write(path);
  const CliResult r = run_cli({"tokenize", "-m", path.string(), "-p", "hi"});
  fs::remove(path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'bert'"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1);
}

// Byte-level BPE (Llama 3): every case of the vectors, and special tokens with --special.
TEST(CliTokenize, Llama3FileInputMatchesVectors) {
  const fs::path path = minillm::test::shared_file("vocab/ggml-vocab-llama3.gguf");
  REQUIRE_SHARED_FILE(path);
  const auto cases = minillm::test::split_vocab_cases(read_file_bytes(path.string() + ".inp"));
  const auto expected = minillm::test::read_expected_ids(path.string() + ".out");
  ASSERT_EQ(cases.size(), expected.size());
  const fs::path text_file = temp_path("text");
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string want;
    for (int32_t id : expected[i]) want.append(want.empty() ? "" : " ").append(std::to_string(id));
    write_file_bytes(text_file, cases[i]);
    const CliResult r =
        run_cli({"tokenize", "-m", path.string(), "-f", text_file.string(), "--no-bos"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want + "\n") << "case " << i;
  }
  fs::remove(text_file);
  EXPECT_EQ(cases.size(), 46u);
}

TEST(CliTokenize, Llama3BosAndSpecial) {
  const fs::path path = minillm::test::shared_file("vocab/ggml-vocab-llama3.gguf");
  REQUIRE_SHARED_FILE(path);
  // "Hello world" = 9906 1917 (vectors); BOS <|begin_of_text|> = 128000, <|eot_id|> = 128009.
  EXPECT_EQ(run_cli({"tokenize", "-m", path.string(), "-p", "Hello world"}).out,
            "128000 9906 1917\n");
  EXPECT_EQ(run_cli({"tokenize", "-m", path.string(), "-p", "Hello world<|eot_id|>", "--no-bos",
                     "--special"})
                .out,
            "9906 1917 128009\n");
  // From the llama3 corpus: without --special the text stays plain.
  EXPECT_EQ(run_cli({"tokenize", "-m", path.string(), "-p", "<|begin_of_text|>", "--no-bos"}).out,
            "27 91 7413 3659 4424 91 29\n");
}

}  // namespace
