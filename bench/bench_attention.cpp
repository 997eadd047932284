// Attention over n cached rows (tinyllama: head_dim 64; F16, F32 or Q8_0 KV cache), per code path:
// one query head (attend/...) and the 8 query heads that share a KV head in tinyllama
// (attend_group:8/...), with the rows in cache; and one decoding step's attention over all of
// tinyllama's 22 layers (attend_token/...: 4 KV heads of 8 query heads each per layer, 49-187 MB
// of rows at depth 4,096, so they come from memory as in a model). Counters: "kv" is bytes of
// keys and values read per second, "heads" query heads per second.
// Example: bench_attention --benchmark_filter='f16/.*/avx512'
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention/attention.h"
#include "kernels/blocks.h"
#include "kernels/cpu.h"
#include "kernels/f16.h"
#include "kernels/quant/quant.h"

namespace {

namespace mk = minillm::kernels;

void bench(benchmark::State& state, mk::KvElement type, size_t n, size_t g, mk::Isa isa) {
  mk::set_isa_for_testing(isa);
  constexpr size_t kHeadDim = 64, kStride = 256;  // 4 KV heads of 64 per cache row
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> kf(n * kStride), vf(n * kStride), q(g * kHeadDim), out(g * kHeadDim),
      scores(g * n);
  std::vector<uint16_t> kh(n * kStride), vh(n * kStride);
  std::vector<mk::BlockQ8_0> kq(n * kStride / mk::kQK), vq(n * kStride / mk::kQK);
  for (size_t i = 0; i < kf.size(); ++i) {
    kf[i] = normal(rng), vf[i] = normal(rng);
    kh[i] = mk::fp32_to_fp16(kf[i]), vh[i] = mk::fp32_to_fp16(vf[i]);
  }
  mk::quantize_row(minillm::TensorType::Q8_0, kf.data(), kq.data(), kf.size());
  mk::quantize_row(minillm::TensorType::Q8_0, vf.data(), vq.data(), vf.size());
  for (float& v : q) v = normal(rng);
  auto base = [&](const std::vector<float>& f, const std::vector<uint16_t>& h,
                  const std::vector<mk::BlockQ8_0>& b) -> const void* {
    return type == mk::KvElement::F16    ? static_cast<const void*>(h.data())
           : type == mk::KvElement::Q8_0 ? static_cast<const void*>(b.data())
                                         : f.data();
  };
  const mk::KvRows keys{base(kf, kh, kq), kStride, type}, values{base(vf, vh, vq), kStride, type};
  const double bytes_per_value = type == mk::KvElement::F16    ? 2
                                 : type == mk::KvElement::Q8_0 ? 34.0 / 32
                                                               : 4;
  for (auto _ : state) {
    if (g == 1)
      mk::attend_one_head(q.data(), keys, values, 0, n, kHeadDim, 0.125f, scores.data(),
                          out.data());
    else
      mk::attend_head_group(q.data(), g, keys, values, 0, n, kHeadDim, 0.125f, scores.data(),
                            out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["kv"] =
      benchmark::Counter(2.0 * static_cast<double>(n * kHeadDim) * bytes_per_value *
                             static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.counters["heads"] =
      benchmark::Counter(static_cast<double>(g) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  mk::set_isa_for_testing(std::nullopt);
}

// One token's attention over every layer's cache (rows from memory): 22 layers x 4 KV heads,
// each head's rows one after another as KvCache stores them.
void bench_token(benchmark::State& state, mk::KvElement type, size_t n, mk::Isa isa) {
  mk::set_isa_for_testing(isa);
  constexpr size_t kHeadDim = 64, kKvHeads = 4, kLayers = 22, kGroup = 8;
  const size_t values = n * kKvHeads * kHeadDim * kLayers;
  const size_t bytes = type == mk::KvElement::F16    ? values * 2
                       : type == mk::KvElement::Q8_0 ? values / mk::kQK * sizeof(mk::BlockQ8_0)
                                                     : values * 4;
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> byte(-100, 100);
  std::vector<int8_t> k(bytes), v(bytes);
  for (size_t i = 0; i < bytes; ++i) k[i] = int8_t(byte(rng)), v[i] = int8_t(byte(rng));
  const auto fix_scales = [&](std::vector<int8_t>& c) {  // finite fp16 values / scales
    if (type == mk::KvElement::Q8_0)
      for (size_t b = 0; b < bytes; b += sizeof(mk::BlockQ8_0)) c[b + 1] = 0x20;
    else if (type == mk::KvElement::F16)
      for (size_t b = 1; b < bytes; b += 2) c[b] = int8_t(c[b] & 0x3B);
    else
      for (size_t b = 3; b < bytes; b += 4) c[b] = int8_t(c[b] & 0x3E);
  };
  fix_scales(k), fix_scales(v);
  std::vector<float> q(kGroup * kHeadDim, 0.1f), out(kGroup * kHeadDim), scores(kGroup * n);
  const size_t head_bytes = bytes / kLayers / kKvHeads;  // each head's rows in a run, as in KvCache
  for (auto _ : state) {
    for (size_t l = 0; l < kLayers; ++l)
      for (size_t h = 0; h < kKvHeads; ++h) {
        const size_t at = (l * kKvHeads + h) * head_bytes;
        const mk::KvRows keys{k.data() + at, kHeadDim, type}, vals{v.data() + at, kHeadDim, type};
        mk::attend_head_group(q.data(), kGroup, keys, vals, 0, n, kHeadDim, 0.125f, scores.data(),
                              out.data());
      }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["kv"] =
      benchmark::Counter(2.0 * static_cast<double>(bytes) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  mk::set_isa_for_testing(std::nullopt);
}

const int registered = [] {
  for (mk::Isa isa : {mk::Isa::Scalar, mk::Isa::Avx2, mk::Isa::Avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(mk::best_isa())) continue;
    for (mk::KvElement t : {mk::KvElement::F16, mk::KvElement::F32, mk::KvElement::Q8_0})
      for (size_t n : {size_t{128}, size_t{512}, size_t{2048}, size_t{4096}})
        for (size_t g : {size_t{1}, size_t{8}}) {
          const std::string name = std::string(g == 1 ? "attend" : "attend_group:8") +
                                   (t == mk::KvElement::F16    ? "/f16/"
                                    : t == mk::KvElement::Q8_0 ? "/q8_0/"
                                                               : "/f32/") +
                                   std::to_string(n) + "/" + std::string(mk::isa_name(isa));
          benchmark::RegisterBenchmark(name.c_str(), bench, t, n, g, isa)
              ->Unit(benchmark::kMicrosecond);
        }
    for (mk::KvElement t : {mk::KvElement::F16, mk::KvElement::Q8_0}) {
      const std::string name = std::string("attend_token/") +
                               (t == mk::KvElement::F16 ? "f16/" : "q8_0/") + "4096/" +
                               std::string(mk::isa_name(isa));
      benchmark::RegisterBenchmark(name.c_str(), bench_token, t, size_t{4096}, isa)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return 0;
}();

}  // namespace
