// Pulling models from the Hugging Face Hub (tools/hub, `mini-llm pull`, -hf, hf://), against a
// mock Hub on a loopback port (mock_hub.h): nothing here touches the real network.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "gguf_split_writer.h"
#include "hf_cache.h"
#include "hub_pull.h"
#include "hub_repo.h"
#include "minillm/error.h"
#include "minillm/model.h"
#include "mock_hub.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {
namespace fs = std::filesystem;
using hub::ModelRef;
using hub::PullOptions;
using hub::RepoFile;
using hub::RepoInfo;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string demo_model_bytes() {
  return test::read_file_bytes(test::shared_file("models/stories260K.gguf"));
}

// A repository of GGUF files (each the demo model), a README and a config stored in Git.
test::MockRepo gguf_repo(const std::vector<std::string>& names) {
  test::MockRepo repo;
  repo.commit = kCommit;
  for (const std::string& name : names) repo.lfs_files[name] = demo_model_bytes();
  repo.git_files["README.md"] = "# stories\n";
  return repo;
}

struct HubFixture : ::testing::Test {
  test::MockHub hub;
  test::TempDir cache{"cache"};
  PullOptions options() const {
    PullOptions o;
    o.endpoint = hub.endpoint();
    o.cache_root = cache.path;
    return o;
  }
  hub::PullResult pull(const std::string& ref, PullOptions o) const {
    return hub::pull(hub::parse_model_ref(ref), o);
  }
  hub::PullResult pull(const std::string& ref) const { return pull(ref, options()); }
  fs::path repo_dir(const std::string& repo) const {
    return hub::HubCache(cache.path).repo_dir(repo);
  }
  // Files under blobs/ (complete and partial).
  std::vector<std::string> blobs(const std::string& repo) const {
    std::vector<std::string> names;
    if (fs::exists(repo_dir(repo) / "blobs"))
      for (const auto& e : fs::directory_iterator(repo_dir(repo) / "blobs"))
        names.push_back(e.path().filename().string());
    return names;
  }
};

// ---- Choosing the files ----

RepoInfo repo_of(const std::vector<std::string>& names) {
  RepoInfo info{"u/r", kCommit, {}};
  for (const std::string& n : names) info.files.push_back(RepoFile{n, 1, "", std::string(40, 'c')});
  return info;
}

std::vector<std::string> names_of(const hub::Selection& s) {
  std::vector<std::string> names;
  for (const RepoFile& f : s.files) names.push_back(f.name);
  return names;
}

TEST(HubSelect, ModelReferences) {
  EXPECT_EQ(hub::parse_model_ref("TheBloke/Llama-2-7B-GGUF").repo, "TheBloke/Llama-2-7B-GGUF");
  const ModelRef r = hub::parse_model_ref("hf://bartowski/Mistral-7B.v0.3-GGUF:q4_k_m");
  EXPECT_EQ(r.repo, "bartowski/Mistral-7B.v0.3-GGUF");
  EXPECT_EQ(r.quant, "q4_k_m");
  for (const char* bad :
       {"", "norepo", "a/b/c", "../x", "a/..", "a/b:", "a/b:x/y", "/a/b", "a b/c"})
    EXPECT_THROW(hub::parse_model_ref(bad), Error) << bad;
  EXPECT_TRUE(hub::is_hub_uri("hf://a/b"));
  EXPECT_FALSE(hub::is_hub_uri("models/a.gguf"));
}

