// Runs the built mini-llm command (path from the MINILLM_CLI compile definition) and captures
// its exit code, stdout and stderr, for the command-line tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace minillm::test {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A per-process scratch path in the temporary folder.
inline std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("minillm_test_" + std::to_string(::getpid()) + "_" + name);
}

inline std::string shell_quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

#ifdef MINILLM_CLI  // the path of the built mini-llm, set by tests/CMakeLists.txt
// `stdin_text`: what the command reads on standard input (empty: /dev/null).
inline CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  const auto out = temp_path("cli_stdout"), err = temp_path("cli_stderr");
  std::string cmd = shell_quote(MINILLM_CLI);
  for (const std::string& a : args) cmd += " " + shell_quote(a);
  const auto in = temp_path("cli_stdin");
  write_file_bytes(in, stdin_text);
  cmd += " <" + shell_quote(in.string()) + " >" + shell_quote(out.string()) + " 2>" +
         shell_quote(err.string());
  const int status = std::system(cmd.c_str());
  CliResult r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file_bytes(out),
              read_file_bytes(err)};
  for (const auto& p : {in, out, err}) std::filesystem::remove(p);
  return r;
}
#endif

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  if (!s.empty() && s.back() != '\n') ++n;
  return n;
}

}  // namespace minillm::test
