// The machine's arithmetic ceilings, for judging the kernels against: independent chains of
// VPDPBUSD (int8 products, the integer matrix kernels' instruction) and of VFMADD (float), on
// the kernels' thread pool. Names: peak/<int8_vnni|f32_fma>/avx512/threads:<t>; counter "macs":
// multiply-adds per second (VPDPBUSD: 64 per instruction on 512 bits; VFMADD: 16).
// Every generated token costs about one multiply-add per weight, so "macs" / weights bounds the
// aggregate tokens/s of many sequences decoded together, before any unpacking or scaling.
// GCC 12 reports its own _mm512_undefined_* helpers (in the reductions) as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "kernels/cpu.h"
#include "kernels/thread_pool.h"

namespace {

namespace mk = minillm::kernels;

constexpr long kSteps = 1 << 20;  // loop iterations per thread and call
constexpr int kChains = 12;       // independent accumulators: enough to cover the latency

// The chains are 12 named variables, not an array: the compiler keeps them in registers.
#define MINILLM_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

// kVnni: VPDPBUSD chains, else VFMADD231PS chains (the same registers seen as floats).
template <bool kVnni>
__attribute__((target("avx512f,avx512vnni"))) int64_t chains(long steps) {
  __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(5);
  __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
  __asm__("" : "+v"(u), "+v"(s), "+v"(x), "+v"(y));
#define DECLARE(k) __m512i a##k = _mm512_set1_epi32(k);
#define STEP(k)                             \
  if constexpr (kVnni)                      \
    a##k = _mm512_dpbusd_epi32(a##k, u, s); \
  else                                      \
    a##k = _mm512_castps_si512(_mm512_fmadd_ps(_mm512_castsi512_ps(a##k), x, y));
#define SUM(k) sum += _mm512_reduce_add_epi32(a##k);
  MINILLM_CHAINS(DECLARE)
  for (long i = 0; i < steps; ++i) {
    MINILLM_CHAINS(STEP)
  }
  int64_t sum = 0;
  MINILLM_CHAINS(SUM)
  return sum;
#undef DECLARE
#undef STEP
#undef SUM
}

void bench_peak(benchmark::State& state, int64_t (*fn)(long), double macs_per_op, int threads) {
  std::atomic<int64_t> sink{0};
  auto run = [&](size_t) { sink.fetch_add(fn(kSteps), std::memory_order_relaxed); };
  for (auto _ : state) mk::run_chunks(threads, static_cast<size_t>(threads), run);
  benchmark::DoNotOptimize(sink.load());
  state.counters["macs"] = benchmark::Counter(
      macs_per_op * kChains * double(kSteps) * threads * double(state.iterations()),
      benchmark::Counter::kIsRate);
}

const int registered = [] {
  const mk::CpuFeatures& f = mk::cpu_features();
  for (int threads : {1, 2}) {
    const std::string t = "/avx512/threads:" + std::to_string(threads);
    if (!(f.avx512f && f.avx512vnni)) break;  // both chains are compiled for AVX-512 VNNI
    benchmark::RegisterBenchmark(("peak/int8_vnni" + t).c_str(), bench_peak, chains<true>, 64.0,
                                 threads)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("peak/f32_fma" + t).c_str(), bench_peak, chains<false>, 16.0,
                                 threads)
        ->UseRealTime();
  }
  return 0;
}();

}  // namespace
