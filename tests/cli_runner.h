// Runs the built mini-llm command (path from the MINILLM_CLI compile definition) and captures
// its exit code, stdout and stderr, for the command-line tests.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

extern char** environ;

namespace minillm::test {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

#ifdef MINILLM_CLI  // the path of the built mini-llm, set by tests/CMakeLists.txt
// Runs a program (`args[0]`, no shell in between) with its standard streams captured.
// `stdin_text`: what it reads on standard input; `env`: NAME=VALUE entries added to (or
// replacing those of) this process's environment.
inline CliResult run_program(const std::vector<std::string>& args,
                             const std::string& stdin_text = "",
                             const std::vector<std::string>& env = {}) {
  static int calls = 0;
  const std::string tag = std::to_string(calls++);
  const auto in = temp_path("cli_in" + tag), out = temp_path("cli_out" + tag),
             err = temp_path("cli_err" + tag);
  write_file_bytes(in, stdin_text);
  std::vector<std::string> argv_s = args;
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  CliResult r;
  std::vector<std::string> env_s = env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e, name = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const std::string& mine : env) replaced |= mine.rfind(name, 0) == 0;
    if (!replaced) env_s.push_back(entry);
  }
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file_bytes(out);
    r.err = read_file_bytes(err);
  } else {
    r.err = "cannot run " + args.at(0);
  }
  for (const auto& p : {in, out, err}) std::filesystem::remove(p);
  return r;
}

// Runs mini-llm with `args`; see run_program.
inline CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "",
                         const std::vector<std::string>& env = {}) {
  std::vector<std::string> all = {MINILLM_CLI};
  all.insert(all.end(), args.begin(), args.end());
  return run_program(all, stdin_text, env);
}
#endif

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  if (!s.empty() && s.back() != '\n') ++n;
  return n;
}

#ifdef MINILLM_CLI
// Runs every argument list; each must fail as the command promises bad input does: exit code 1
// and one line on stderr. Returns the results, in order, for further checks.
inline std::vector<CliResult> expect_each_fails_in_one_line(
    const std::vector<std::vector<std::string>>& cases) {
  std::vector<CliResult> results;
  for (const auto& args : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << joined;
    EXPECT_EQ(count_lines(r.err), 1) << joined << "\n" << r.err;
    results.push_back(std::move(r));
  }
  return results;
}
#endif

}  // namespace minillm::test
