// Options shared by several subcommands, spelled as llama.cpp spells them.
#pragma once

#include <CLI/CLI.hpp>
#include <random>
#include <string>

#include "minillm/sampler.h"
#include "minillm/session.h"

namespace minillm::cli {

inline void add_threads_option(CLI::App& cmd, int& threads) {
  cmd.add_option("-t,--threads", threads, "Threads (default: physical cores)")
      ->check(CLI::Range(1, 1024));
}

// --temp, --top-k, --top-p, --min-p, penalties and --seed.
struct SamplingFlags {
  SamplerParams params;
  int64_t seed = -1;  // -1 = a random seed
  // The parameters with the seed resolved, validated (throws Error for invalid values).
  SamplerParams resolve() const {
    SamplerParams p = params;
    p.seed = seed >= 0 ? uint64_t(seed) : std::random_device{}();
    p.validate();
    return p;
  }
};

inline void add_sampling_options(CLI::App& cmd, SamplingFlags& f) {
  cmd.add_option("--temp", f.params.temperature, "Temperature (0 = greedy)")->capture_default_str();
  cmd.add_option("--top-k", f.params.top_k, "Top-k (0 = off)")->capture_default_str();
  cmd.add_option("--top-p", f.params.top_p, "Top-p (1 = off)")->capture_default_str();
  cmd.add_option("--min-p", f.params.min_p, "Min-p (0 = off)")->capture_default_str();
  cmd.add_option("--repeat-penalty", f.params.repeat_penalty, "Repetition penalty (1 = off)")
      ->capture_default_str();
  cmd.add_option("--repeat-last-n", f.params.repeat_last_n, "Tokens the penalties look back at")
      ->capture_default_str();
  cmd.add_option("--frequency-penalty", f.params.frequency_penalty, "Frequency penalty")
      ->capture_default_str();
  cmd.add_option("--presence-penalty", f.params.presence_penalty, "Presence penalty")
      ->capture_default_str();
  cmd.add_option("-s,--seed", f.seed, "Random seed (-1 = random)")->capture_default_str();
}

// --kv-type NAME: the KV cache element types by their command-line names.
inline KvCacheType kv_type_from_name(const std::string& name) {
  if (name == "f32") return KvCacheType::F32;
  if (name == "q8_0") return KvCacheType::Q8_0;
  return KvCacheType::F16;
}

inline CLI::Option* add_kv_type_option(CLI::App& cmd, std::string& kv_type) {
  return cmd.add_option("--kv-type", kv_type, "KV cache element type (q8_0: 8.5 bits a value)")
      ->check(CLI::IsMember({"f16", "f32", "q8_0"}))
      ->capture_default_str();
}

// -t, -c, -b and --kv-type.
struct SessionFlags {
  int threads = 0;
  uint32_t ctx = 0;
  uint32_t batch = 512;
  std::string kv_type = "f16";
  SessionOptions resolve() const {
    return {.n_ctx = ctx,
            .n_batch = batch,
            .kv_type = kv_type_from_name(kv_type),
            .n_threads = threads};
  }
};

inline void add_session_options(CLI::App& cmd, SessionFlags& f) {
  add_threads_option(cmd, f.threads);
  cmd.add_option("-c,--ctx-size", f.ctx, "Context size (default: min(model context, 4096))");
  cmd.add_option("-b,--batch-size", f.batch, "Prompt tokens evaluated per batch")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  add_kv_type_option(cmd, f.kv_type);
}

}  // namespace minillm::cli
