// Reading memory as fast as the machine allows, for the memory-bandwidth probe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minillm::kernels {

// Reads n bytes at p (64-byte aligned, n a multiple of 256) once, with the widest vector loads
// of the active ISA, and returns the sum of its 64-bit little-endian words modulo 2^64 (the same
// on every path; it keeps the reads from being optimized away).
uint64_t stream_read(const void* p, size_t n);

}  // namespace minillm::kernels
