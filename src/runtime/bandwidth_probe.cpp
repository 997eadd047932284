#include "runtime/bandwidth_probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "kernels/stream.h"
#include "kernels/thread_pool.h"

namespace minillm {

double measure_read_bandwidth(size_t bytes, int n_threads, int reps) {
  const size_t threads = static_cast<size_t>(std::max(n_threads, 1));
  // One slice per thread, each a multiple of 256 bytes (what stream_read takes).
  const size_t slice = std::max<size_t>(bytes / threads / 256, 1) * 256, total = slice * threads;
  std::unique_ptr<uint8_t[], decltype(&std::free)> buf(
      static_cast<uint8_t*>(std::aligned_alloc(64, total)), &std::free);
  if (!buf) return 0;
  uint8_t* const base = buf.get();
  // The same threads (the matrix products' pool) touch the slices first and then read them.
  auto touch = [&](size_t t) { std::memset(base + t * slice, int(t + 1), slice); };
  kernels::run_chunks(n_threads, threads, touch);
  std::atomic<uint64_t> sink{0};  // the checksums' only use: the reads cannot be optimized away
  auto read = [&](size_t t) {
    sink.fetch_add(kernels::stream_read(base + t * slice, slice), std::memory_order_relaxed);
  };
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    kernels::run_chunks(n_threads, threads, read);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, double(total) / s / 1e9);
  }
  return best;
}

}  // namespace minillm
