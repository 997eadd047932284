#include "model/evaluator.h"

#include "kernels/thread_pool.h"
#include "minillm/error.h"

namespace minillm {

Evaluator::Evaluator(std::shared_ptr<const Model> m, std::shared_ptr<Runtime> rt, int threads,
                     uint32_t capacity, KvCacheType kv_type, std::function<bool()> cancel_fn)
    : model(std::move(m)),
      runtime(std::move(rt)),
      n_threads(threads > 0 ? threads
                : runtime   ? runtime->n_threads()
                            : default_thread_count()),
      cache(model->config().n_layer, capacity, model->config().n_head_kv * model->config().head_dim,
            model->config().head_dim, kv_type),
      cancel(std::move(cancel_fn)) {
  if (threads < 0) throw Error("thread count must not be negative");
  scratch.inv_freq =
      rope_inverse_frequencies(model->config(), model->impl().weights.rope_freq_factors);
}

void Evaluator::forward(std::span<const BatchToken> tokens, std::span<const uint32_t> out_tokens,
                        float* logits, std::span<KvSequence* const> sequences,
                        std::span<const uint32_t> advance_by) {
  std::vector<uint32_t> before(sequences.size());
  for (size_t i = 0; i < sequences.size(); ++i) before[i] = sequences[i]->n_past();
  try {
    if (runtime) {
      const kernels::ScopedPool use(runtime->pool());
      llama_forward(model->impl(), cache, scratch, tokens, out_tokens, n_threads, logits, cancel);
    } else {
      llama_forward(model->impl(), cache, scratch, tokens, out_tokens, n_threads, logits, cancel);
    }
  } catch (...) {
    for (size_t i = 0; i < sequences.size(); ++i) sequences[i]->truncate(cache, before[i]);
    throw;
  }
  for (size_t i = 0; i < sequences.size(); ++i) sequences[i]->advance(advance_by[i]);
}

}  // namespace minillm
