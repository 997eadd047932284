// `mini-llm bench`: runs the built command on the real stories260K model and checks its JSON: the
// fields the issue asks for, their consistency with each other, the weight bytes per token
// against the file's own tensor sizes, and the error behaviour on bad flags.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "kernels/cpu.h"
#include "kernels/matmul/packed_rows.h"
#include "minillm/gguf.h"
#include "test_data.h"

namespace {

using minillm::test::run_cli;
using nlohmann::json;

const std::filesystem::path kModel = minillm::test::shared_file("models/stories260K.gguf");

// Bytes a generated token reads, from the file's tensor table: every layer matrix, the output
// matrix (the embedding when the file has none: tied), and one embedding row.
uint64_t weight_bytes_from_file(const std::filesystem::path& path) {
  const auto file = minillm::GGUFFile::open(path);
  uint64_t total = 0, embd = 0, embd_rows = 1;
  bool has_output = false;
  for (const auto& t : file.tensors()) {
    const std::string& n = t.name;
    if (n == "token_embd.weight") {
      embd = t.n_bytes;
      embd_rows = t.shape.at(1);
    } else if (n == "output.weight") {
      has_output = true;
      total += t.n_bytes;
    } else if (n.rfind("blk.", 0) == 0 && t.shape.size() == 2) {
      total += t.n_bytes;  // attn_q/k/v/output, ffn_gate/up/down (norms are 1-D)
    }
  }
  return total + embd / embd_rows + (has_output ? 0 : embd);
}

TEST(CliBench, JsonHasEveryFieldAndTheFiguresAgree) {
  REQUIRE_SHARED_FILE(kModel);
  const auto r = run_cli({"bench", "-m", kModel.string(), "-p", "8", "-n", "4", "-r", "3", "-t",
                          "2", "--probe-mib", "16", "--probe-window", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("model"), kModel.string());
  // The CPU is named as CPUID gives it, and the code path the kernels took.
  const std::string cpu = j.at("cpu");
  EXPECT_NE(cpu.find(" family "), std::string::npos) << cpu;
  EXPECT_EQ(j.at("isa"), std::string(minillm::kernels::isa_name(minillm::kernels::active_isa())));
  EXPECT_EQ(j.at("type"), "F32");
  EXPECT_EQ(j.at("threads"), 2);
  EXPECT_EQ(j.at("packed_matrices"), 0);  // float weights: nothing to pack
  EXPECT_GE(j.at("load_s").get<double>(), 0.0);
  for (const char* test : {"pp", "tg"}) {
    SCOPED_TRACE(test);
    const json& t = j.at(test);
    EXPECT_EQ(t.at("n_tokens"), std::string(test) == "pp" ? 8 : 4);
    const double med = t.at("tokens_per_s"), lo = t.at("min"), hi = t.at("max");
    EXPECT_GT(lo, 0.0);
    EXPECT_LE(lo, med);
    EXPECT_LE(med, hi);
    const std::vector<double> each = t.at("each");
    ASSERT_EQ(each.size(), 3u);  // one per repetition
    EXPECT_EQ(*std::min_element(each.begin(), each.end()), lo);
    EXPECT_EQ(*std::max_element(each.begin(), each.end()), hi);
  }
  EXPECT_EQ(j.at("weight_bytes_per_token").get<uint64_t>(), weight_bytes_from_file(kModel));
  const double probe = j.at("bandwidth_probe_gb_s");
  EXPECT_GT(probe, 0.1);
  EXPECT_LE(j.at("bandwidth_probe_min_gb_s").get<double>(), probe);
  EXPECT_GE(j.at("bandwidth_probe_max_gb_s").get<double>(), probe);
  // Depth 0: the 4 tokens read 1..4 positions of keys and values (5 layers, 4 KV heads of 8,
  // F16): the roofline counts those bytes beside the weights.
  EXPECT_EQ(j.at("n_depth"), 0);
  EXPECT_EQ(j.at("kv_bytes_per_token").get<uint64_t>(), 2 * 5 * (32 * 2) * (1 + 2 + 3 + 4) / 4);
  EXPECT_EQ(
      j.at("bytes_per_token").get<uint64_t>(),
      j.at("weight_bytes_per_token").get<uint64_t>() + j.at("kv_bytes_per_token").get<uint64_t>());
  const double roofline = j.at("tg_roofline_tokens_per_s");
  EXPECT_NEAR(roofline, probe * 1e9 / j.at("bytes_per_token").get<double>(), 1e-9 * roofline);
  // Generation is timed in windows of 2 tokens (--probe-window 2), each between two probes; the
  // fraction is the median over the 6 windows of each one's speed against its probes' mean.
  const std::vector<double> tg = j.at("tg").at("each");
  const json& windows = j.at("tg_windows");
  ASSERT_EQ(windows.size(), 6u);
  std::vector<double> fractions;
  for (size_t i = 0; i < windows.size(); ++i) {
    const json& w = windows[i];
    EXPECT_EQ(w.at("n_tokens"), 2);
    if (i % 2 == 1) {  // a repetition's speed is its 4 tokens over its two windows' time
      const double seconds =
          windows[i - 1].at("seconds").get<double>() + w.at("seconds").get<double>();
      EXPECT_NEAR(tg[i / 2], 4 / seconds, 1e-9 * tg[i / 2]);
      // Its second window starts at position 2: it reads positions 1..3 and 1..4.
      EXPECT_EQ(w.at("kv_bytes_per_token").get<uint64_t>(), 2 * 5 * (32 * 2) * (3 + 4) / 2);
      // The probe after its first window is the one before its second.
      EXPECT_EQ(w.at("probe_before_gb_s"), windows[i - 1].at("probe_after_gb_s"));
    }
    EXPECT_GT(w.at("probe_before_gb_s").get<double>(), 0.1);
    EXPECT_GT(w.at("probe_after_gb_s").get<double>(), 0.1);
    const double weight_and_kv =
        j.at("weight_bytes_per_token").get<double>() + w.at("kv_bytes_per_token").get<double>();
    fractions.push_back(w.at("n_tokens").get<double>() / w.at("seconds").get<double>() *
                        weight_and_kv /
                        (0.5e9 * (w.at("probe_before_gb_s").get<double>() +
                                  w.at("probe_after_gb_s").get<double>())));
  }
  std::sort(fractions.begin(), fractions.end());
  const double median = (fractions[2] + fractions[3]) / 2;
  EXPECT_NEAR(j.at("tg_roofline_fraction").get<double>(), median, 1e-9 * median);
}

// A quantized model: every projection and the output are packed where packing pays (AVX-512),
// none with --no-pack; skipped tests are left out of the JSON.
TEST(CliBench, PackedMatricesAndSkippedTests) {
  const auto q8 = minillm::test::shared_file("reference/models/gqa-Q8_0.gguf");
  REQUIRE_SHARED_FILE(q8);
  size_t matrices = 1;  // output (or the tied embedding used as output)
  const auto file = minillm::GGUFFile::open(q8);
  for (const auto& t : file.tensors())
    matrices += t.name.rfind("blk.", 0) == 0 && t.shape.size() == 2 ? 1 : 0;
  const bool pays = minillm::kernels::packing_pays(minillm::TensorType::Q8_0);
  for (bool no_pack : {false, true}) {
    std::vector<std::string> args = {"bench", "-m", q8.string(), "-p",          "0",  "-n",
                                     "2",     "-r", "1",         "--probe-mib", "16", "--json"};
    if (no_pack) args.push_back("--no-pack");
    const auto r = run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_FALSE(j.contains("pp"));
    EXPECT_TRUE(j.contains("tg"));
    EXPECT_EQ(j.at("packed_matrices").get<size_t>(), pays && !no_pack ? matrices : 0) << no_pack;
  }
}

TEST(CliBench, TextFormShowsTheTestsAndTheRoofline) {
  REQUIRE_SHARED_FILE(kModel);
  const auto text = run_cli(
      {"bench", "-m", kModel.string(), "-p", "4", "-n", "0", "-r", "1", "--probe-mib", "16"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("pp4"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("tg"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("bandwidth probe"), std::string::npos) << text.out;
}

// -d: pp and tg after D tokens in the cache. Per depth the roofline counts the K and V rows every
// generated token reads (token i of n at depth D reads D + i + 1 positions of every layer), at the
// cache's element size; the first depth's figures stay at the top level.
TEST(CliBench, DepthCountsTheKvBytesEachTokenReads) {
  const auto q8 = minillm::test::shared_file("reference/models/gqa-Q8_0.gguf");
  REQUIRE_SHARED_FILE(q8);
  const auto file = minillm::GGUFFile::open(q8);
  uint64_t n_layer = 0, kv_width = 0;
  for (const auto& t : file.tensors()) {
    if (t.name.rfind("blk.", 0) == 0 && t.name.find("attn_k.weight") != std::string::npos) {
      ++n_layer;
      kv_width = t.shape.at(1);
    }
  }
  ASSERT_GT(n_layer, 0u);
  for (const auto& [kv_type, row_bytes] :
       {std::pair<std::string, uint64_t>{"f16", kv_width * 2},
        std::pair<std::string, uint64_t>{"q8_0", kv_width / 32 * 34}}) {
    SCOPED_TRACE(kv_type);
    const auto r = run_cli({"bench", "-m", q8.string(), "-p", "8", "-n", "4", "-d", "0,40", "-r",
                            "1", "--probe-mib", "16", "--kv-type", kv_type, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j.at("kv_type"), kv_type);
    ASSERT_EQ(j.at("depths").size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      const json& d = j.at("depths").at(i);
      const uint64_t depth = i == 0 ? 0 : 40;
      EXPECT_EQ(d.at("n_depth").get<uint64_t>(), depth);
      const uint64_t positions = 4 * depth + 1 + 2 + 3 + 4;  // 4 tokens at depth..depth+3
      const uint64_t want = (2 * n_layer * row_bytes * positions + 2) / 4;
      EXPECT_EQ(d.at("kv_bytes_per_token").get<uint64_t>(), want);
      EXPECT_EQ(d.at("bytes_per_token").get<uint64_t>(),
                j.at("weight_bytes_per_token").get<uint64_t>() + want);
      const double roofline = d.at("tg_roofline_tokens_per_s");
      EXPECT_NEAR(
          roofline,
          d.at("bandwidth_probe_gb_s").get<double>() * 1e9 / d.at("bytes_per_token").get<double>(),
          1e-9 * roofline);
      EXPECT_GT(d.at("pp").at("tokens_per_s").get<double>(), 0.0);
      EXPECT_GT(d.at("tg").at("tokens_per_s").get<double>(), 0.0);
    }
    EXPECT_EQ(j.at("n_depth"), 0);  // the first depth at the top level
    EXPECT_EQ(j.at("kv_bytes_per_token"), j.at("depths").at(0).at("kv_bytes_per_token"));
  }
  // One depth: no list, and the text form names the depth of each test.
  const auto text = run_cli({"bench", "-m", q8.string(), "-p", "4", "-n", "2", "-d", "20", "-r",
                             "1", "--probe-mib", "16"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("pp4 @ d20"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("tg2 @ d20"), std::string::npos) << text.out;
  // A context that holds the depth and both tests is enough: they start from the depth in turn.
  const auto fits = run_cli({"bench", "-m", q8.string(), "-p", "8", "-n", "4", "-d", "40", "-c",
                             "48", "-r", "1", "--probe-mib", "16", "--json"});
  ASSERT_EQ(fits.exit_code, 0) << fits.err;
  EXPECT_FALSE(json::parse(fits.out).contains("depths"));
}

TEST(CliBench, BadArgumentsGiveOneErrorLine) {
  REQUIRE_SHARED_FILE(kModel);
  const std::vector<std::vector<std::string>> cases = {
      {"bench", "-m", "/nonexistent/model.gguf"},
      {"bench", "-m", kModel.string(), "-p", "abc"},
      {"bench", "-m", kModel.string(), "-r", "0"},
      {"bench", "-m", kModel.string(), "-t", "-3"},
      {"bench", "-m", kModel.string(), "--probe-mib", "1"},
      {"bench", "-m", kModel.string(), "-d", "0,x"},
      {"bench", "-m", kModel.string(), "-d", "-5"},
      {"bench", "-m", kModel.string(), "-d", ""},
      {"bench", "-m", kModel.string(), "-p", "8", "-n", "4", "-d", "40", "-c", "47"},
      {"bench", "-m", kModel.string(), "--kv-type", "q4_0"},
      // stories260K's heads of 8 do not hold whole 32-value Q8_0 blocks.
      {"bench", "-m", kModel.string(), "-p", "4", "-n", "2", "--kv-type", "q8_0"},
  };
  for (const auto& r : minillm::test::expect_each_fails_in_one_line(cases)) {
    EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
