#include "runtime/bandwidth_probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "kernels/matmul/packed_rows.h"
#include "kernels/ops/stream.h"
#include "kernels/thread_pool.h"

namespace minillm {

BandwidthProbe::BandwidthProbe(size_t bytes, int n_threads)
    : threads_(std::max(n_threads, 1)),
      slice_(std::max<size_t>(bytes / size_t(threads_) / 256, 1) * 256),
      // Large pages where the kernel grants them, like the packed weights' region: streams then
      // cross no 4 KiB page boundaries (where hardware prefetchers stop), so the roofline is what
      // the weights' own pages allow. Throws minillm::Error (out of memory) if it cannot map.
      buf_(kernels::allocate_packed(slice_ * size_t(threads_))) {
  // The same threads (the matrix products' pool) touch the slices first and later read them.
  uint8_t* const base = buf_.get();
  const size_t slice = slice_;
  auto touch = [&](size_t t) { std::memset(base + t * slice, int(t + 1), slice); };
  kernels::run_chunks(threads_, size_t(threads_), touch);
}

double BandwidthProbe::measure(int reps) {
  const uint8_t* const base = buf_.get();
  const size_t slice = slice_;
  std::atomic<uint64_t> sink{0};  // the checksums' only use: the reads cannot be optimized away
  auto read = [&](size_t t) {
    sink.fetch_add(kernels::stream_read(base + t * slice, slice), std::memory_order_relaxed);
  };
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    kernels::run_chunks(threads_, size_t(threads_), read);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, double(slice * size_t(threads_)) / s / 1e9);
  }
  return best;
}

}  // namespace minillm
