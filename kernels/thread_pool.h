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
#pragma once

#include <cstddef>

namespace minillm::kernels {

using ChunkFn = void (*)(void* ctx, size_t chunk);

// Runs fn(ctx, c) for every c < n_chunks, each exactly once, and returns when all are done.
// Which thread runs a chunk is unspecified, so chunks must not depend on it. If the pool is busy
// with another caller's job, the chunks run on the calling thread. A chunk's exception (the first,
// if several throw) is rethrown to the caller once no chunk of the job is running; other chunks
// may or may not have run.
void run_chunks(int n_threads, size_t n_chunks, ChunkFn fn, void* ctx);

template <class F>
void run_chunks(int n_threads, size_t n_chunks, F& f) {
  run_chunks(
      n_threads, n_chunks, [](void* c, size_t i) { (*static_cast<F*>(c))(i); }, &f);
}

}  // namespace minillm::kernels
