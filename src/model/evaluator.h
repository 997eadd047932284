// What a Session and a BatchSession share: the model, the threads, the paged KV cache and the
// scratch buffers, and one forward pass that leaves the cache as it was if it fails.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "minillm/runtime.h"
#include "minillm/session.h"
#include "model/arch/llama_forward.h"
#include "model/kv_cache.h"

namespace minillm {

struct Evaluator {
  std::shared_ptr<const Model> model;
  std::shared_ptr<Runtime> runtime;  // or none: the process-wide pool
  int n_threads;
  KvCache cache;
  ForwardScratch scratch;
  std::function<bool()> cancel;

  Evaluator(std::shared_ptr<const Model> m, std::shared_ptr<Runtime> rt, int threads,
            uint32_t capacity, KvCacheType kv_type, std::function<bool()> cancel_fn);

  // Evaluates `tokens` (their sequences already reserved for their positions) and advances each
  // sequence in `sequences` by its count of tokens. On any exception (cancellation included)
  // every sequence is truncated back to where it was, giving back the blocks it took.
  void forward(std::span<const BatchToken> tokens, std::span<const uint32_t> out_tokens,
               float* logits, std::span<KvSequence* const> sequences,
               std::span<const uint32_t> advance_by);
};

}  // namespace minillm