TEST(HubSelect, QuantTagsMatchWholeWordsInAnyCase) {
  const RepoInfo info = repo_of({"m.Q4_K.gguf", "m.Q4_K_M.gguf", "m.Q8_0.gguf", "m-IQ4_XS.gguf",
                                 "mmproj-m-f16.gguf", "README.md"});
  EXPECT_EQ(names_of(hub::select_model_files(info, "q4_k_m")),
            std::vector<std::string>{"m.Q4_K_M.gguf"});
  EXPECT_EQ(names_of(hub::select_model_files(info, "Q4_K")),
            std::vector<std::string>{"m.Q4_K.gguf"});
  EXPECT_EQ(names_of(hub::select_model_files(info, "iq4_xs")),
            std::vector<std::string>{"m-IQ4_XS.gguf"});
  // Without a tag: the Q4_K_M one among several.
  EXPECT_EQ(hub::select_model_files(info, "").model_path, "m.Q4_K_M.gguf");
  // A tag that matches nothing lists what there is (the projector file is not a model).
  const std::string e = test::error_of([&] { hub::select_model_files(info, "Q5_K_M"); });
  EXPECT_HAS(e, "no GGUF file for 'Q5_K_M'");
  EXPECT_HAS(e, "IQ4_XS, Q4_K, Q4_K_M, Q8_0");
  EXPECT_EQ(e.find("F16"), std::string::npos) << e;
  // The only GGUF of a repository needs no tag; several without a Q4_K_M one need one.
  EXPECT_EQ(hub::select_model_files(repo_of({"x-f16.gguf", "a.txt"}), "").model_path, "x-f16.gguf");
  EXPECT_HAS(test::error_of([&] {
               hub::select_model_files(repo_of({"a-Q8_0.gguf", "a-F16.gguf"}), "");
             }),
             "pick one with :QUANT (available: F16, Q8_0)");
  EXPECT_HAS(test::error_of([&] {
               hub::select_model_files(repo_of({"a-Q8_0.gguf", "b-Q8_0.gguf"}), "Q8_0");
             }),
             "matches several files");
}

TEST(HubSelect, SplitModelsAreOneChoiceWithEveryPart) {
  const RepoInfo info =
      repo_of({"Q8_0/m-Q8_0-00002-of-00002.gguf", "Q8_0/m-Q8_0-00001-of-00002.gguf",
               "m-Q4_K_M.gguf", "broken-Q6_K-00001-of-00003.gguf"});
  const hub::Selection s = hub::select_model_files(info, "Q8_0");
  EXPECT_EQ(s.model_path, "Q8_0/m-Q8_0-00001-of-00002.gguf");
  EXPECT_EQ(names_of(s), (std::vector<std::string>{"Q8_0/m-Q8_0-00001-of-00002.gguf",
                                                   "Q8_0/m-Q8_0-00002-of-00002.gguf"}));
  // A set with parts missing is not offered.
  EXPECT_HAS(test::error_of([&] { hub::select_model_files(info, "Q6_K"); }),
             "no GGUF file for 'Q6_K'");
}

TEST(HubSelect, SafetensorsFoldersAndRepositoriesWithoutAModel) {
  const RepoInfo info = repo_of(
      {"config.json", "tokenizer.json", "tokenizer_config.json", "model-00001-of-00002.safetensors",
       "model-00002-of-00002.safetensors", "model.safetensors.index.json", "README.md",
       "onnx/model.onnx", "original/consolidated.safetensors"});
  const hub::Selection s = hub::select_model_files(info, "");
  EXPECT_EQ(s.model_path, "");
  EXPECT_EQ(names_of(s), (std::vector<std::string>{
                             "config.json", "tokenizer.json", "tokenizer_config.json",
                             "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                             "model.safetensors.index.json"}));
  EXPECT_HAS(test::error_of([&] { hub::select_model_files(info, "Q4_K_M"); }), "has no GGUF files");
  EXPECT_HAS(test::error_of([&] {
               hub::select_model_files(repo_of({"README.md", "a.bin"}), "");
             }),
             "has no GGUF or safetensors model files");
}

TEST(HubSelect, FileListsAreCheckedBeforeUse) {
  const std::string good = R"({"id":"u/r","sha":")" + kCommit +
                           R"(","siblings":[{"rfilename":"a.gguf","blobId":")" +
                           std::string(40, 'b') + R"(","size":134,"lfs":{"sha256":")" +
                           std::string(64, 'e') + R"(","size":99}}]})";
  const RepoInfo info = hub::parse_repo_info(good);
  ASSERT_EQ(info.files.size(), 1u);
  EXPECT_EQ(info.files[0].size, 99u);  // the LFS object's size, not the pointer's
  EXPECT_EQ(info.files[0].etag(), std::string(64, 'e'));
  for (const std::string& bad :
       {std::string("[]"), std::string("{"), std::string(R"({"sha":"xyz","siblings":[]})"),
        R"({"sha":")" + kCommit + R"(","siblings":[{"rfilename":"../../etc/x","blobId":")" +
            std::string(40, 'b') + R"("}]})",
        R"({"sha":")" + kCommit + R"(","siblings":[{"rfilename":"a","blobId":"../x"}]})",
        R"({"sha":")" + kCommit + R"(","siblings":[{"size":1}]})"})
    EXPECT_THROW(hub::parse_repo_info(bad), Error) << bad;
}

