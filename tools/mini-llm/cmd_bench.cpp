// mini-llm bench: prompt-processing and generation speed (like llama-bench's pp/tg tests), the
// weight bytes read per generated token, and a memory-bandwidth probe run in the same process so
// generation speed is shown as a fraction of the bandwidth roofline. Generation is timed in
// windows of --probe-window tokens with a probe between windows, and each window is set against
// the mean of the probes either side of it (the fraction shown is the median over windows): on a
// shared machine the bandwidth drifts from second to second, and a probe taken at another moment
// would compare generation with another moment's machine. --parallel measures decoding many
// sequences together (BatchSession), like llama-batched-bench's S_TG. --n-depth measures pp and
// tg after D tokens already in the cache (llama-bench's depth); the roofline then counts the keys
// and values each generated token reads besides the weights.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "commands.h"
#include "kernels/cpu.h"
#include "minillm/batch_session.h"
#include "minillm/error.h"
#include "minillm/model.h"
#include "minillm/sampler.h"
#include "minillm/session.h"
#include "model/kv_cache.h"
#include "model/model_impl.h"
#include "model_source.h"
#include "options.h"
#include "runtime/bandwidth_probe.h"

namespace minillm::cli {
namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

struct Series {
  uint32_t n_tokens = 0;
  std::vector<double> tokens_per_s;  // one per repetition
  double median() const { return cli::median(tokens_per_s); }
  double min() const { return *std::min_element(tokens_per_s.begin(), tokens_per_s.end()); }
  double max() const { return *std::max_element(tokens_per_s.begin(), tokens_per_s.end()); }
  nlohmann::ordered_json json() const {
    return {{"n_tokens", n_tokens},
            {"tokens_per_s", median()},
            {"min", min()},
            {"max", max()},
            {"each", tokens_per_s}};
  }
};

std::vector<int32_t> random_tokens(uint32_t n, uint32_t n_vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = int32_t(rng.next() % n_vocab);
  return ids;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The weight type holding the most bytes ("Q4_K" for a Q4_K_M file).
std::string main_weight_type(const Model& model) {
  std::map<std::string, uint64_t> bytes;
  const ModelWeights& w = model.impl().weights;
  auto add = [&](const MatrixView& m) {
    bytes[std::string(type_name(m.type))] += row_bytes(m.type, m.cols) * m.rows;
  };
  add(w.token_embd);
  add(w.output);
  for (const LayerWeights& l : w.layers)
    for (const MatrixView* m : l.matrices()) add(*m);
  return std::max_element(bytes.begin(), bytes.end(),
                          [](auto& a, auto& b) { return a.second < b.second; })
      ->first;
}

// Resident memory of this process in bytes.
uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long long pages = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%llu %llu", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

constexpr uint32_t kParallelPrompt = 32;  // tokens of each sequence's own prompt

// N sequences, each with its own 32-token prompt (evaluated first, not timed), then n_gen decode
// steps, each one forward pass over one new token of every sequence. Aggregate and per-sequence
// generation tokens/s (median over the repetitions) and the resident memory at the end.
nlohmann::ordered_json bench_parallel(const std::shared_ptr<const Model>& model, uint32_t n_seq,
                                      uint32_t n_gen, int threads, int reps, KvCacheType kv_type) {
  const uint32_t n_vocab = model->config().n_vocab, seq_ctx = kParallelPrompt + n_gen;
  std::vector<double> tg;
  uint64_t rss = 0;
  for (int r = 0; r < reps; ++r) {
    BatchSession batch(model, {.n_ctx = n_seq * seq_ctx,
                               .n_seq_ctx = seq_ctx,
                               .n_batch = std::max(n_seq * kParallelPrompt, 1u),
                               .kv_type = kv_type,
                               .n_threads = threads});
    std::vector<std::vector<int32_t>> prompts;
    std::vector<SequenceInput> inputs;
    for (uint32_t s = 0; s < n_seq; ++s)
      prompts.push_back(random_tokens(kParallelPrompt, n_vocab, 1000 * (r + 1) + s));
    for (uint32_t s = 0; s < n_seq; ++s) inputs.push_back({batch.add(), prompts[s]});
    batch.eval(inputs);
    const auto steps = random_tokens(n_seq * n_gen, n_vocab, 300 + r);
    const auto t = Clock::now();
    for (uint32_t step = 0; step < n_gen; ++step) {
      for (uint32_t s = 0; s < n_seq; ++s)
        inputs[s].tokens = std::span<const int32_t>(&steps[size_t(step) * n_seq + s], 1);
      batch.eval(inputs);
    }
    tg.push_back(double(n_seq) * n_gen / seconds_since(t));
    rss = std::max(rss, resident_bytes());
  }
  const double aggregate = median(tg);
  return {{"n_seq", n_seq},
          {"tg_tokens_per_s", aggregate},
          {"per_seq_tokens_per_s", aggregate / n_seq},
          {"rss_mib", double(rss) / (1 << 20)}};
}

// "1,4,16": numbers from `lowest` to `highest` (`what`, the flag, names them in the message).
std::vector<uint32_t> parse_counts(const std::string& text, unsigned long lowest,
                                   unsigned long highest, const std::string& what) {
  std::vector<uint32_t> counts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    size_t used = 0;
    unsigned long n = 0;
    try {
      n = std::stoul(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || !std::isdigit(static_cast<unsigned char>(item[0])) ||
        n < lowest || n > highest)
      throw Error(what + ": '" + text + "' is not a comma-separated list of numbers from " +
                  std::to_string(lowest) + " to " + std::to_string(highest));
    counts.push_back(uint32_t(n));
    start = comma + 1;
  }
  return counts;
}

// Matrices the load packed for the packed kernels (0 with --no-pack or where packing does not pay).
size_t packed_matrices(const Model& model) {
  const ModelWeights& w = model.impl().weights;
  size_t n = w.output.packed ? 1 : 0;
  for (const LayerWeights& l : w.layers)
    for (const MatrixView* m : l.matrices()) n += m->packed ? 1 : 0;
  return n;
}

// Keys and values one generated token reads, averaged over the n_gen tokens of a tg test that
// starts with `depth` positions in the cache: token i attends to positions 0..depth+i (the last
// sliding_window of them), K and V rows of every layer.
uint64_t kv_bytes_per_token(const ModelConfig& c, KvCacheType kv_type, uint32_t depth,
                            uint32_t n_gen) {
  if (n_gen == 0) return 0;
  const size_t row = KvCache::row_bytes(kv_type, c.n_head_kv * c.head_dim);
  uint64_t positions = 0;
  for (uint32_t i = 0; i < n_gen; ++i) {
    const uint64_t seen = uint64_t(depth) + i + 1;
    positions += c.sliding_window ? std::min<uint64_t>(seen, c.sliding_window) : seen;
  }
  return (2 * uint64_t(c.n_layer) * row * positions + n_gen / 2) / n_gen;
}

// A run of generated tokens between two bandwidth probes.
struct Window {
  uint32_t tokens = 0;
  double seconds = 0;
  double probe_before = 0, probe_after = 0;  // GB/s
  uint64_t kv_bytes = 0;                     // per token, averaged over the window's positions
  double roofline_fraction(uint64_t weight_bytes) const {
    return tokens / seconds * double(weight_bytes + kv_bytes) /
           (0.5e9 * (probe_before + probe_after));
  }
};

// pp and tg of one depth: the cache holds `depth` tokens (evaluated once, not timed) before each
// timed test, which starts at position `depth`.
struct DepthRun {
  uint32_t depth = 0;
  Series pp, tg;
  std::vector<double> probes;   // GB/s, in the order taken
  std::vector<Window> windows;  // of every tg repetition
  uint64_t kv_bytes = 0;        // per generated token
};

}  // namespace

void add_bench_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    uint32_t n_prompt = 512, n_gen = 128, ctx = 0;
    int threads = 0, reps = 3;
    bool json = false, no_pack = false;
    uint32_t probe_mib = 512, probe_window = 16;
    std::string parallel, depths = "0", kv_type = "f16";
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure prompt (pp) and generation (tg) tokens/s against the bandwidth roofline");
  add_model_options(*cmd, o->model);
  cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens evaluated as one batch (0 = skip)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gen, "Tokens generated one at a time (0 = skip)")
      ->capture_default_str();
  cmd->add_option("-d,--n-depth", o->depths,
                  "Tokens already in the cache when pp and tg start, or a list (e.g. 0,4096)")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", o->ctx,
                  "KV cache capacity (default: the largest depth + max(pp, tg) tokens)");
  add_kv_type_option(*cmd, o->kv_type);
  add_threads_option(*cmd, o->threads);
  cmd->add_option("-r,--repetitions", o->reps, "Repetitions of each test")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--probe-mib", o->probe_mib, "Size of the bandwidth probe buffer in MiB")
      ->check(CLI::Range(16u, 1u << 16))
      ->capture_default_str();
  cmd->add_option("--probe-window", o->probe_window,
                  "Generated tokens timed between two bandwidth probes (0 = a whole repetition)")
      ->capture_default_str();
  cmd->add_flag("--no-pack", o->no_pack,
                "Leave the weights in the file mapping, unpacked (to measure what packing gains)");
  cmd->add_option("--parallel", o->parallel,
                  "Also decode N sequences together for each N in this list (e.g. 1,4,16): each "
                  "has its own 32-token prompt, then -n steps of one token per sequence");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o] {
    const std::vector<uint32_t> parallel = o->parallel.empty()
                                               ? std::vector<uint32_t>{}
                                               : parse_counts(o->parallel, 1, 4096, "--parallel");
    if (!parallel.empty() && o->n_gen == 0) throw Error("--parallel needs -n above 0");
    const std::vector<uint32_t> depths = parse_counts(o->depths, 0, 1u << 24, "--n-depth");
    const uint32_t deepest = *std::max_element(depths.begin(), depths.end());
    // Each test starts from `depth` positions: pp and tg never hold the cache together.
    const uint64_t needed = uint64_t(deepest) + std::max(o->n_prompt, o->n_gen);
    if (o->ctx && needed > o->ctx)
      throw Error("-c " + std::to_string(o->ctx) + " is too small: depth " +
                  std::to_string(deepest) + " + " +
                  std::to_string(std::max(o->n_prompt, o->n_gen)) + " tokens need " +
                  std::to_string(needed) + " positions");
    const KvCacheType kv_type = kv_type_from_name(o->kv_type);
    const auto load_start = Clock::now();
    const auto path = resolve_model(o->model);
    const auto model = load_model(path, {.quantize = std::nullopt, .pack = !o->no_pack});
    const double load_s = seconds_since(load_start);
    const ModelConfig& c = model->config();
    const int threads = o->threads > 0 ? o->threads : default_thread_count();
    const uint32_t n_ctx = o->ctx ? o->ctx : std::max<uint32_t>(uint32_t(needed), 16);
    Session session(model, {.n_ctx = n_ctx,
                            .n_batch = std::max<uint32_t>(o->n_prompt, 512),
                            .kv_type = kv_type,
                            .n_threads = threads});
    // Warm-up: maps the weights in and starts the threads.
    session.eval(
        random_tokens(std::min<uint32_t>(std::max<uint32_t>(o->n_prompt, 1), 16), c.n_vocab, 7));

    BandwidthProbe probe(size_t(o->probe_mib) << 20, threads);
    auto measure = [&](DepthRun& run) { run.probes.push_back(probe.measure(2)); };
    const uint32_t window = o->probe_window ? o->probe_window : std::max<uint32_t>(o->n_gen, 1);

    std::vector<DepthRun> runs;
    for (uint32_t depth : depths) {
      DepthRun run{depth, {o->n_prompt, {}}, {o->n_gen, {}}, {}, {}, {}};
      run.kv_bytes = kv_bytes_per_token(c, kv_type, depth, o->n_gen);
      session.reset();
      if (depth) session.eval(random_tokens(depth, c.n_vocab, 50 + depth));
      for (int r = 0; r < o->reps; ++r) {
        if (o->n_prompt) {
          const auto ids = random_tokens(o->n_prompt, c.n_vocab, 100 + r);
          session.truncate(depth);
          const auto t = Clock::now();
          session.eval(ids);
          run.pp.tokens_per_s.push_back(o->n_prompt / seconds_since(t));
        }
        if (o->n_gen) {
          const auto ids = random_tokens(o->n_gen, c.n_vocab, 200 + r);
          session.truncate(depth);
          measure(run);
          double seconds = 0;
          for (uint32_t first = 0; first < o->n_gen; first += window) {
            const uint32_t n = std::min(window, o->n_gen - first);
            const auto t = Clock::now();
            for (uint32_t i = first; i < first + n; ++i)
              session.eval(std::span<const int32_t>(&ids[i], 1));
            Window w{n, seconds_since(t), run.probes.back(), 0,
                     kv_bytes_per_token(c, kv_type, depth + first, n)};
            measure(run);
            w.probe_after = run.probes.back();
            seconds += w.seconds;
            run.windows.push_back(w);
          }
          run.tg.tokens_per_s.push_back(o->n_gen / seconds);
        } else {
          measure(run);
        }
      }
      runs.push_back(std::move(run));
    }
    nlohmann::ordered_json parallel_json = nlohmann::ordered_json::array();
    for (uint32_t n_seq : parallel)
      parallel_json.push_back(bench_parallel(model, n_seq, o->n_gen, threads, o->reps, kv_type));
    const uint64_t bytes = model->weight_bytes();

    // The measured figures of one depth; the roofline counts weights and KV reads per token.
    auto depth_json = [&](const DepthRun& run) {
      const double probe = median(run.probes);
      const double roofline = probe * 1e9 / double(bytes + run.kv_bytes);
      std::vector<double> fractions;
      nlohmann::ordered_json windows = nlohmann::ordered_json::array();
      for (const Window& w : run.windows) {
        fractions.push_back(w.roofline_fraction(bytes));
        windows.push_back({{"n_tokens", w.tokens},
                           {"seconds", w.seconds},
                           {"probe_before_gb_s", w.probe_before},
                           {"probe_after_gb_s", w.probe_after},
                           {"kv_bytes_per_token", w.kv_bytes}});
      }
      nlohmann::ordered_json j;
      j["n_depth"] = run.depth;
      if (o->n_prompt) j["pp"] = run.pp.json();
      if (o->n_gen) j["tg"] = run.tg.json();
      j["kv_bytes_per_token"] = run.kv_bytes;
      j["bytes_per_token"] = bytes + run.kv_bytes;
      j["bandwidth_probe_gb_s"] = probe;
      j["bandwidth_probe_min_gb_s"] = *std::min_element(run.probes.begin(), run.probes.end());
      j["bandwidth_probe_max_gb_s"] = *std::max_element(run.probes.begin(), run.probes.end());
      j["tg_roofline_tokens_per_s"] = roofline;
      j["tg_roofline_fraction"] = o->n_gen ? median(fractions) : 0;
      if (o->n_gen) j["tg_windows"] = windows;
      return j;
    };

    // The first depth's figures at the top level (the only ones without a depth list); with
    // several depths, each also under "depths".
    nlohmann::ordered_json j;
    j["cpu"] = kernels::cpu_summary();
    j["isa"] = kernels::isa_name(kernels::active_isa());
    j["model"] = path.string();
    j["type"] = main_weight_type(*model);
    j["threads"] = threads;
    j["load_s"] = load_s;
    j["packed_matrices"] = packed_matrices(*model);
    j["kv_type"] = o->kv_type;
    j["weight_bytes_per_token"] = bytes;
    if (c.n_expert) {  // of a mixture of experts, bytes count the router and the k active experts
      j["expert_count"] = c.n_expert;
      j["expert_used_count"] = c.n_expert_used;
    }
    j.update(depth_json(runs.front()));
    if (runs.size() > 1) {
      j["depths"] = nlohmann::ordered_json::array();
      for (const DepthRun& run : runs) j["depths"].push_back(depth_json(run));
    }
    if (!parallel.empty()) j["parallel"] = parallel_json;
    if (o->json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    const std::string active = c.n_expert ? ", " + std::to_string(c.n_expert_used) + " of " +
                                                std::to_string(c.n_expert) + " experts"
                                          : "";
    std::printf(
        "model: %s (%s, %.1f MB of weights read per token%s), %s KV cache, %d threads, %d "
        "repetitions\n",
        path.c_str(), j["type"].get<std::string>().c_str(), double(bytes) / 1e6, active.c_str(),
        o->kv_type.c_str(), threads, o->reps);
    std::printf("cpu: %s, %s code path\n", j["cpu"].get<std::string>().c_str(),
                j["isa"].get<std::string>().c_str());
    std::printf("loaded in %.2f s (%zu matrices packed)\n", load_s,
                j["packed_matrices"].get<size_t>());
    std::printf("%-14s %12s %12s %12s\n", "test", "t/s median", "min", "max");
    for (const DepthRun& run : runs) {
      const std::string at = run.depth ? " @ d" + std::to_string(run.depth) : "";
      if (o->n_prompt)
        std::printf("%-14s %12.2f %12.2f %12.2f\n",
                    ("pp" + std::to_string(o->n_prompt) + at).c_str(), run.pp.median(),
                    run.pp.min(), run.pp.max());
      if (o->n_gen)
        std::printf("%-14s %12.2f %12.2f %12.2f\n", ("tg" + std::to_string(o->n_gen) + at).c_str(),
                    run.tg.median(), run.tg.min(), run.tg.max());
    }
    for (const DepthRun& run : runs) {
      const auto d = depth_json(run);
      std::printf("depth %u: bandwidth probe %.1f GB/s (median; %.1f-%.1f)", run.depth,
                  d["bandwidth_probe_gb_s"].get<double>(),
                  d["bandwidth_probe_min_gb_s"].get<double>(),
                  d["bandwidth_probe_max_gb_s"].get<double>());
      if (o->n_gen)
        std::printf(
            ", %.1f MB of KV read per token -> generation roofline %.2f t/s, tg at %.0f %% of it "
            "(median of %zu windows of up to %u tokens, each against the probes either side)",
            double(run.kv_bytes) / 1e6, d["tg_roofline_tokens_per_s"].get<double>(),
            100 * d["tg_roofline_fraction"].get<double>(), run.windows.size(), window);
      std::printf("\n");
    }
    for (const auto& p : parallel_json)
      std::printf(
          "parallel %4u sequences: tg %.2f t/s in all, %.2f t/s each (32-token prompts, "
          "%u steps; RSS %.0f MiB)\n",
          p["n_seq"].get<uint32_t>(), p["tg_tokens_per_s"].get<double>(),
          p["per_seq_tokens_per_s"].get<double>(), o->n_gen, p["rss_mib"].get<double>());
  });
}

}  // namespace minillm::cli
