// A persistent pool for the matrix products: run chunks 0..n-1 of a job on up to n_threads
// threads, the calling thread included.
//
// Why not an OpenMP region per product: a token of a 22-layer model runs ~150 products, and a
// region ends with a barrier that waits for every thread. On a busy machine a descheduled worker
// holds that barrier for a whole scheduler quantum (milliseconds, against microseconds of work).
// Here workers claim chunks with one atomic operation and the caller waits only for chunks that
// were actually started: if no worker shows up, the caller simply runs every chunk itself.
// Workers spin for a short while after a job (the next product usually follows within
// microseconds), then sleep on a condition variable.
//
// A program may own several pools (minillm::Runtime wraps one): each serves one caller at a time,
// so sessions that should run side by side at full speed use pools of their own. A pool is made
// current for the calling thread with ScopedPool; run_chunks uses the current pool, else the
// process-wide default one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace minillm::kernels {

using ChunkFn = void (*)(void* ctx, size_t chunk);

class ThreadPool {
 public:
  // `cpus`: when not empty, worker i is pinned to cpus[i % cpus.size()] (the calling thread, which
  // runs chunks too, is left as it is).
  explicit ThreadPool(std::vector<int> cpus = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs fn(ctx, c) for every c < n_chunks, each exactly once, on up to n_threads threads (the
  // caller and n_threads - 1 workers, started on first use), and returns when all are done.
  // Which thread runs a chunk is unspecified, so chunks must not depend on it. If the pool is
  // busy with another caller's job, the chunks run on the calling thread. A chunk's exception
  // (the first, if several throw) is rethrown to the caller once no chunk of the job is running;
  // other chunks may or may not have run.
  void run(int n_threads, size_t n_chunks, ChunkFn fn, void* ctx);

  // Chunks run by this pool's worker threads (not by callers) since it was made.
  uint64_t chunks_run_by_workers() const;

  // The process-wide pool that run_chunks uses when no pool is current.
  static ThreadPool& process_default();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Makes `pool` the current pool of the calling thread for the object's life (scopes nest).
class ScopedPool {
 public:
  explicit ScopedPool(ThreadPool& pool);
  ~ScopedPool();
  ScopedPool(const ScopedPool&) = delete;
  ScopedPool& operator=(const ScopedPool&) = delete;

 private:
  ThreadPool* previous_;
};

// ThreadPool::run on the calling thread's current pool (see ScopedPool).
void run_chunks(int n_threads, size_t n_chunks, ChunkFn fn, void* ctx);

template <class F>
void run_chunks(int n_threads, size_t n_chunks, F& f) {
  run_chunks(
      n_threads, n_chunks, [](void* c, size_t i) { (*static_cast<F*>(c))(i); }, &f);
}

}  // namespace minillm::kernels