// ---- Downloading into the cache ----

TEST_F(HubFixture, PullsIntoTheHubCacheLayoutAndReusesIt) {
  hub.add_repo("test/stories", gguf_repo({"stories-Q8_0.gguf", "stories-Q4_K_M.gguf"}));
  const auto got = pull("test/stories:q8_0");
  const std::string sha = test::hex_digest(EVP_sha256(), demo_model_bytes());
  // The layout the Hub's own tools use: blob by sha256, relative symlink, ref to the commit.
  const fs::path repo = cache.path / "models--test--stories";
  EXPECT_EQ(got.path, repo / "snapshots" / kCommit / "stories-Q8_0.gguf");
  EXPECT_TRUE(fs::is_symlink(got.path));
  EXPECT_EQ(fs::read_symlink(got.path), fs::path("../../blobs") / sha);
  EXPECT_EQ(test::read_file_bytes(repo / "blobs" / sha), demo_model_bytes());
  EXPECT_EQ(test::read_file_bytes(repo / "refs/main"), kCommit);
  // The README's sha256 of the demo model, independently of the mock's arithmetic.
  EXPECT_EQ(sha, "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
  EXPECT_EQ(Model::load(got.path)->config().n_layer, 5u);

  // Again: the listing is asked, the file is not downloaded again.
  const int files_before = hub.file_requests;
  EXPECT_EQ(pull("test/stories:Q8_0").path, got.path);
  EXPECT_EQ(hub.file_requests, files_before);
  // The other quant has the same bytes, so the same blob: linked, not downloaded.
  EXPECT_EQ(pull("test/stories").path.filename(), "stories-Q4_K_M.gguf");
  EXPECT_EQ(hub.file_requests, files_before);
  EXPECT_EQ(blobs("test/stories"), std::vector<std::string>{sha});
}

TEST_F(HubFixture, ADroppedConnectionResumesWithARangeRequest) {
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf"}));
  hub.drop_after = 300000;
  hub.drops_left = 1;
  const auto got = pull("test/stories");
  EXPECT_EQ(test::read_file_bytes(got.path), demo_model_bytes());
  EXPECT_EQ(hub.ranges(), std::vector<std::string>{"bytes=300000-"});
}

TEST_F(HubFixture, AnInterruptedDownloadResumesOnTheNextRun) {
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf"}));
  hub.drop_after = 500000;
  hub.drops_left = 1;
  PullOptions once = options();
  once.max_attempts = 1;
  EXPECT_HAS(test::error_of([&] { pull("test/stories", once); }), "run again to resume");
  const std::string sha = test::hex_digest(EVP_sha256(), demo_model_bytes());
  // Only the partial file, beside where the blob will be; no snapshot link yet.
  EXPECT_EQ(blobs("test/stories"), std::vector<std::string>{sha + ".incomplete"});
  EXPECT_EQ(fs::file_size(repo_dir("test/stories") / "blobs" / (sha + ".incomplete")), 500000u);
  EXPECT_FALSE(fs::exists(repo_dir("test/stories") / "snapshots" / kCommit / "s-Q8_0.gguf"));
  const auto got = pull("test/stories");
  EXPECT_EQ(test::read_file_bytes(got.path), demo_model_bytes());
  EXPECT_EQ(hub.ranges(), std::vector<std::string>{"bytes=500000-"});
  EXPECT_EQ(blobs("test/stories"), std::vector<std::string>{sha});
}

TEST_F(HubFixture, ACorruptedByteIsCaughtAndNothingIsKept) {
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf"}));
  hub.corrupt = true;
  const std::string e = test::error_of([&] { pull("test/stories"); });
  EXPECT_HAS(e, "sha256 mismatch");
  EXPECT_HAS(e, "deleted");
  EXPECT_TRUE(blobs("test/stories").empty());
  EXPECT_FALSE(fs::exists(repo_dir("test/stories") / "snapshots" / kCommit / "s-Q8_0.gguf"));
  hub.corrupt = false;
  EXPECT_EQ(test::read_file_bytes(pull("test/stories").path), demo_model_bytes());
}

TEST_F(HubFixture, AServerThatLiesAboutSizesLeavesNothing) {
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf"}));
  hub.size_lie = 1000;  // lists more than it sends
  EXPECT_HAS(test::error_of([&] { pull("test/stories"); }), "the Hub lists");
  EXPECT_TRUE(blobs("test/stories").empty());
  hub.size_lie = -1000;  // lists less than it sends
  EXPECT_HAS(test::error_of([&] { pull("test/stories"); }), "sent more than");
  EXPECT_TRUE(blobs("test/stories").empty());
}

TEST_F(HubFixture, GatedRepositoriesNeedTheToken) {
  test::MockRepo repo = gguf_repo({"s-Q8_0.gguf"});
  repo.gated = true;
  hub.add_repo("meta/gated", repo);
  hub.token = "hf_secret";
  EXPECT_HAS(test::error_of([&] { pull("meta/gated"); }), "set HF_TOKEN");
  PullOptions wrong = options();
  wrong.token = "hf_wrong";
  EXPECT_HAS(test::error_of([&] { pull("meta/gated", wrong); }), "gated");
  PullOptions right = options();
  right.token = "hf_secret";
  EXPECT_EQ(test::read_file_bytes(pull("meta/gated", right).path), demo_model_bytes());
}

TEST_F(HubFixture, UnknownRepositoriesAndQuantsAreClearErrors) {
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf", "s-Q4_0.gguf"}));
  EXPECT_HAS(test::error_of([&] { pull("test/nothing"); }), "test/nothing was not found");
  EXPECT_HAS(test::error_of([&] { pull("test/stories:Q6_K"); }), "(available: Q4_0, Q8_0)");
  EXPECT_FALSE(fs::exists(repo_dir("test/nothing")));
}

TEST_F(HubFixture, SplitModelsArriveWholeAndLoadAsOne) {
  const test::TempDir parts_dir("parts");
  const auto parts =
      test::write_split_gguf(GGUFFile::open(test::shared_file("models/stories260K.gguf")),
                             parts_dir.path, "stories-Q8_0", 2);
  test::MockRepo repo;
  repo.commit = kCommit;
  for (const auto& p : parts)
    repo.lfs_files["Q8_0/" + p.filename().string()] = test::read_file_bytes(p);
  hub.add_repo("test/split", repo);
  const auto got = pull("test/split:Q8_0");
  EXPECT_EQ(got.path.filename(), "stories-Q8_0-00001-of-00002.gguf");
  EXPECT_TRUE(fs::exists(got.path.parent_path() / "stories-Q8_0-00002-of-00002.gguf"));
  EXPECT_EQ(Model::load(got.path)->config().n_layer, 5u);
}

TEST_F(HubFixture, SafetensorsRepositoriesArriveAsAFolder) {
  test::MockRepo repo;
  repo.commit = kCommit;
  const fs::path folder = test::shared_file("hf/stories260K");
  repo.lfs_files["model.safetensors"] = test::read_file_bytes(folder / "model.safetensors");
  for (const char* name :
       {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    repo.git_files[name] = test::read_file_bytes(folder / name);
  repo.git_files["README.md"] = "hi";
  hub.add_repo("test/hf", repo);
  const auto got = pull("test/hf");
  EXPECT_EQ(got.path, cache.path / "models--test--hf/snapshots" / kCommit);
  EXPECT_FALSE(fs::exists(got.path / "README.md"));
  EXPECT_EQ(test::read_file_bytes(got.path / "config.json"),
            test::read_file_bytes(folder / "config.json"));
  EXPECT_EQ(Model::load(got.path)->config().n_layer, 5u);
}

TEST_F(HubFixture, OfflineModeUsesTheCacheOrSaysItCannot) {
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf"}));
  PullOptions offline = options();
  offline.offline = true;
  EXPECT_HAS(test::error_of([&] { pull("test/stories", offline); }), "HF_HUB_OFFLINE is set");
  const auto online = pull("test/stories");
  const int lists = hub.list_requests;
  const auto got = pull("test/stories", offline);
  EXPECT_EQ(got.path, online.path);
  EXPECT_TRUE(got.offline);
  EXPECT_EQ(hub.list_requests, lists);  // the Hub was not asked
  EXPECT_HAS(test::error_of([&] { pull("test/stories:Q4_0", offline); }),
             "no GGUF file for 'Q4_0'");
  // A Hub that cannot be reached also falls back to the cached copy.
  PullOptions unreachable = options();
  unreachable.endpoint = "http://127.0.0.1:1";
  EXPECT_TRUE(pull("test/stories", unreachable).offline);
}

TEST_F(HubFixture, AnUnwritableCacheIsAClearError) {
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf"}));
  const fs::path file = cache.path / "a-file";
  test::write_file_bytes(file, "x");
  PullOptions o = options();
  o.cache_root = file / "hub";
  EXPECT_HAS(test::error_of([&] { pull("test/stories", o); }), "cannot create the cache folder");
}

// ---- The command line ----

std::vector<std::string> hub_env(const test::MockHub& hub, const fs::path& cache) {
  return {"HF_ENDPOINT=" + hub.endpoint(), "HF_HUB_CACHE=" + cache.string(),
          "HF_TOKEN=", "HF_HUB_OFFLINE="};
}

TEST_F(HubFixture, CommandsTakeHubModels) {
  hub.add_repo("test/stories", gguf_repo({"stories-Q8_0.gguf"}));
  const auto env = hub_env(hub, cache.path);
  const auto pulled = test::run_cli({"pull", "test/stories:Q8_0"}, "", env);
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_EQ(
      pulled.out,
      (cache.path / "models--test--stories/snapshots" / kCommit / "stories-Q8_0.gguf").string() +
          "\n");
  // Not a terminal: one line per file, no bar.
  EXPECT_EQ(pulled.err, "downloaded test/stories/stories-Q8_0.gguf (1.1 MB)\n");

  const std::vector<std::string> gen = {"-p", "Once upon a time", "-n", "12", "--temp", "0", "-t",
                                        "1"};
  auto with = [&](std::vector<std::string> model_args) {
    std::vector<std::string> args = {"generate"};
    args.insert(args.end(), model_args.begin(), model_args.end());
    args.insert(args.end(), gen.begin(), gen.end());
    return test::run_cli(args, "", env);
  };
  const auto local = with({"-m", test::shared_file("models/stories260K.gguf").string()});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  for (const auto& model_args :
       std::vector<std::vector<std::string>>{{"-hf", "test/stories:Q8_0"},
                                             {"--hf-repo", "test/stories"},
                                             {"-m", "hf://test/stories:q8_0"}}) {
    const auto r = with(model_args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, local.out) << model_args[0];
  }
  const auto info = test::run_cli({"info", "hf://test/stories"}, "", env);
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_HAS(info.out, "architecture:  llama");

  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"pull", "test/stories:Q2_K"},
           {"pull", "test/none"},
           {"pull", "not a repo"},
           {"generate", "-hf", "test/stories", "-m", "x.gguf", "-p", "hi"}}) {
    const auto r = test::run_cli(bad, "", env);
    EXPECT_EQ(r.exit_code, 1) << bad[1];
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  }
  EXPECT_HAS(test::run_cli({"pull", "test/stories:Q2_K"}, "", env).err, "(available: Q8_0)");
  // Offline, from the cache.
  auto offline_env = env;
  offline_env.back() = "HF_HUB_OFFLINE=1";
  const auto off = test::run_cli({"pull", "test/stories"}, "", offline_env);
  EXPECT_EQ(off.out, pulled.out) << off.err;
}

