// mini-llm generate and logits from the command line, against the shared references.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "logit_metrics.h"
#include "test_data.h"

namespace minillm {
namespace {

using nlohmann::json;
using test::run_cli;

json manifest_case(const std::string& id) {
  std::ifstream in(test::shared_file("reference/manifest.json"));
  if (!in) return {};
  const json manifest = json::parse(in);
  for (const json& c : manifest.at("cases"))
    if (c.at("id") == id) return c;
  return {};
}

const std::string kModel = test::shared_file("models/stories260K.gguf").string();

TEST(CliGenerate, GreedyPrintsLlamaCppContinuation) {
  REQUIRE_SHARED_FILE(kModel);
  REQUIRE_SHARED_FILE(test::shared_file("reference/manifest.json"));
  const json c = manifest_case("stories260K__p1_once");
  ASSERT_FALSE(c.is_null());
  const std::string prompt = c.at("prompt");
  const auto r = run_cli({"generate", "-m", kModel, "-p", prompt, "-n", "48", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Echoed prompt, then exactly llama.cpp's greedy text (this case has no line break).
  EXPECT_EQ(r.out, prompt + c.at("llamacpp_greedy_text").get<std::string>());
  EXPECT_NE(r.err.find("prompt: 5 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("generation: 48 tokens"), std::string::npos) << r.err;

  const auto quiet =
      run_cli({"generate", "-m", kModel, "-p", prompt, "-n", "48", "--temp", "0", "--no-echo"});
  EXPECT_EQ(quiet.out, c.at("llamacpp_greedy_text").get<std::string>());
}

TEST(CliGenerate, SameSeedSameTextOtherSeedOtherText) {
  REQUIRE_SHARED_FILE(kModel);
  auto gen = [&](const char* seed) {
    return run_cli({"generate", "-m", kModel, "-p", "The cat", "-n", "32", "--temp", "1", "--seed",
                    seed, "--no-echo"})
        .out;
  };
  const std::string a = gen("5"), b = gen("5"), c = gen("6");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(CliGenerate, BadInputGivesOneErrorLineAndExitCode1) {
  REQUIRE_SHARED_FILE(kModel);
  const std::vector<std::vector<std::string>> cases = {
      {"generate", "-m", "/nonexistent/model.gguf", "-p", "hi"},
      {"generate", "-m", kModel, "-p", "hi", "--temp", "-1"},           // invalid temperature
      {"generate", "-m", kModel, "-p", "hi", "--top-p", "1.5"},         // invalid top-p
      {"generate", "-m", kModel, "-p", "Once upon a time", "-c", "3"},  // prompt > context
      {"generate", "-m", kModel, "-f", "/nonexistent/prompt.txt"},
      {"generate", "-m", kModel, "-p", "hi", "--bogus-flag"},
      {"logits", "-m", kModel, "--ids", "1 2 x", "-o", "/tmp/x.f32"},
      {"logits", "-m", kModel, "--ids", "1 600", "-o", "/tmp/x.f32"},  // id outside vocabulary
  };
  test::expect_each_fails_in_one_line(cases);
}

TEST(CliLogits, AllPositionsMatchTheTruth) {
  REQUIRE_SHARED_FILE(test::shared_file("reference/manifest.json"));
  const json c = manifest_case("stories260K__s3_short8");
  ASSERT_FALSE(c.is_null());
  const auto out = test::temp_path("logits.f32");
  const auto ids_file = test::temp_path("ids.txt");
  std::string ids;
  for (int id : c.at("tokens")) ids += std::to_string(id) + " ";
  test::write_file_bytes(ids_file, ids + "\n");
  for (const char* kv : {"f32", "f16"}) {
    const auto r = run_cli({"logits", "-m", kModel, "--ids-file", ids_file.string(), "--all",
                            "--kv-type", kv, "-o", out.string(), "-t", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string bytes = test::read_file_bytes(out);
    const std::string truth_bytes =
        test::read_file_bytes(test::shared_file("reference") / c.at("truth").get<std::string>());
    ASSERT_EQ(bytes.size(), truth_bytes.size());
    std::vector<float> got(bytes.size() / 4), truth(got.size());
    std::memcpy(got.data(), bytes.data(), bytes.size());
    std::memcpy(truth.data(), truth_bytes.data(), bytes.size());
    const auto m = test::compare_logits(truth, got, 512, c.at("top1_margin_rel"));
    EXPECT_LE(m.mean_kld, c.at("kld_limit").get<double>()) << kv;
    if (std::string(kv) == "f32") {
      EXPECT_LE(m.max_abs_diff, 1e-3);
    }
  }
  // Without --all: only the last position.
  const auto r = run_cli({"logits", "-m", kModel, "--ids", "1 403 407", "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file_bytes(out).size(), 512u * 4);
  std::filesystem::remove(out);
  std::filesystem::remove(ids_file);
}

// --kv-type q8_0 on a model with heads of 32: the case's truth within twice the F16 cache's KL
// plus what 8-bit K and V rounding costs (as reference_logits_test holds the library to).
TEST(CliLogits, Q8CacheStaysNearTheTruth) {
  REQUIRE_SHARED_FILE(test::shared_file("reference/manifest.json"));
  const json c = manifest_case("gqa-Q4_0__s1_story64");
  ASSERT_FALSE(c.is_null());
  const auto model = test::shared_file("reference") / c.at("model").get<std::string>();
  const auto out = test::temp_path("logits_q8kv.f32");
  std::string ids;
  for (int id : c.at("tokens")) ids += std::to_string(id) + " ";
  const std::string truth_bytes =
      test::read_file_bytes(test::shared_file("reference") / c.at("truth").get<std::string>());
  std::vector<float> truth(truth_bytes.size() / 4);
  std::memcpy(truth.data(), truth_bytes.data(), truth_bytes.size());
  double kld[2] = {};
  for (int i = 0; i < 2; ++i) {
    const auto r = run_cli({"logits", "-m", model.string(), "--ids", ids, "--all", "--kv-type",
                            i == 0 ? "f16" : "q8_0", "-o", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string bytes = test::read_file_bytes(out);
    ASSERT_EQ(bytes.size(), truth_bytes.size());
    std::vector<float> got(bytes.size() / 4);
    std::memcpy(got.data(), bytes.data(), bytes.size());
    const auto m = test::compare_logits(truth, got, c.at("n_vocab"), c.at("top1_margin_rel"));
    EXPECT_TRUE(m.top1_fail_positions.empty());
    kld[i] = m.mean_kld;
  }
  EXPECT_NE(kld[0], kld[1]);  // the flag reached the cache
  EXPECT_LE(kld[1], 2 * kld[0] + 8e-4);
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace minillm
