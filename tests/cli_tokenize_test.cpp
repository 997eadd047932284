// mini-llm tokenize, run as a separate process: ids equal the shared test vectors, and bad
// arguments or files give exit code 1 with one line on stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_data.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code;
  std::string out;
  std::string err;
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Single-quoted for the shell. (Built with append: GCC 12 warns falsely on some string `+`.)
std::string quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) {
    if (c == '\'')
      q.append("'\\''");
    else
      q.push_back(c);
  }
  q.push_back('\'');
  return q;
}

fs::path temp_path(const std::string& name) {
  std::string file = "minillm_cli_tokenize_";
  file.append(std::to_string(::getpid())).append("_").append(name);
  return fs::temp_directory_path() / file;
}

Result run(const std::vector<std::string>& args) {
  const fs::path out = temp_path("stdout"), err = temp_path("stderr");
  std::string cmd = quote(MINILLM_CLI);
  for (const std::string& a : args) cmd.append(" ").append(quote(a));
  cmd.append(" >").append(quote(out.string())).append(" 2>").append(quote(err.string()));
  const int status = std::system(cmd.c_str());
  Result r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_bytes(out), read_bytes(err)};
  fs::remove(out);
  fs::remove(err);
  return r;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(CliTokenize, FileInputMatchesVectors) {
  const fs::path path = minillm::test::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  REQUIRE_SHARED_FILE(path);
  const std::string inp = read_bytes(path.string() + ".inp");
  std::istringstream out_lines(read_bytes(path.string() + ".out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  const fs::path text_file = temp_path("text");
  int n = 0;
  for (size_t start = 0, at; (at = inp.find(sep, start)) != std::string::npos;
       start = at + sep.size(), ++n) {
    std::string want;
    ASSERT_TRUE(std::getline(out_lines, want));
    // The .out lines start with a space; the command prints the ids alone.
    while (!want.empty() && want.front() == ' ') want.erase(0, 1);
    write_bytes(text_file, inp.substr(start, at - start));
    const Result r = run({"tokenize", "-m", path.string(), "-f", text_file.string(), "--no-bos"});
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
  EXPECT_EQ(run({"tokenize", "-m", path.string(), "-p", "Hello world"}).out, "1 15043 3186\n");
  EXPECT_EQ(run({"tokenize", "-m", path.string(), "-p", "Hello world", "--no-bos"}).out,
            "15043 3186\n");
  // From the llama2 corpus: "<s>Hello</s>" with special-token parsing is 1 15043 2.
  EXPECT_EQ(
      run({"tokenize", "-m", path.string(), "-p", "<s>Hello</s>", "--no-bos", "--special"}).out,
      "1 15043 2\n");
  EXPECT_EQ(run({"tokenize", "-m", path.string(), "-p", "<s>", "--no-bos"}).out,
            "529 29879 29958\n");
}

TEST(CliTokenize, ErrorsGiveOneLineAndExitCode1) {
  const fs::path path = minillm::test::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  const std::vector<std::vector<std::string>> bad = {
      {"tokenize", "-m", "/nonexistent/model.gguf", "-p", "hi"},
      {"tokenize", "-m", path.string(), "-f", "/nonexistent/text.txt"},
      {"tokenize", "-m", path.string()},                        // no text
      {"tokenize", "-m", path.string(), "-p", "a", "-f", "b"},  // both
      {"tokenize", "-p", "hi"},                                 // no model
      {"tokenize", "-m", path.string(), "-p", "hi", "--bogus"},
  };
  for (const auto& args : bad) {
    const Result r = run(args);
    EXPECT_EQ(r.exit_code, 1) << args.back();
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_EQ(r.out, "") << args.back();
  }
}

TEST(CliTokenize, UnsupportedTokenizerKindNamed) {
  const fs::path path = minillm::test::shared_file("vocab/ggml-vocab-gpt-2.gguf");
  REQUIRE_SHARED_FILE(path);
  const Result r = run({"tokenize", "-m", path.string(), "-p", "hi"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'gpt2'"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1);
}

}  // namespace
