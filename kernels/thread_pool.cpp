// The matrix-product thread pool (see thread_pool.h).
//
// Protocol. `state_` packs (job generation << 32 | next unclaimed chunk). The caller writes the
// job, then publishes it by storing a new generation with chunk 0. Anyone (workers and caller)
// claims a chunk by a compare-exchange that advances the chunk index within the same generation,
// so a thread that read an older generation can never claim a chunk of a newer job; the job
// fields are only overwritten after every chunk of the previous job has finished (done_ count)
// and that job has been closed (a generation with no chunk left), and a chunk is only run after a
// successful claim, so they are stable while read.
#include "kernels/thread_pool.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace minillm::kernels {
namespace {

// Polling time before a worker sleeps: long enough to bridge the gaps between the products of a
// forward pass (norms, attention), short enough not to steal a busy machine's CPU for long.
constexpr auto kSpinTime = std::chrono::microseconds(100);

}  // namespace

class ThreadPool::Impl {
 public:
  explicit Impl(std::vector<int> cpus) : cpus_(std::move(cpus)) {}
  ~Impl() {
    stop_.store(true, std::memory_order_seq_cst);
    state_.fetch_add(uint64_t{1} << 32, std::memory_order_seq_cst);
    wake_all();
    for (auto& t : workers_) t.join();
  }

  void run(int n_threads, size_t n_chunks, ChunkFn fn, void* ctx) {
    std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
    if (!lock.owns_lock() || n_threads <= 1 || n_chunks <= 1) {
      for (size_t c = 0; c < n_chunks; ++c) fn(ctx, c);
      return;
    }
    grow(static_cast<size_t>(n_threads) - 1);
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    n_chunks_.store(n_chunks, std::memory_order_relaxed);
    helpers_.store(static_cast<size_t>(n_threads) - 1, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    // Generations live in the upper 32 bits and wrap around.
    const uint64_t gen = ((state_.load(std::memory_order_relaxed) >> 32) + 1) & 0xFFFFFFFFu;
    state_.store(gen << 32, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_all();
    work(gen, SIZE_MAX);
    while (done_.load(std::memory_order_acquire) < n_chunks) _mm_pause();
    // Close the job under a generation of its own with no chunk left to claim. Without this, a
    // worker that read this generation's last state before the job finished could still win its
    // compare-exchange after the next job's fields are written but before that job is published,
    // and run a chunk of the next job twice (once outside the generation its caller waits for).
    state_.store((((gen + 1) & 0xFFFFFFFFu) << 32) | 0xFFFFFFFFu, std::memory_order_seq_cst);
    // The first exception of any chunk reaches the caller once the job is over.
    std::exception_ptr error;
    {
      const std::lock_guard<std::mutex> error_lock(error_mu_);
      std::swap(error, error_);
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  // Claims and runs chunks of generation gen until none is left.
  void work(uint64_t gen, size_t worker) {
    uint64_t s = state_.load(std::memory_order_acquire);
    while ((s >> 32) == gen) {
      const size_t chunk = static_cast<size_t>(s & 0xFFFFFFFFu);
      if (chunk >= n_chunks_.load(std::memory_order_relaxed) ||
          (worker != SIZE_MAX && worker >= helpers_.load(std::memory_order_relaxed)))
        return;
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
        if (worker != SIZE_MAX) worker_chunks_.fetch_add(1, std::memory_order_relaxed);
        try {
          fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), chunk);
        } catch (...) {  // an exception must not end a worker thread (std::terminate)
          const std::lock_guard<std::mutex> lock(error_mu_);
          if (!error_) error_ = std::current_exception();
        }
        done_.fetch_add(1, std::memory_order_release);
        s = state_.load(std::memory_order_acquire);
      }
    }
  }

  // `seen`: the generation current when the worker was created (it may start running much later,
  // even after the pool began shutting down, so it must not read this itself).
  void worker_loop(size_t index, uint64_t seen) {
    if (!cpus_.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpus_[index % cpus_.size()], &set);
      pthread_setaffinity_np(pthread_self(), sizeof set, &set);  // best effort
    }
    for (;;) {
      if (stop_.load(std::memory_order_seq_cst)) return;
      uint64_t s = state_.load(std::memory_order_acquire);
      const auto until = std::chrono::steady_clock::now() + kSpinTime;
      for (int i = 1; (s >> 32) == seen; ++i) {
        _mm_pause();
        s = state_.load(std::memory_order_acquire);
        if (i % 64 == 0 && std::chrono::steady_clock::now() > until) break;
      }
      if ((s >> 32) == seen) {
        // Sleep until the generation changes (or the pool stops). Whoever changes it then takes
        // sleep_mu_ before notifying if it sees a sleeper: with the seq_cst counter below, either
        // it sees us or we see its new generation, so no wake-up is lost.
        std::unique_lock<std::mutex> lock(sleep_mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] {
          return (state_.load(std::memory_order_seq_cst) >> 32) != seen ||
                 stop_.load(std::memory_order_seq_cst);
        });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        continue;
      }
      if (stop_.load(std::memory_order_seq_cst)) return;
      seen = s >> 32;
      work(seen, index);
    }
  }

  void grow(size_t n) {
    const uint64_t gen = state_.load(std::memory_order_relaxed) >> 32;  // before the next job
    while (workers_.size() < n) {
      const size_t index = workers_.size();
      workers_.emplace_back([this, index, gen] { worker_loop(index, gen); });
    }
  }

  void wake_all() {
    { const std::lock_guard<std::mutex> lock(sleep_mu_); }  // a sleeper is now inside wait()
    wake_.notify_all();
  }

  std::vector<int> cpus_;  // to pin workers to, if any
  std::mutex busy_;        // one job at a time
  std::mutex error_mu_;
  std::exception_ptr error_;  // first exception thrown by a chunk of the current job
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> state_{0};
  std::atomic<size_t> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  // The job: written by the caller before it publishes a generation, read after a claim of that
  // generation (atomics only so that a late reader of an old generation is not a data race).
  std::atomic<ChunkFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<size_t> n_chunks_{0};
  std::atomic<size_t> helpers_{0};  // workers [0, helpers_) take part in the current job

 public:
  std::atomic<uint64_t> worker_chunks_{0};
};

namespace {
thread_local ThreadPool* current_pool = nullptr;
}  // namespace

ThreadPool::ThreadPool(std::vector<int> cpus) : impl_(std::make_unique<Impl>(std::move(cpus))) {}
ThreadPool::~ThreadPool() = default;

void ThreadPool::run(int n_threads, size_t n_chunks, ChunkFn fn, void* ctx) {
  impl_->run(n_threads, n_chunks, fn, ctx);
}

uint64_t ThreadPool::chunks_run_by_workers() const {
  return impl_->worker_chunks_.load(std::memory_order_relaxed);
}

ThreadPool& ThreadPool::process_default() {
  static ThreadPool pool;
  return pool;
}

ScopedPool::ScopedPool(ThreadPool& pool) : previous_(current_pool) {
  current_pool = &pool;
}
ScopedPool::~ScopedPool() {
  current_pool = previous_;
}

void run_chunks(int n_threads, size_t n_chunks, ChunkFn fn, void* ctx) {
  (current_pool ? *current_pool : ThreadPool::process_default()).run(n_threads, n_chunks, fn, ctx);
}

}  // namespace minillm::kernels
