// mini-llm bench: prompt-processing and generation speed (like llama-bench's pp/tg tests), the
// weight bytes read per generated token, and a memory-bandwidth probe run in the same process so
// generation speed is shown as a fraction of the bandwidth roofline. The probe runs after every
// repetition and its median is used: on a shared machine the bandwidth drifts, and a probe taken
// at one moment would compare generation with another moment's machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "commands.h"
#include "minillm/error.h"
#include "minillm/model.h"
#include "minillm/sampler.h"
#include "minillm/session.h"
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
    return {{"n_tokens", n_tokens}, {"tokens_per_s", median()}, {"min", min()}, {"max", max()}};
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

// Matrices the load packed for the packed kernels (0 with --no-pack or where packing does not pay).
size_t packed_matrices(const Model& model) {
  const ModelWeights& w = model.impl().weights;
  size_t n = w.output.packed ? 1 : 0;
  for (const LayerWeights& l : w.layers)
    for (const MatrixView* m : l.matrices()) n += m->packed ? 1 : 0;
  return n;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  struct Options {
    ModelFlags model;
    uint32_t n_prompt = 512, n_gen = 128;
    int threads = 0, reps = 3;
    bool json = false, no_pack = false;
    uint32_t probe_mib = 1024;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure prompt (pp) and generation (tg) tokens/s against the bandwidth roofline");
  add_model_options(*cmd, o->model);
  cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens evaluated as one batch (0 = skip)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gen, "Tokens generated one at a time (0 = skip)")
      ->capture_default_str();
  add_threads_option(*cmd, o->threads);
  cmd->add_option("-r,--repetitions", o->reps, "Repetitions of each test")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--probe-mib", o->probe_mib, "Size of the bandwidth probe buffer in MiB")
      ->check(CLI::Range(16u, 1u << 16))
      ->capture_default_str();
  cmd->add_flag("--no-pack", o->no_pack,
                "Leave the weights in the file mapping, unpacked (to measure what packing gains)");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o] {
    const auto load_start = Clock::now();
    const auto path = resolve_model(o->model);
    const auto model =
        load_model(path, {.quantize = std::nullopt, .pack = !o->no_pack});
    const double load_s = seconds_since(load_start);
    const ModelConfig& c = model->config();
    const int threads = o->threads > 0 ? o->threads : default_thread_count();
    const uint32_t n_ctx = std::max<uint32_t>(o->n_prompt + o->n_gen, 16);
    Session session(model, {.n_ctx = n_ctx,
                            .n_batch = std::max<uint32_t>(o->n_prompt, 1),
                            .kv_type = KvCacheType::F16,
                            .n_threads = threads});
    // Warm-up: maps the weights in and starts the threads.
    session.eval(
        random_tokens(std::min<uint32_t>(std::max<uint32_t>(o->n_prompt, 1), 16), c.n_vocab, 7));

    Series pp{o->n_prompt, {}}, tg{o->n_gen, {}};
    std::vector<double> probes;  // GB/s, one per repetition
    for (int r = 0; r < o->reps; ++r) {
      if (o->n_prompt) {
        const auto ids = random_tokens(o->n_prompt, c.n_vocab, 100 + r);
        session.reset();
        const auto t = Clock::now();
        session.eval(ids);
        pp.tokens_per_s.push_back(o->n_prompt / seconds_since(t));
      }
      if (o->n_gen) {
        const auto ids = random_tokens(o->n_gen, c.n_vocab, 200 + r);
        session.reset();
        const auto t = Clock::now();
        for (int32_t id : ids) session.eval(std::span<const int32_t>(&id, 1));
        tg.tokens_per_s.push_back(o->n_gen / seconds_since(t));
      }
      probes.push_back(measure_read_bandwidth(size_t(o->probe_mib) << 20, threads, 3));
    }
    const double probe = median(probes);
    const uint64_t bytes = model->weight_bytes();
    const double roofline = probe * 1e9 / double(bytes);  // tokens/s if weights streamed at probe
    const double fraction = o->n_gen ? tg.median() / roofline : 0;

    nlohmann::ordered_json j;
    j["model"] = path.string();
    j["type"] = main_weight_type(*model);
    j["threads"] = threads;
    j["load_s"] = load_s;
    j["packed_matrices"] = packed_matrices(*model);
    if (o->n_prompt) j["pp"] = pp.json();
    if (o->n_gen) j["tg"] = tg.json();
    j["weight_bytes_per_token"] = bytes;
    j["bandwidth_probe_gb_s"] = probe;
    j["bandwidth_probe_min_gb_s"] = *std::min_element(probes.begin(), probes.end());
    j["bandwidth_probe_max_gb_s"] = *std::max_element(probes.begin(), probes.end());
    j["tg_roofline_tokens_per_s"] = roofline;
    j["tg_roofline_fraction"] = fraction;
    if (o->json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::printf("model: %s (%s, %.1f MB of weights read per token), %d threads, %d repetitions\n",
                path.c_str(), j["type"].get<std::string>().c_str(), double(bytes) / 1e6, threads,
                o->reps);
    std::printf("loaded in %.2f s (%zu matrices packed)\n", load_s,
                j["packed_matrices"].get<size_t>());
    std::printf("%-8s %12s %12s %12s\n", "test", "t/s median", "min", "max");
    if (o->n_prompt)
      std::printf("pp%-6u %12.2f %12.2f %12.2f\n", o->n_prompt, pp.median(), pp.min(), pp.max());
    if (o->n_gen)
      std::printf("tg%-6u %12.2f %12.2f %12.2f\n", o->n_gen, tg.median(), tg.min(), tg.max());
    std::printf("bandwidth probe: %.1f GB/s (median; %.1f-%.1f) -> generation roofline %.2f t/s",
                probe, *std::min_element(probes.begin(), probes.end()),
                *std::max_element(probes.begin(), probes.end()), roofline);
    if (o->n_gen) std::printf(", tg at %.0f %% of it", 100 * fraction);
    std::printf("\n");
  });
}

}  // namespace minillm::cli
