// The matrix-product thread pool: every chunk runs exactly once for any thread count, jobs run
// back to back, and concurrent callers (one gets the pool, the other runs serially) both finish.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/thread_pool.h"

namespace minillm::kernels {
namespace {

TEST(ThreadPool, EveryChunkExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{1000}}) {
      std::vector<std::atomic<int>> hits(n);
      auto f = [&](size_t c) { hits[c].fetch_add(1); };
      run_chunks(threads, n, f);
      for (size_t c = 0; c < n; ++c)
        ASSERT_EQ(hits[c].load(), 1) << threads << " " << n << " " << c;
    }
  }
}

TEST(ThreadPool, ManyJobsInARow) {
  std::atomic<long> sum{0};
  for (int job = 0; job < 2000; ++job) {
    auto f = [&](size_t c) { sum.fetch_add(static_cast<long>(c) + 1); };
    run_chunks(2, 16, f);
  }
  EXPECT_EQ(sum.load(), 2000L * (16 * 17 / 2));
}

// Jobs alternate between few and many chunks, oversubscribing the cores so workers get preempted
// mid-claim: a worker still holding a claim attempt of a finished job must never run a chunk of
// the next one (that chunk would run twice, the second time after its caller returned). Counters
// for every (job, chunk) live outside the jobs so a late run is counted, not a use after scope.
TEST(ThreadPool, NoChunkOfAJobRunsTwiceAcrossJobBoundaries) {
  constexpr int kJobs = 20000;
  constexpr size_t kMaxChunks = 9;
  std::vector<std::atomic<int>> hits(kJobs * kMaxChunks);
  for (int job = 0; job < kJobs; ++job) {
    const size_t n = job % 2 ? kMaxChunks : 2;
    auto f = [&, job](size_t c) { hits[job * kMaxChunks + c].fetch_add(1); };
    run_chunks(3, n, f);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let any late run land
  for (int job = 0; job < kJobs; ++job) {
    const size_t n = job % 2 ? kMaxChunks : 2;
    for (size_t c = 0; c < kMaxChunks; ++c)
      ASSERT_EQ(hits[job * kMaxChunks + c].load(), c < n ? 1 : 0)
          << "job " << job << " chunk " << c;
  }
}

TEST(ThreadPool, ConcurrentCallers) {
  std::atomic<long> a{0}, b{0};
  auto caller = [](std::atomic<long>& s) {
    for (int job = 0; job < 300; ++job) {
      auto f = [&](size_t c) { s.fetch_add(static_cast<long>(c)); };
      run_chunks(2, 50, f);
    }
  };
  std::thread t1(caller, std::ref(a)), t2(caller, std::ref(b));
  t1.join();
  t2.join();
  EXPECT_EQ(a.load(), 300L * (49 * 50 / 2));
  EXPECT_EQ(b.load(), 300L * (49 * 50 / 2));
}

// An exception in a chunk (on whichever thread) reaches the caller instead of ending the
// program, and the pool keeps working afterwards.
TEST(ThreadPool, AChunksExceptionReachesTheCaller) {
  for (int rep = 0; rep < 50; ++rep) {
    auto throwing = [](size_t c) {
      if (c % 7 == 5) throw std::runtime_error("chunk " + std::to_string(c));
    };
    EXPECT_THROW(run_chunks(2, 64, throwing), std::runtime_error);
    std::vector<std::atomic<int>> runs(64);
    auto count = [&](size_t c) { runs[c].fetch_add(1); };
    run_chunks(2, 64, count);
    for (const auto& r : runs) ASSERT_EQ(r.load(), 1);
  }
}

}  // namespace
}  // namespace minillm::kernels
