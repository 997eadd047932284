// Many sequences over one model, evaluated together: each forward pass runs every projection once
// over the new tokens of all the sequences in it (prompts and single decode tokens mixed), so
// decoding N sequences streams the weights once per step instead of N times. The KV cache is
// shared and paged: a sequence takes blocks of positions as it grows and gives them back when it
// ends, and a sequence forked from another shares that one's positions instead of copying them.
// Results are bit for bit those of evaluating each sequence alone in a Session.
//
//   minillm::BatchSession batch(model, {.n_ctx = 8192, .n_seq_ctx = 2048});
//   auto a = batch.add(), b = batch.add();
//   std::vector<int32_t> pa = {1, 415, 2936}, pb = {1, 1724};
//   batch.eval({{a, pa}, {b, pb}});                  // two prompts in one pass
//   auto c = batch.fork(a, batch.n_past(a));          // shares a's prompt
//   int32_t ta = 9, tc = 11;
//   batch.eval({{a, {&ta, 1}}, {c, {&tc, 1}}});      // one decode step for two sequences
//   std::span<const float> logits_c = batch.logits(1);
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "minillm/model.h"
#include "minillm/runtime.h"
#include "minillm/session.h"

namespace minillm {

using SeqId = uint32_t;

struct BatchSessionOptions {
  uint32_t n_ctx = 0;      // positions the cache holds over all sequences; 0 = 4 × n_seq_ctx
  uint32_t n_seq_ctx = 0;  // positions one sequence may hold; 0 = min(model context, 4096)
  uint32_t n_batch = 512;  // tokens one eval() may carry in all
  KvCacheType kv_type = KvCacheType::F16;
  int n_threads = 0;                      // 0 = the runtime's, or the physical cores
  std::shared_ptr<Runtime> runtime = {};  // none: the process-wide pool
  std::function<bool()> cancel = {};      // as in SessionOptions
};

// New tokens for one sequence in a pass: appended at its positions n_past .. n_past + n - 1.
struct SequenceInput {
  SeqId seq;
  std::span<const int32_t> tokens;
  bool all_logits = false;  // logits of every token, not only the last
};

class BatchSession {
 public:
  explicit BatchSession(std::shared_ptr<const Model> model,
                        const BatchSessionOptions& options = {});
  ~BatchSession();
  BatchSession(BatchSession&&) noexcept;
  BatchSession& operator=(BatchSession&&) noexcept;

  // A new, empty sequence.
  SeqId add();
  // A new sequence holding the first n_keep positions of `from`, shared with it (a block both
  // hold is copied only when one of them writes into it).
  SeqId fork(SeqId from, uint32_t n_keep);
  // Ends a sequence, giving back the blocks no other sequence holds. Its id is not reused.
  void remove(SeqId seq);
  // Forgets the positions >= n_keep of a sequence.
  void truncate(SeqId seq, uint32_t n_keep);

  bool contains(SeqId seq) const;
  uint32_t n_past(SeqId seq) const;
  size_t n_sequences() const;
  // Positions the cache can still give out (in whole free blocks).
  uint32_t free_positions() const;
  uint32_t n_seq_ctx() const;
  uint32_t n_batch() const;
  int n_threads() const;
  const Model& model() const;

  // Evaluates the inputs in one forward pass. Throws Error, changing nothing, for an unknown or
  // repeated sequence, an empty input, a token outside the vocabulary, more than n_batch tokens
  // in all, a sequence that would pass n_seq_ctx ("context full", naming it) or a cache without
  // room; and, leaving the cache as it was, when the pass is cancelled.
  void eval(std::span<const SequenceInput> inputs);
  void eval(std::initializer_list<SequenceInput> inputs) {
    eval(std::span<const SequenceInput>(inputs.begin(), inputs.size()));
  }
  // The logits of input i of the last eval: n_vocab floats, or n × n_vocab with all_logits. Valid
  // until the next eval.
  std::span<const float> logits(size_t input) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace minillm
