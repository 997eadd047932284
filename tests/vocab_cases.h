// Readers for the shared tokenizer test vectors (../shared/vocab): `.inp` files hold the input
// strings, each followed by "\n__ggml_vocab_test__\n"; `.out` files one line of space-separated
// ids per input (without BOS); corpus `.json` files a list of {n, text, ids, ids_parse_special}.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "minillm/tokenizer.h"
#include "test_util.h"

namespace minillm::test {

using Ids = std::vector<int32_t>;

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
  std::istringstream s(read_file_bytes(path));
  for (std::string line; std::getline(s, line);) out.push_back(parse_id_line(line));
  return out;
}

// Encodes each case of `inp` with `tok` (no BOS/EOS) and expects the ids of the same line of
// `out`; with `check_decode`, also that decoding gives the case back. Prints the pass count.
inline void expect_vocab_cases(const Tokenizer& tok, const std::filesystem::path& inp,
                               const std::filesystem::path& out, const std::string& label,
                               bool check_decode = false) {
  const auto cases = split_vocab_cases(read_file_bytes(inp));
  const auto expected = read_expected_ids(out);
  ASSERT_EQ(cases.size(), expected.size());
  ASSERT_GT(cases.size(), 0u);
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Ids got = tok.encode(cases[i], {.add_bos = false, .add_eos = false});
    EXPECT_EQ(got, expected[i]) << label << " case " << i << ": \"" << cases[i] << "\"";
    if (check_decode) {
      EXPECT_EQ(tok.decode(got), cases[i]) << label << " case " << i;
    }
    passed += got == expected[i];
  }
  std::printf("[ vectors  ] %s: %zu/%zu cases pass\n", label.c_str(), passed, cases.size());
}

// Encodes `text` (about 1 MB of worst cases for merging) with default options, expects decoding
// to give it back and the encoding to stay far from quadratic time; prints the timing.
inline void expect_fast_round_trip(const Tokenizer& tok, const std::string& text) {
  const auto t0 = std::chrono::steady_clock::now();
  const Ids ids = tok.encode(text);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_LT(seconds, 20.0) << "encoding 1 MB should take well under a second";
  std::printf("[ timing   ] %zu bytes -> %zu tokens in %.3f s\n", text.size(), ids.size(), seconds);
}

}  // namespace minillm::test
