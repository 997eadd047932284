// The threads that evaluate models. A Runtime owns a pool of worker threads; the sessions and
// batches given the same Runtime share it (one evaluation at a time), and sessions on different
// runtimes run side by side without waiting for each other.
//
//   auto fast = std::make_shared<minillm::Runtime>(minillm::RuntimeOptions{.n_threads = 4});
//   minillm::Session a(model, {.runtime = fast});
//   // Two conversations on two cores each, at full speed at the same time:
//   auto left = std::make_shared<minillm::Runtime>(minillm::RuntimeOptions{2, {0, 1}});
//   auto right = std::make_shared<minillm::Runtime>(minillm::RuntimeOptions{2, {2, 3}});
//
// Without a Runtime, sessions use the process-wide default pool with SessionOptions::n_threads;
// a second session evaluating at the same moment then runs on its calling thread alone.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace minillm {

namespace kernels {
class ThreadPool;
}

struct RuntimeOptions {
  int n_threads = 0;           // threads per evaluation, the caller's included; 0 = physical cores
  std::vector<int> cpus = {};  // pin the worker threads to these CPUs (empty: no pinning)
};

class Runtime {
 public:
  explicit Runtime(const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  int n_threads() const { return n_threads_; }
  // Pieces of work its worker threads (not the callers) have run: shows that they take part.
  uint64_t chunks_run_by_workers() const;
  kernels::ThreadPool& pool() const { return *pool_; }

 private:
  int n_threads_;
  std::unique_ptr<kernels::ThreadPool> pool_;
};

}  // namespace minillm
