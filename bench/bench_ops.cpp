// The elementwise kernels around the matrix products, per code path, at the sizes of a 1.1B
// model: RMSNorm, RoPE, SwiGLU, softmax (attention is in bench_attention). Names:
// <op>/<n>/<isa>; counter "elements": elements per second.
// Example: bench_ops --benchmark_filter='/avx512'
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/ops/activations.h"
#include "kernels/ops/norm.h"
#include "kernels/ops/rope.h"

namespace {

namespace mk = minillm::kernels;

std::vector<float> normal_floats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

template <class F>
void bench_elementwise(benchmark::State& state, mk::Isa isa, size_t n, F op) {
  mk::set_isa_for_testing(isa);
  for (auto _ : state) op();
  state.counters["elements"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  mk::set_isa_for_testing(std::nullopt);
}

const int registered = [] {
  for (mk::Isa isa : {mk::Isa::Scalar, mk::Isa::Avx2, mk::Isa::Avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(mk::best_isa())) continue;
    const std::string is(mk::isa_name(isa));
    // Shapes of a 1.1B model: rows of 2048, an FFN row of 5632, 32 heads of 64.
    static const auto x = normal_floats(5632, 4), w = normal_floats(5632, 5),
                      u = normal_floats(5632, 6);
    static std::vector<float> y(5632), s(5632);
    benchmark::RegisterBenchmark(("rms_norm/2048/" + is).c_str(), bench_elementwise<void (*)()>,
                                 isa, 2048,
                                 [] { mk::rms_norm(x.data(), w.data(), y.data(), 2048, 1e-5f); });
    benchmark::RegisterBenchmark(("swiglu/5632/" + is).c_str(), bench_elementwise<void (*)()>, isa,
                                 5632, [] { mk::swiglu(x.data(), u.data(), y.data(), 5632); });
    benchmark::RegisterBenchmark(("softmax/2048/" + is).c_str(), bench_elementwise<void (*)()>, isa,
                                 2048, [] {
                                   std::copy(x.begin(), x.begin() + 2048, s.begin());
                                   mk::softmax(s.data(), 2048);
                                 });
    benchmark::RegisterBenchmark(
        ("rope/2048/" + is).c_str(), bench_elementwise<void (*)()>, isa, 2048, [] {
          static const auto inv = normal_floats(32, 7);
          static std::vector<float> c(32), sn(32), q = normal_floats(2048, 8);
          mk::rope_cos_sin(17, inv.data(), 32, c.data(), sn.data());
          mk::rope_rotate_pairs(q.data(), 32, 64, c.data(), sn.data(), 32);
        });
  }
  return 0;
}();

}  // namespace
