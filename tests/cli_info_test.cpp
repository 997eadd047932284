// `mini-llm info`: runs the built command and checks its JSON against the figures in
// ../shared/README.md and the GGUF header bytes, and its error behaviour (exit code 1, one line on
// stderr) on missing files, truncated files and bad flags.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "gguf_layout.h"
#include "test_data.h"

namespace {

using nlohmann::json;

using CliRun = minillm::test::CliResult;
using minillm::test::run_cli;

using minillm::test::TempDir;

void expect_one_error_line(const CliRun& r, std::string_view mention = {}) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << "stderr: " << r.err;
  EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
  if (!mention.empty()) {
    EXPECT_NE(r.err.find(mention), std::string::npos) << r.err;
  }
}

uint64_t header_field(const std::filesystem::path& p, uint64_t at) {
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> head(24);
  in.read(reinterpret_cast<char*>(head.data()), 24);
  return minillm::test::load_le(head, at, 8);
}

TEST(CliInfo, Stories260KJson) {
  const auto model = minillm::test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED_FILE(model);
  const CliRun r = run_cli({"info", model.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const json j = json::parse(r.out);
  EXPECT_EQ(j["gguf_version"], 3);
  EXPECT_EQ(j["alignment"], 32);
  EXPECT_EQ(j["file_bytes"], std::filesystem::file_size(model));
  EXPECT_EQ(j["metadata_count"], header_field(model, 16));
  EXPECT_EQ(j["architecture"], "llama");

  // README: dim 64, 5 layers, 8 heads, 4 KV heads, head_dim 8, FFN 172, vocab 512, eps 1e-5,
  // no rope.freq_base key (default 10000), context 2048 in the file.
  const json& hp = j["hyperparameters"];
  EXPECT_EQ(hp["embedding_length"], 64);
  EXPECT_EQ(hp["block_count"], 5);
  EXPECT_EQ(hp["head_count"], 8);
  EXPECT_EQ(hp["head_count_kv"], 4);
  EXPECT_EQ(hp["feed_forward_length"], 172);
  EXPECT_EQ(hp["rope_dimension_count"], 8);
  EXPECT_EQ(hp["vocab_size"], 512);
  EXPECT_EQ(hp["context_length"], 2048);
  EXPECT_EQ(hp["rope_freq_base"].get<double>(), 10000.0);
  EXPECT_NEAR(hp["rms_norm_epsilon"].get<double>(), 1e-5, 1e-12);

  const json& tok = j["tokenizer"];
  EXPECT_EQ(tok["model"], "llama");
  EXPECT_EQ(tok["bos_token_id"], 1);
  EXPECT_EQ(tok["eos_token_id"], 2);
  EXPECT_EQ(tok["unknown_token_id"], 0);
  EXPECT_TRUE(tok["padding_token_id"].is_null()) << "0xFFFFFFFF means none";

  // 5 layers x 9 + token_embd, output_norm, output; all F32.
  EXPECT_EQ(j["tensors"].size(), 48u);
  EXPECT_EQ(header_field(model, 8), 48u);
  const uint64_t dim = 64, kv = 32, ffn = 172, vocab = 512;
  const uint64_t params =
      2 * dim * vocab + dim + 5 * (2 * dim * dim + 2 * dim * kv + 3 * dim * ffn + 2 * dim);
  for (const json& t : j["tensors"]) {
    EXPECT_EQ(t["type"], "F32") << t["name"];
    uint64_t n = 1;
    for (const json& d : t["shape"]) n *= d.get<uint64_t>();
    EXPECT_EQ(t["bytes"], 4 * n) << t["name"];
  }
  const json& tot = j["totals"];
  EXPECT_EQ(tot["tensors"], 48);
  EXPECT_EQ(tot["parameters"], params);
  EXPECT_EQ(tot["bytes"], 4 * params);
  EXPECT_EQ(tot["bits_per_weight"].get<double>(), 32.0);
}

TEST(CliInfo, TextOutputPrintsFloat32MetadataShortest) {
  const auto model = minillm::test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED_FILE(model);
  const CliRun r = run_cli({"info", model.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1e-05"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("9.99999"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("token_embd.weight"), std::string::npos);
  EXPECT_NE(r.out.find("48 tensors"), std::string::npos);
}

TEST(CliInfo, VocabularyOnlyFileJson) {
  const auto vocab = minillm::test::shared_file("vocab/ggml-vocab-llama-spm.gguf");
  REQUIRE_SHARED_FILE(vocab);
  const CliRun r = run_cli({"info", "--json", vocab.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["hyperparameters"]["vocab_size"], 32000);  // the Llama 2 vocabulary
  EXPECT_EQ(j["tokenizer"]["model"], "llama");
  EXPECT_EQ(j["tensors"].size(), 0u);
  EXPECT_EQ(j["totals"]["tensors"], 0);
  EXPECT_EQ(j["metadata_count"], header_field(vocab, 16));
}

TEST(CliInfo, MissingFileIsOneErrorLine) {
  const CliRun r = run_cli({"info", "/nonexistent/model.gguf", "--json"});
  expect_one_error_line(r, "/nonexistent/model.gguf");
  EXPECT_EQ(r.out, "");
}

TEST(CliInfo, TruncatedFileIsOneErrorLine) {
  const auto model = minillm::test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED_FILE(model);
  TempDir dir;
  // Cut inside the header (1000 bytes: inside the token list).
  const auto cut = dir.path / "cut-header.gguf";
  {
    const std::string bytes = minillm::test::read_file_bytes(model);
    std::ofstream(cut, std::ios::binary).write(bytes.data(), 1000);
  }
  const CliRun r = run_cli({"info", cut.string()});
  expect_one_error_line(r, cut.string());
  EXPECT_TRUE(r.err.find("truncated") != std::string::npos ||
              r.err.find("past the end") != std::string::npos)
      << r.err;
  const auto cut_data = dir.path / "cut-data.gguf";
  {
    const std::string bytes = minillm::test::read_file_bytes(model);
    std::ofstream(cut_data, std::ios::binary).write(bytes.data(), bytes.size() - 1);
  }
  // The last tensor no longer fits.
  expect_one_error_line(run_cli({"info", "--json", cut_data.string()}), "blk.4.ffn_norm.weight");
  const auto not_gguf = dir.path / "not.gguf";
  std::ofstream(not_gguf) << "hello\nworld\n";
  expect_one_error_line(run_cli({"info", not_gguf.string()}), "magic");
}

TEST(CliInfo, BadFlagsAreOneErrorLine) {
  expect_one_error_line(run_cli({"info", "--no-such-flag", "x.gguf"}));
  expect_one_error_line(run_cli({"info", "-m", "a.gguf", "-hf", "u/r"}), "not both");
  expect_one_error_line(run_cli({"no-such-command"}));
  expect_one_error_line(run_cli({}));
  expect_one_error_line(run_cli({"info", "a.gguf", "b.gguf"}));
}

TEST(CliInfo, HelpExitsZero) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"}, {"info", "--help"}}) {
    const CliRun r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("info"), std::string::npos) << r.out;
  }
  EXPECT_NE(run_cli({"info", "--help"}).out.find("--json"), std::string::npos);
}

}  // namespace

// Every reference model: the README gives the shapes (gqa-*: dim 256, 4 layers, 8 heads / 2 KV
// heads, head_dim 32, FFN 768, 512-token vocabulary; swa-*: sliding window 16, RoPE theta 1e6)
// and the file name gives the weight type the matrices mostly have.
TEST(CliInfo, EveryReferenceModelMatchesTheReadme) {
  const auto dir = minillm::test::shared_file("reference/models");
  REQUIRE_SHARED_FILE(dir);
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".gguf") continue;
    const std::string stem = entry.path().stem().string();
    if (stem == "stories260K") continue;  // the copy of models/stories260K.gguf, tested above
    SCOPED_TRACE(stem);
    const CliRun r = run_cli({"info", "--json", entry.path().string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    const json& hp = j["hyperparameters"];
    EXPECT_EQ(j["architecture"], "llama");
    EXPECT_EQ(hp["vocab_size"], 512);
    EXPECT_EQ(j["tensors"].size(), header_field(entry.path(), 8));
    if (stem.rfind("gqa-", 0) == 0) {
      EXPECT_EQ(hp["embedding_length"], 256);
      EXPECT_EQ(hp["block_count"], 4);
      EXPECT_EQ(hp["head_count"], 8);
      EXPECT_EQ(hp["head_count_kv"], 2);
      EXPECT_EQ(hp["feed_forward_length"], 768);
      EXPECT_EQ(hp["rope_dimension_count"], 32);
    } else {
      ASSERT_EQ(stem.rfind("swa-", 0), 0u);
      EXPECT_EQ(hp["sliding_window"], 16);
      EXPECT_DOUBLE_EQ(hp["rope_freq_base"].get<double>(), 1e6);
    }
    // The type named in the file name ("Q4_K_M" is mostly Q4_K) holds most matrix bytes.
    std::string want = stem.substr(4);
    if (want.size() > 2 && want.substr(want.size() - 2) == "_M") want.resize(want.size() - 2);
    std::map<std::string, uint64_t> bytes;
    for (const json& t : j["tensors"])
      if (t["shape"].size() == 2) bytes[t["type"]] += t["bytes"].get<uint64_t>();
    const auto top = std::max_element(bytes.begin(), bytes.end(),
                                      [](auto& a, auto& b) { return a.second < b.second; });
    EXPECT_EQ(top->first, want);
    ++seen;
  }
  EXPECT_EQ(seen, 17);
}
