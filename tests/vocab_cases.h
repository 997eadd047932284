// Readers for the shared tokenizer test vectors (../shared/vocab): `.inp` files hold the input
// strings, each followed by "\n__ggml_vocab_test__\n"; `.out` files one line of space-separated
// ids per input (without BOS); corpus `.json` files a list of {n, text, ids, ids_parse_special}.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace minillm::test {

using Ids = std::vector<int32_t>;

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<std::string> split_vocab_cases(const std::string& text) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = text.find(sep, start)) != std::string::npos; start = at + sep.size())
    out.push_back(text.substr(start, at - start));
  return out;
}

inline Ids parse_id_line(const std::string& line) {
  Ids ids;
  std::istringstream s(line);
  for (int32_t id; s >> id;) ids.push_back(id);
  return ids;
}

inline std::vector<Ids> read_expected_ids(const std::filesystem::path& path) {
  std::vector<Ids> out;
  std::istringstream s(read_bytes(path));
  for (std::string line; std::getline(s, line);) out.push_back(parse_id_line(line));
  return out;
}

}  // namespace minillm::test
