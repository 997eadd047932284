// A Session is one sequence being evaluated: it owns the KV cache and scratch buffers and turns
// token ids into logits. Sessions are cheap next to the Model they share; use one per sequence
// and one thread at a time per session. For many sequences in one forward pass, see
// batch_session.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "minillm/model.h"
#include "minillm/runtime.h"

namespace minillm {

// Element type of the KV cache. Q8_0 stores keys and values as blocks of 32 int8 values with an
// f16 scale (8.5 bits a value: about half the memory and decode-time reads of F16); it needs a
// head dim that is a multiple of 32 (sessions of other models throw Error, Unsupported).
enum class KvCacheType { F16, F32, Q8_0 };

struct SessionOptions {
  uint32_t n_ctx = 0;      // KV cache capacity in tokens; 0 = min(model context, 4096)
  uint32_t n_batch = 512;  // tokens evaluated together as one matrix-matrix pass
  KvCacheType kv_type = KvCacheType::F16;
  int n_threads = 0;  // 0 = the runtime's threads, or the number of physical cores
  // The threads to evaluate on (shared with whatever else uses it); none: the process-wide pool.
  std::shared_ptr<Runtime> runtime = {};
  // Asked between layers (and between batches) of an evaluation; returning true abandons it:
  // eval throws Error and the cache is as it was before the call.
  std::function<bool()> cancel = {};
};

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Evaluates `tokens` at positions n_past() .. n_past()+n-1 and appends them to the cache.
  // Returns the logits of the last token (n_vocab floats), or with all_logits of every token
  // (n × n_vocab, position-major). The span is valid until the next call. Throws Error when a
  // token id is out of range, the tokens do not fit in the cache or the evaluation is cancelled
  // (the cache is then unchanged).
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false);

  // Forgets every position >= n_keep (to reuse a shared prefix or regenerate).
  void truncate(uint32_t n_keep);
  void reset() { truncate(0); }

  uint32_t n_past() const;  // positions held in the cache
  uint32_t n_ctx() const;   // capacity
  int n_threads() const;
  // Tokens evaluated by this session since it was created (prompts and generated tokens).
  uint64_t tokens_evaluated() const;
  const Model& model() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Physical cores of this machine (the default thread count).
int default_thread_count();

}  // namespace minillm
