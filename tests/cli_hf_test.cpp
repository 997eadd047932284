// mini-llm with Hugging Face inputs: -m FOLDER for logits/generate/tokenize, tokenize with a lone
// tokenizer.json or tokenizer.model, --quantize, and convert (output loads, bad input = one error
// line and exit 1).
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "logit_metrics.h"
#include "test_data.h"

namespace minillm {
namespace {

namespace fs = std::filesystem;
using test::run_cli;
using test::shared_file;

std::vector<float> read_floats(const fs::path& p) {
  const std::string bytes = test::read_file_bytes(p);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

void expect_one_error_line(const test::CliResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
}

TEST(CliHF, TokenizeFromFolderJsonAndModel) {
  const auto folder = shared_file("hf/stories260K");
  REQUIRE_SHARED_FILE(folder);
  const std::string want = "1 403 407 261 378\n";  // [BOS] Once upon a time (stories260K.gguf.out)
  for (const fs::path& m : {folder, folder / "tokenizer.json"}) {
    const auto r = run_cli({"tokenize", "-m", m.string(), "-p", "Once upon a time"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want);
  }
  // A folder holding only tokenizer files.
  const auto tok_only = test::temp_path("tok_only");
  fs::create_directories(tok_only);
  fs::copy_file(folder / "tokenizer.json", tok_only / "tokenizer.json");
  fs::copy_file(folder / "tokenizer_config.json", tok_only / "tokenizer_config.json");
  EXPECT_EQ(run_cli({"tokenize", "-m", tok_only.string(), "-p", "Once upon a time"}).out, want);
  fs::remove_all(tok_only);
  // Llama 2's SentencePiece model: " Hello world" is [29871, 15043, 3186] in llama-spm's vectors.
  const auto spm = shared_file("vocab/llama2-tokenizer.model");
  REQUIRE_SHARED_FILE(spm);
  const auto r = run_cli({"tokenize", "-m", spm.string(), "--no-bos", "-p", " Hello world"});
  EXPECT_EQ(r.out, "29871 15043 3186\n") << r.err;
  // Llama 3's byte-level tokenizer.json: " Hello world" is [22691, 1917] in ggml-vocab-llama3's
  // vectors.
  const auto llama3 = shared_file("vocab/hf-tokenizers/llama3/tokenizer.json");
  REQUIRE_SHARED_FILE(llama3);
  const auto r3 = run_cli({"tokenize", "-m", llama3.string(), "--no-bos", "-p", " Hello world"});
  EXPECT_EQ(r3.out, "22691 1917\n") << r3.err;
}

TEST(CliHF, LogitsFromFolderMatchTruthAndQuantizeRuns) {
  const auto ref = shared_file("reference/cases/hf-stories260K__s1_story64");
  const auto folder = shared_file("hf/stories260K");
  for (const fs::path& path : {ref, folder}) REQUIRE_SHARED_FILE(path);
  const auto out = test::temp_path("hf_logits.f32");
  auto r = run_cli({"logits", "-m", folder.string(), "--ids-file", (ref / "tokens.txt").string(),
                    "--all", "--kv-type", "f32", "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto truth = read_floats(ref / "truth.f32");
  const auto ours = read_floats(out);
  ASSERT_EQ(ours.size(), truth.size());
  EXPECT_LE(test::compare_logits(truth, ours, 512, 0.02).max_abs_diff, 1e-3);

  r = run_cli({"logits", "-m", shared_file("hf/stories260K-f16").string(), "--quantize", "q8_0",
               "--ids", "1 403 407", "-o", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_floats(out).size(), 512u);
  fs::remove(out);
  expect_one_error_line(run_cli({"logits", "-m", folder.string(), "--quantize", "q9_9", "--ids",
                                 "1", "-o", out.string()}),
                        "q9_9");
  expect_one_error_line(
      run_cli({"logits", "-m", "/nonexistent/folder/", "--ids", "1", "-o", out.string()}),
      "/nonexistent/folder");
}

TEST(CliHF, GenerateFromFolder) {
  const auto folder = shared_file("hf/stories260K");
  REQUIRE_SHARED_FILE(folder);
  const auto r = run_cli({"generate", "-m", folder.string(), "-p", "Once upon a time", "-n", "8",
                          "--temp", "0", "--no-echo"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // llama.cpp's greedy continuation of the manifest's prompt begins ", there was a little girl".
  EXPECT_EQ(r.out.rfind(", there was a little", 0), 0u) << r.out;
}

TEST(CliHF, ConvertWritesALoadableGGUF) {
  const auto folder = shared_file("hf/stories260K-bf16");
  REQUIRE_SHARED_FILE(folder);
  const auto out = test::temp_path("conv.gguf");
  auto r = run_cli({"convert", folder.string(), out.string(), "--type", "q8_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("kept their type"), std::string::npos) << r.err;  // ffn_down: 172 columns
  r = run_cli({"info", "-m", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Q8_0"), std::string::npos);
  r = run_cli({"tokenize", "-m", out.string(), "-p", "Once upon a time"});
  EXPECT_EQ(r.out, "1 403 407 261 378\n");
  r = run_cli({"generate", "-m", out.string(), "-p", "Once upon a time", "-n", "4", "--temp", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::remove(out);

  expect_one_error_line(run_cli({"convert", "/nonexistent/dir", out.string()}), "not a folder");
  expect_one_error_line(run_cli({"convert", folder.string(), out.string(), "--type", "nope"}),
                        "'nope' is not a tensor type");
  const test::TempDir empty;
  expect_one_error_line(run_cli({"convert", empty.path.string(), out.string()}), "config.json");
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace minillm

namespace minillm {
namespace {

// `info` on a folder: the README's stories260K figures, and the tensors as the safetensors store
// them (47: no lm_head, the output is tied to the embedding).
TEST(CliHF, InfoDescribesAFolder) {
  for (const char* name : {"hf/stories260K", "hf/stories260K-bf16"}) {
    const auto folder = test::shared_file(name);
    REQUIRE_SHARED_FILE(folder);
    const auto r = test::run_cli({"info", "--json", folder.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& hp = j["hyperparameters"];
    EXPECT_EQ(hp["embedding_length"], 64);
    EXPECT_EQ(hp["block_count"], 5);
    EXPECT_EQ(hp["head_count"], 8);
    EXPECT_EQ(hp["head_count_kv"], 4);
    EXPECT_EQ(hp["feed_forward_length"], 172);
    EXPECT_EQ(hp["vocab_size"], 512);
    EXPECT_EQ(hp["rms_norm_epsilon"], 1e-5);
    EXPECT_EQ(j["tokenizer"]["bos_token_id"], 1);
    EXPECT_EQ(j["tensors"].size(), 47u);
    EXPECT_DOUBLE_EQ(j["totals"]["bits_per_weight"].get<double>(),
                     std::string(name).find("bf16") != std::string::npos ? 16.0 : 32.0);
  }
}

}  // namespace
}  // namespace minillm