// A full disk during a download (a file size limit stands in for it): a clear error, and no
// partial or complete file left in the cache.
TEST_F(HubFixture, AFullDiskIsAClearErrorAndLeavesNothing) {
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf"}));
  const auto env = hub_env(hub, cache.path);
  const auto r = test::run_program(
      {"/bin/sh", "-c",
       std::string("trap '' XFSZ; ulimit -f 256; exec ") + MINILLM_CLI + " pull test/stories"},
      "", env);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_HAS(r.err, "File too large");
  EXPECT_TRUE(blobs("test/stories").empty());
}

// The demo model bundled with the repository is the one its README describes.
TEST(BundledDemoModel, MatchesItsReadme) {
  const std::string readme = test::read_file_bytes(test::source_dir() / "models/README.md");
  const std::string sha = test::hex_digest(EVP_sha256(), demo_model_bytes());
  EXPECT_HAS(readme, sha);
  EXPECT_HAS(readme, std::to_string(demo_model_bytes().size()).insert(4, ",").insert(1, ","));
}

TEST(BundledDemoModel, GenerateWithoutAModelUsesIt) {
  const auto r = test::run_cli({"generate", "-p", "Once upon a time", "-n", "8", "--temp", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_HAS(r.err, "using the bundled demo model");
  const auto explicit_model =
      test::run_cli({"generate", "-m", test::shared_file("models/stories260K.gguf").string(), "-p",
                     "Once upon a time", "-n", "8", "--temp", "0"});
  EXPECT_EQ(r.out, explicit_model.out);
  EXPECT_EQ(explicit_model.err.find("demo model"), std::string::npos);
}

}  // namespace
}  // namespace minillm

