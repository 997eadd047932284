// Measures how fast this machine streams memory, so generation speed can be shown as a fraction
// of the bandwidth roofline measured in the same process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace minillm {

// A buffer of `bytes`, split into one slice per thread and touched once by the kernels' pool
// (so a measurement pays no page faults), read with the widest vector loads of the active ISA
// (kernels/ops/stream.h). Keep one to measure often, e.g. between windows of a benchmark.
class BandwidthProbe {
 public:
  BandwidthProbe(size_t bytes, int n_threads);  // throws minillm::Error if it cannot allocate
  // Reads the whole buffer `reps` times; the best rate in GB/s (10^9 bytes per second).
  double measure(int reps);

 private:
  int threads_;
  size_t slice_;  // bytes per thread, a multiple of 256 (what stream_read takes)
  std::shared_ptr<uint8_t> buf_;
};

}  // namespace minillm
