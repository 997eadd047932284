// Matrix-product throughput per weight type, code path, shape and batch size.
// Names: matmul/<type>/<n_out>x<n_in>/tok<n>/<isa>/threads:<t>. The "weights" counter is bytes of
// weights streamed per second (one pass over W per call), the figure that bounds GEMV speed.
// Example: bench_matmul --benchmark_filter='tok1/avx512'
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/f16.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

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

void bench(benchmark::State& state, TensorType t, size_t n_out, size_t n_in, size_t n_tok,
           mk::Isa isa, int threads) {
  mk::set_isa_for_testing(isa);
  const auto w = make_weights(t, n_out, n_in);
  std::vector<float> x(n_in * n_tok), y(n_out * n_tok);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  for (auto _ : state) {
    mk::matmul(t, w.data(), n_out, n_in, x.data(), n_tok, y.data(), threads);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["weights"] =
      benchmark::Counter(static_cast<double>(w.size()) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.counters["flops"] = benchmark::Counter(
      2.0 * static_cast<double>(n_out * n_in * n_tok) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
  mk::set_isa_for_testing(std::nullopt);
}

const int registered = [] {
  const TensorType types[] = {
      TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
      TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
      TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};
  const size_t shapes[][2] = {{2048, 2048}, {5632, 2048}};
  for (mk::Isa isa : {mk::Isa::Scalar, mk::Isa::Avx2, mk::Isa::Avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(mk::best_isa())) continue;
    for (TensorType t : types)
      for (const auto& s : shapes)
        for (size_t n_tok : {size_t{1}, size_t{8}})
          for (int threads : {1, 2}) {
            const std::string name = "matmul/" + std::string(minillm::type_name(t)) + "/" +
                                     std::to_string(s[0]) + "x" + std::to_string(s[1]) + "/tok" +
                                     std::to_string(n_tok) + "/" + std::string(mk::isa_name(isa)) +
                                     "/threads:" + std::to_string(threads);
            benchmark::RegisterBenchmark(name.c_str(), bench, t, s[0], s[1], n_tok, isa, threads)
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
          }
  }
  return 0;
}();

}  // namespace
