// Fetches a model from the Hugging Face Hub into the shared cache (or finds it there) and answers
// with the local path to load. No output of its own: progress goes to a callback.
//
//   auto opts = minillm::hub::PullOptions::from_environment();  // HF_ENDPOINT, HF_TOKEN, ...
//   auto got = minillm::hub::pull(minillm::hub::parse_model_ref("user/repo:Q4_K_M"), opts);
//   Model::load(got.path);
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "hub_repo.h"

namespace minillm::hub {

struct PullOptions {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::string token;                                // HF_TOKEN: "Authorization: Bearer ..."
  bool offline = false;                             // HF_HUB_OFFLINE=1: only the cache
  std::filesystem::path cache_root;                 // see hf_cache.h
  std::string revision = "main";
  int max_attempts = 5;  // transfers of one file (a dropped connection resumes where it stopped)
  static PullOptions from_environment();
};

// What a download reports: `done` of `total` bytes of `file` (done == total when it ends).
// `resumed_at` is where this transfer started (0, or the size of an earlier partial download).
struct Progress {
  const std::string& file;
  uint64_t done, total, resumed_at;
  bool finished, from_cache;
};
using ProgressFn = std::function<void(const Progress&)>;

struct PullResult {
  std::filesystem::path path;  // the .gguf file (part 1 of a split one) or the model folder
  std::string commit;
  bool offline = false;  // answered from the cache without asking the Hub
};

// Throws Error with one clear sentence: unknown repository or quantization (listing what there
// is), a gated repository without a token, an offline miss, a failed or corrupt download (the
// partial file is deleted when its content is wrong), a cache folder that cannot be written.
PullResult pull(const ModelRef& ref, const PullOptions& options, const ProgressFn& progress = {});

}  // namespace minillm::hub
