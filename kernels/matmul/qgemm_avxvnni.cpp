// The AVX2 integer matrix product for CPUs that also have AVX-VNNI (Alder Lake and later, Zen 5):
// qgemm_avx2.cpp compiled again with -mavxvnni, its four-byte dot products one VPDPBUSD each
// instead of VPMADDUBSW + VPMADDWD + VPADDD. Entry point: isa::qmatmul_rows_avxvnni.
#define MINILLM_QGEMM_AVX_VNNI 1
#include "kernels/matmul/qgemm_avx2.cpp"  // NOLINT(bugprone-suspicious-include)
