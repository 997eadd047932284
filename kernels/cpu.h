// CPU feature detection and the choice of SIMD code path.
// The library is compiled for plain x86-64; wider code paths are selected at run time, only when
// both the CPU (CPUID) and the operating system (XGETBV: register state saved on context switch)
// support them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace minillm::kernels {

struct CpuFeatures {
  bool avx = false;         // AVX with OS-enabled YMM state
  bool avx2 = false;        // AVX2 (needs avx)
  bool fma = false;         // FMA3 (needs avx)
  bool f16c = false;        // half-float conversions (needs avx)
  bool avx512f = false;     // AVX-512 Foundation with OS-enabled ZMM/opmask state
  bool avx512bw = false;    // byte/word instructions
  bool avx512vl = false;    // 128/256-bit forms
  bool avx512dq = false;    // dword/qword instructions
  bool avx512vnni = false;  // VPDPBUSD and friends on ZMM
  bool avx512bf16 = false;  // VDPBF16PS, VCVTNEPS2BF16
  bool avx_vnni = false;    // VEX-encoded VNNI (Alder Lake and later)
};

// Which CPU this is, from CPUID: what a speed figure must name beside itself.
struct CpuIdentity {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ...; empty off x86
  std::string brand;   // the processor brand string, e.g. "AMD EPYC" under some hypervisors
  int family = 0;      // display family (base + extended), e.g. 25 = AMD Zen 3/Zen 4, 6 = Intel
  int model = 0;       // display model (base + extended << 4)
  int stepping = 0;
};
const CpuIdentity& cpu_identity();  // detected once
// One line for benchmark reports: brand, vendor, family, model and the SIMD features the kernels
// use, e.g. "AMD EPYC (AuthenticAMD family 25 model 17; avx2 avx512 avx512_vnni avx512_bf16)".
std::string cpu_summary();

// Code paths, ordered: each needs everything the previous one needs.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// What this CPU and OS support (detected once).
const CpuFeatures& cpu_features();
// The widest path the machine supports: Avx2 needs AVX2+FMA+F16C, Avx512 also needs F+BW+VL+DQ.
Isa best_isa();
// The path the kernels use now: the testing override if set, else MINILLM_ISA=scalar|avx2|avx512
// if set, else best_isa(). Throws minillm::Error if MINILLM_ISA is malformed or asks for more
// than the machine supports.
Isa active_isa();
// Forces a path (nullopt: back to the default). Throws minillm::Error if the machine lacks it.
void set_isa_for_testing(std::optional<Isa> isa);

std::string_view isa_name(Isa isa);  // "scalar", "avx2", "avx512"

// Whether the AVX2 integer kernels use VEX-encoded VNNI: when the CPU has it (cpu_features()),
// unless a test turned it off.
bool avx_vnni_active();
// Forces AVX-VNNI off (false) or on (true; throws minillm::Error if the CPU lacks it); nullopt:
// back to the default.
void set_avx_vnni_for_testing(std::optional<bool> on);
std::optional<Isa> parse_isa(std::string_view name);

}  // namespace minillm::kernels
