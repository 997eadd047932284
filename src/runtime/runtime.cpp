#include "minillm/runtime.h"

#include <sched.h>

#include <string>

#include "kernels/thread_pool.h"
#include "minillm/error.h"
#include "minillm/session.h"

namespace minillm {

Runtime::Runtime(const RuntimeOptions& options)
    : n_threads_(options.n_threads > 0 ? options.n_threads : default_thread_count()),
      pool_(std::make_unique<kernels::ThreadPool>(options.cpus)) {
  if (options.n_threads < 0) throw Error("a runtime's thread count must not be negative");
  for (int cpu : options.cpus)
    if (cpu < 0 || cpu >= CPU_SETSIZE)
      throw Error("CPU " + std::to_string(cpu) + " does not exist");
}

Runtime::~Runtime() = default;

uint64_t Runtime::chunks_run_by_workers() const {
  return pool_->chunks_run_by_workers();
}

}  // namespace minillm
