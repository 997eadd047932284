// CPUID/XGETBV feature detection and the run-time ISA choice.
#include "kernels/cpu.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

#include "minillm/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define MINILLM_X86 1
#endif

namespace minillm::kernels {
namespace {

#ifdef MINILLM_X86
struct Regs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(uint32_t leaf, uint32_t subleaf) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) r = Regs{};
  return r;
}

// XCR0: which register states the OS saves. Written as asm so this file needs no -mxsave.
uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(uint32_t reg, int n) {
  return (reg >> n) & 1u;
}

CpuFeatures detect() {
  CpuFeatures f;
  const uint32_t max_leaf = cpuid(0, 0).eax;
  if (max_leaf < 1) return f;
  const Regs l1 = cpuid(1, 0);
  const bool osxsave = bit(l1.ecx, 27);
  if (!osxsave || !bit(l1.ecx, 28)) return f;  // no AVX, or the OS cannot tell us about it
  const uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;  // + opmask, ZMM0-15 upper halves, ZMM16-31
  if (!os_ymm) return f;
  f.avx = true;
  f.fma = bit(l1.ecx, 12);
  f.f16c = bit(l1.ecx, 29);
  if (max_leaf < 7) return f;
  const Regs l7 = cpuid(7, 0);
  f.avx2 = bit(l7.ebx, 5);
  const Regs l7s1 = l7.eax >= 1 ? cpuid(7, 1) : Regs{};
  f.avx_vnni = bit(l7s1.eax, 4);
  if (os_zmm) {
    f.avx512f = bit(l7.ebx, 16);
    f.avx512dq = f.avx512f && bit(l7.ebx, 17);
    f.avx512bw = f.avx512f && bit(l7.ebx, 30);
    f.avx512vl = f.avx512f && bit(l7.ebx, 31);
    f.avx512vnni = f.avx512f && bit(l7.ecx, 11);
    f.avx512bf16 = f.avx512f && bit(l7s1.eax, 5);
  }
  return f;
}

CpuIdentity identify() {
  CpuIdentity id;
  const Regs l0 = cpuid(0, 0);
  for (uint32_t reg : {l0.ebx, l0.edx, l0.ecx})
    for (int i = 0; i < 4; ++i) id.vendor.push_back(static_cast<char>((reg >> (8 * i)) & 0xFF));
  if (l0.eax >= 1) {
    const uint32_t a = cpuid(1, 0).eax;
    const int base_family = (a >> 8) & 0xF, base_model = (a >> 4) & 0xF;
    id.family = base_family == 0xF ? base_family + int((a >> 20) & 0xFF) : base_family;
    id.model = base_family == 0x6 || base_family == 0xF ? base_model + int(((a >> 16) & 0xF) << 4)
                                                        : base_model;
    id.stepping = int(a & 0xF);
  }
  if (cpuid(0x80000000u, 0).eax >= 0x80000004u) {
    for (uint32_t leaf = 0x80000002u; leaf <= 0x80000004u; ++leaf) {
      const Regs r = cpuid(leaf, 0);
      for (uint32_t reg : {r.eax, r.ebx, r.ecx, r.edx})
        for (int i = 0; i < 4; ++i) id.brand.push_back(static_cast<char>((reg >> (8 * i)) & 0xFF));
    }
    id.brand.erase(id.brand.find_last_not_of(std::string(" \0", 2)) + 1);
    id.brand.erase(0, id.brand.find_first_not_of(' '));
  }
  return id;
}
#else
CpuFeatures detect() {
  return {};
}
CpuIdentity identify() {
  return {};
}
#endif

Isa detect_best() {
  const CpuFeatures& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c)) return Isa::Scalar;
  // The AVX-512 path's integer products (matrix products, Q8_0 attention) use VNNI.
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni) return Isa::Avx512;
  return Isa::Avx2;
}

void check_supported(Isa want, const char* where) {
  const Isa best = best_isa();
  if (static_cast<int>(want) > static_cast<int>(best))
    throw Error(ErrorKind::Unsupported,
                std::string(where) + " asks for the " + std::string(isa_name(want)) +
                    " code path, but this CPU supports at most " + std::string(isa_name(best)));
}

Isa from_environment() {
  const char* env = std::getenv("MINILLM_ISA");
  if (env == nullptr || *env == '\0') return best_isa();
  const std::optional<Isa> isa = parse_isa(env);
  if (!isa)
    throw Error(ErrorKind::InvalidArgument,
                std::string("MINILLM_ISA=") + env + " is not one of scalar, avx2, avx512");
  check_supported(*isa, "MINILLM_ISA");
  return *isa;
}

constexpr int kNoOverride = -1;
std::atomic<int> g_override{kNoOverride};

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

const CpuIdentity& cpu_identity() {
  static const CpuIdentity identity = identify();
  return identity;
}

std::string cpu_summary() {
  const CpuIdentity& id = cpu_identity();
  const CpuFeatures& f = cpu_features();
  std::string s = id.brand.empty() ? "unknown CPU" : id.brand;
  s += " (" + (id.vendor.empty() ? std::string("unknown vendor") : id.vendor) + " family " +
       std::to_string(id.family) + " model " + std::to_string(id.model) + ";";
  const std::pair<bool, const char*> named[] = {{f.avx2, "avx2"},
                                                {f.avx512f, "avx512"},
                                                {f.avx512vnni, "avx512_vnni"},
                                                {f.avx512bf16, "avx512_bf16"},
                                                {f.avx_vnni, "avx_vnni"}};
  for (const auto& [has, name] : named)
    if (has) s += std::string(" ") + name;
  return s + ")";
}

Isa best_isa() {
  static const Isa best = detect_best();
  return best;
}

Isa active_isa() {
  const int forced = g_override.load(std::memory_order_relaxed);
  if (forced != kNoOverride) return static_cast<Isa>(forced);
  // If the environment is malformed this throws, and the next call tries (and throws) again.
  static const Isa from_env = from_environment();
  return from_env;
}

void set_isa_for_testing(std::optional<Isa> isa) {
  if (isa) check_supported(*isa, "set_isa_for_testing");
  g_override.store(isa ? static_cast<int>(*isa) : kNoOverride, std::memory_order_relaxed);
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "unknown";
}

namespace {
std::atomic<int> g_vnni_override{kNoOverride};
}  // namespace

bool avx_vnni_active() {
  const int forced = g_vnni_override.load(std::memory_order_relaxed);
  return forced != kNoOverride ? forced != 0 : cpu_features().avx_vnni;
}

void set_avx_vnni_for_testing(std::optional<bool> on) {
  if (on && *on && !cpu_features().avx_vnni)
    throw Error(ErrorKind::Unsupported, "set_avx_vnni_for_testing: this CPU has no AVX-VNNI");
  g_vnni_override.store(on ? static_cast<int>(*on) : kNoOverride, std::memory_order_relaxed);
}

std::optional<Isa> parse_isa(std::string_view name) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (name == isa_name(isa)) return isa;
  return std::nullopt;
}

}  // namespace minillm::kernels
