// Helpers shared by the kernel tests: run a body once per code path this machine supports, and
// random weights and activations.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/cpu.h"
#include "kernels/f16.h"
#include "kernels/quant/quant.h"

namespace minillm::kernels::testing {

// The quantized weight types with an integer kernel (and a packed layout).
inline constexpr TensorType kQuantizedTypes[] = {
    TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,   TensorType::Q5_1,
    TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K,   TensorType::Q4_K,
    TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};

// Every ISA up to best_isa(): on an AVX-512 machine, scalar, avx2 and avx512.
inline std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (static_cast<int>(isa) <= static_cast<int>(best_isa())) out.push_back(isa);
  return out;
}

// A code path of the integer kernels: an ISA and, for AVX2, whether AVX-VNNI is used.
struct IsaPath {
  Isa isa;
  bool vnni = false;
  operator Isa() const { return isa; }  // NOLINT(google-explicit-constructor): a path is an ISA
};

inline std::string isa_name(const IsaPath& p) {
  return std::string(kernels::isa_name(p.isa)) + (p.vnni ? "+vnni" : "");
}

// supported_isas(), with AVX2 twice on a CPU with AVX-VNNI: without and with it.
inline std::vector<IsaPath> supported_paths() {
  std::vector<IsaPath> out;
  for (Isa isa : supported_isas()) {
    out.push_back({isa, false});
    if (isa == Isa::Avx2 && cpu_features().avx_vnni) out.push_back({isa, true});
  }
  return out;
}

// Forces a path for the lifetime of the object.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa) { set_isa_for_testing(isa); }
  explicit ScopedIsa(IsaPath p) {
    set_isa_for_testing(p.isa);
    set_avx_vnni_for_testing(p.vnni);
  }
  ~ScopedIsa() {
    set_isa_for_testing(std::nullopt);
    set_avx_vnni_for_testing(std::nullopt);
  }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;
};

// N(0, sigma) floats.
inline std::vector<float> random_floats(size_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// IQ4_NL / IQ4_XS blocks of random bytes (every index and, for IQ4_XS, every 6-bit sub-block
// scale), with fp16 scales of either sign: what a quantizer may never produce.
inline std::vector<uint8_t> random_iq4_weights(TensorType t, size_t n_out, size_t n_in,
                                               std::mt19937& rng) {
  std::vector<uint8_t> w(row_bytes(t, n_in) * n_out);
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> u(0.001f, 0.03f);
  for (size_t off = 0; off < w.size(); off += traits(t).block_bytes) {
    const uint16_t h = fp32_to_fp16(rng() % 2 ? u(rng) : -u(rng));
    std::memcpy(w.data() + off, &h, 2);  // d leads both block types
  }
  return w;
}

// Quantized from N(0, 1) where a quantizer exists; else random bytes with small fp16 scales.
inline std::vector<uint8_t> make_weights(TensorType t, size_t n_out, size_t n_in,
                                         std::mt19937& rng) {
  const size_t rb = row_bytes(t, n_in);
  std::vector<uint8_t> w(rb * n_out);
  if (can_quantize(t)) {
    for (size_t o = 0; o < n_out; ++o) {
      const auto row = random_floats(n_in, rng);
      quantize_row(t, row.data(), w.data() + o * rb, n_in);
    }
    return w;
  }
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> u(0.002f, 0.05f);
  const size_t bb = traits(t).block_bytes;
  for (size_t off = 0; off < w.size(); off += bb) {
    auto set = [&](size_t at) {
      const uint16_t h = fp32_to_fp16(u(rng));
      std::memcpy(w.data() + off + at, &h, 2);
    };
    switch (t) {
      case TensorType::Q2_K:
        set(offsetof(BlockQ2_K, d)), set(offsetof(BlockQ2_K, dmin));
        break;
      case TensorType::Q3_K:
        set(offsetof(BlockQ3_K, d));
        break;
      case TensorType::Q4_K:
        set(offsetof(BlockQ4_K, d)), set(offsetof(BlockQ4_K, dmin));
        break;
      case TensorType::Q5_K:
        set(offsetof(BlockQ5_K, d)), set(offsetof(BlockQ5_K, dmin));
        break;
      case TensorType::Q6_K:
        set(offsetof(BlockQ6_K, d));
        break;
      default:
        ADD_FAILURE() << "no weight generator for " << type_name(t);
    }
  }
  return w;
}

}  // namespace minillm::kernels::testing
