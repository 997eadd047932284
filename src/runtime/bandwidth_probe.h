// Measures how fast this machine streams memory, so generation speed can be shown as a fraction
// of the bandwidth roofline measured in the same process.
#pragma once

#include <cstddef>

namespace minillm {

// Reads a buffer of `bytes` (touched first) with `n_threads` threads of the kernels' pool, each
// its own slice, with the widest vector loads of the active ISA (kernels/stream.h), `reps`
// times; returns the best rate in GB/s (10^9 bytes per second).
double measure_read_bandwidth(size_t bytes, int n_threads, int reps);

}  // namespace minillm
