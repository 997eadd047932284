// Matrix-product throughput per weight type, code path, shape, batch size and mode.
// Names: matmul/<type>/<n_out>x<n_in>/tok<n>/<isa>/<fast|exact|packed>/threads:<t>, where <isa>
// is scalar, avx2, avx2vnni (AVX2 with AVX-VNNI, on CPUs that have it) or avx512, and "packed" is
// the fast mode on weights packed as a model load packs them (kernels/matmul/packed_rows.h).
// Counters: "weights" is bytes of weights streamed per second (one pass over W per call), the
// figure that bounds GEMV speed; "ops" is 2 * n_out * n_in * n_tok per second. Every call reads a
// different copy of W (enough copies to exceed the last-level cache) up to 16 tokens, so GEMV and
// small-batch figures (tok4, tok16: decoding steps of 4 or 16 sequences) are DRAM figures, as in
// a model. Shapes: tinyllama-1.1B (2048x2048, 256x2048, 5632x2048, 2048x5632,
// 32000x2048) and 7B (4096x4096, 14336x4096). Also the activation quantizer
// (quantize_act/<isa>/<n>) and cache-resident GEMV (matmul_hot/...).
// Example: bench_matmul --benchmark_filter='tok1/avx512/packed'
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/cpu.h"
#include "kernels/f16.h"
#include "kernels/matmul/matmul.h"
#include "kernels/matmul/packed_rows.h"
#include "kernels/quant/quant.h"

namespace {

using minillm::TensorType;
namespace mk = minillm::kernels;

// Weights quantized from N(0, 1) where a quantizer exists; random bytes with small finite fp16
// scales otherwise (the speed does not depend on the values).
std::vector<uint8_t> make_weights(TensorType t, size_t n_out, size_t n_in) {
  std::mt19937 rng(1);
  const size_t rb = minillm::row_bytes(t, n_in);
  std::vector<uint8_t> w(rb * n_out);
  if (mk::can_quantize(t)) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> row(n_in);
    for (size_t o = 0; o < n_out; ++o) {
      for (float& v : row) v = normal(rng);
      mk::quantize_row(t, row.data(), w.data() + o * rb, n_in);
    }
    return w;
  }
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  // Every 16-bit little-endian field with exponent bits 11111 (NaN/Inf) becomes 0.01: this covers
  // the d/dmin fields wherever the layout puts them.
  const uint16_t small = mk::fp32_to_fp16(0.01f);
  for (size_t i = 0; i + 1 < w.size(); i += 2) {
    uint16_t h;
    std::memcpy(&h, &w[i], 2);
    if ((h & 0x7C00) == 0x7C00) std::memcpy(&w[i], &small, 2);
  }
  return w;
}

// A code path: an ISA and, for AVX2, whether the integer kernels use AVX-VNNI.
struct Path {
  mk::Isa isa;
  bool vnni;
  std::string name;  // "scalar", "avx2", "avx2vnni", "avx512"
};