namespace minillm {
namespace {

// Progress fit for logs: when stderr is a file (as here), a long job prints a few lines, not one
// per step; on a terminal (a pseudo-terminal from script(1)) the bar is redrawn in place.
TEST(ProgressOutput, AFewLinesInLogsABarOnTerminals) {
  const test::TempDir dir;
  const auto out = dir.path / "tiny.gguf";
  const auto r = test::run_cli({"synth", "--shape", "tiny", "--type", "f16", "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LE(test::count_lines(r.err), 5) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "no redrawn bar in a log";
  EXPECT_HAS(r.err, "wrote " + out.string());
  const auto q = test::run_cli({"quantize", out.string(), (dir.path / "q.gguf").string(), "q4_0"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_LE(test::count_lines(q.err), 5) << q.err;
  EXPECT_HAS(q.err, "rmse");

  test::MockHub hub;
  hub.add_repo("test/stories", gguf_repo({"s-Q8_0.gguf"}));
  const test::TempDir cache("cache");
  const std::string command = std::string(MINILLM_CLI) + " pull test/stories";
  const auto tty = test::run_program({"/usr/bin/script", "-qfec", command, "/dev/null"}, "",
                                     hub_env(hub, cache.path));
  ASSERT_EQ(tty.exit_code, 0) << tty.out << tty.err;
  EXPECT_HAS(tty.out, "\r");             // redrawn in place
  EXPECT_HAS(tty.out, "s-Q8_0.gguf [");  // the bar
  EXPECT_HAS(tty.out, "downloaded test/stories/s-Q8_0.gguf");
}

}  // namespace
}  // namespace minillm