void bench(benchmark::State& state, TensorType t, size_t n_out, size_t n_in, size_t n_tok,
           Path path, mk::MatmulMode mode, int threads, bool hot, bool packed) {
  mk::set_isa_for_testing(path.isa);
  mk::set_avx_vnni_for_testing(path.vnni);
  const auto w0 = make_weights(t, n_out, n_in);
  constexpr size_t kColdBytes = size_t{160} << 20;  // well past a 32 MiB L3
  const size_t copies = n_tok <= 16 && !hot ? (kColdBytes + w0.size() - 1) / w0.size() : 1;
  std::vector<std::vector<uint8_t>> ws(packed ? 0 : copies, w0);
  std::vector<mk::PackedRows> ps;
  for (size_t i = 0; packed && i < copies; ++i) ps.emplace_back(t, w0.data(), n_out, n_in, 1);
  mk::AlignedVector<float> x(n_in * n_tok), y(n_out * n_tok);  // aligned like a model's
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  size_t next = 0;
  for (auto _ : state) {
    if (packed)
      mk::matmul(ps[next], x.data(), n_tok, y.data(), threads, mode);
    else
      mk::matmul(t, ws[next].data(), n_out, n_in, x.data(), n_tok, y.data(), threads, mode);
    next = (next + 1) % copies;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["weights"] =
      benchmark::Counter(static_cast<double>(w0.size()) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.counters["ops"] = benchmark::Counter(
      2.0 * static_cast<double>(n_out * n_in * n_tok) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
  mk::set_isa_for_testing(std::nullopt);
  mk::set_avx_vnni_for_testing(std::nullopt);
}

void bench_quantize_act(benchmark::State& state, mk::Isa isa, size_t n) {
  mk::set_isa_for_testing(isa);
  std::vector<float> x(n);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  std::vector<uint8_t> y(minillm::row_bytes(TensorType::Q8_0, n));
  // Q8_0 weights, Fast mode, one row: the call is dominated by quantizing x.
  const std::vector<uint8_t> w(minillm::row_bytes(TensorType::Q8_0, n));
  float out = 0;
  for (auto _ : state) {
    mk::matmul(TensorType::Q8_0, w.data(), 1, n, x.data(), 1, &out, 1);
    benchmark::DoNotOptimize(out);
  }
  state.counters["elements"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  mk::set_isa_for_testing(std::nullopt);
}

const int registered = [] {
  const TensorType types[] = {
      TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,   TensorType::Q4_0,
      TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K,   TensorType::Q3_K,
      TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};
  const size_t shapes[][2] = {{2048, 2048},  {256, 2048},  {5632, 2048}, {2048, 5632},
                              {32000, 2048}, {4096, 4096}, {14336, 4096}};
  std::vector<Path> paths;
  for (mk::Isa isa : {mk::Isa::Scalar, mk::Isa::Avx2, mk::Isa::Avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(mk::best_isa())) continue;
    paths.push_back({isa, false, std::string(mk::isa_name(isa))});
    if (isa == mk::Isa::Avx2 && mk::cpu_features().avx_vnni)
      paths.push_back({isa, true, "avx2vnni"});
  }
  for (const Path& path : paths) {
    const mk::Isa isa = path.isa;
    for (size_t n : {size_t{2048}, size_t{5632}}) {
      if (path.vnni) break;  // the activation quantizer has no VNNI variant
      const std::string name =
          "quantize_act/" + std::string(mk::isa_name(isa)) + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(), bench_quantize_act, isa, n)->UseRealTime();
    }
    // Cache-resident GEMV (one copy of a 256x2048 matrix): the compute cost of the streaming path.
    // Variants: fast, exact, and fast on packed weights (for the types that have a packed layout).
    struct Variant {
      const char* name;
      mk::MatmulMode mode;
      bool packed;
    };
    const Variant variants[] = {{"fast", mk::MatmulMode::Fast, false},
                                {"exact", mk::MatmulMode::Exact, false},
                                {"packed", mk::MatmulMode::Fast, true}};
    auto applies = [](TensorType t, const Variant& v) {
      return !v.packed || mk::packed_format(t).block_bytes != 0;
    };
    for (TensorType t : types)
      for (const Variant& v : variants)
        for (int threads : {1, 2}) {
          if (v.mode == mk::MatmulMode::Exact || !applies(t, v)) continue;
          const std::string name = "matmul_hot/" + std::string(minillm::type_name(t)) +
                                   "/256x2048/tok1/" + path.name + "/" + v.name +
                                   "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), bench, t, 256, 2048, 1, path, v.mode, threads,
                                       true, v.packed)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
    for (TensorType t : types)
      for (const auto& s : shapes)
        for (size_t n_tok : {size_t{1}, size_t{4}, size_t{16}, size_t{64}, size_t{512}})
          for (const Variant& v : variants)
            for (int threads : {1, 2}) {
              if (!applies(t, v)) continue;
              const std::string name = "matmul/" + std::string(minillm::type_name(t)) + "/" +
                                       std::to_string(s[0]) + "x" + std::to_string(s[1]) + "/tok" +
                                       std::to_string(n_tok) + "/" + path.name + "/" + v.name +
                                       "/threads:" + std::to_string(threads);
              benchmark::RegisterBenchmark(name.c_str(), bench, t, s[0], s[1], n_tok, path, v.mode,
                                           threads, false, v.packed)
                  ->Unit(benchmark::kMicrosecond)
                  ->UseRealTime();
            }
  }
  return 0;
}();

}  // namespace
