// Continuous batching: requests arrive from any thread at any time and join a running batch at
// its next step; one thread steps a BatchSession, each forward pass carrying one token of every
// answer being generated plus a bounded chunk of prompt tokens, so a long prompt never stalls the
// others' streams. What a server (or any program serving many users) needs, without HTTP.
//
//   minillm::ContinuousBatcher batcher(model, tokenizer, {.n_parallel = 8});
//   minillm::BatcherRequest r;
//   r.prompt = tokenizer.encode("Once upon a time");
//   r.params.max_tokens = 64;
//   r.on_text = [](uint32_t choice, std::string_view text) { std::cout << text; };
//   r.on_end = [](const minillm::BatcherOutcome& o) { /* every choice has ended */ };
//   auto ticket = batcher.submit(std::move(r));   // nullptr: the queue is full
//   ...
//   ticket->cancel();                             // the client went away
//
// Prefix reuse: every sequence's evaluated tokens stay known, and finished ones are kept (up to
// n_cached, least recently used first out). A request whose prompt starts with tokens some
// sequence already holds forks that sequence's first positions instead of evaluating them again
// (the same conversation one turn later, a shared system prompt); n > 1 choices fork the
// prompt once it is evaluated. Each choice's text is exactly what generate() gives its prompt
// and parameters alone in a Session.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "minillm/batch_session.h"
#include "minillm/generate.h"
#include "minillm/tokenizer.h"

namespace minillm {

struct BatcherOptions {
  uint32_t n_parallel = 4;  // sequences generating at once (a request with n choices takes n)
  uint32_t n_seq_ctx =
      0;  // positions one sequence may hold, prompt and answer; 0 = min(model, 4096)
  uint32_t n_batch = 512;       // tokens one forward pass carries at most
  uint32_t prompt_chunk = 128;  // prompt tokens per pass while other sequences are decoding
  uint32_t max_queue = 64;      // choices waiting for a free slot; more are refused
  uint32_t n_cached = 0;        // finished sequences kept for prefix reuse; 0 = n_parallel
  KvCacheType kv_type = KvCacheType::F16;
  int n_threads = 0;                      // 0 = the runtime's, or the physical cores
  std::shared_ptr<Runtime> runtime = {};  // none: the process-wide pool
};

struct TokenLogprob {
  int32_t token;
  float logprob;  // log-softmax of the model's logits (before any sampling step)
};

// One generated token, for callers that asked for log-probabilities.
struct GeneratedToken {
  uint32_t choice;
  int32_t token;
  float logprob;
  std::vector<TokenLogprob> top;  // the top_logprobs most likely tokens, most likely first
};

// How a request ended, once every choice has.
struct BatcherOutcome {
  uint32_t prompt_tokens = 0;
  uint32_t cached_tokens = 0;  // prompt tokens reused from the cache instead of evaluated
  bool cancelled = false;      // ticket->cancel() or the batcher shutting down
  std::exception_ptr error;    // set when the request failed while it ran
};

// The callbacks run on the batcher's thread, between forward passes: keep them short (hand the
// data to the thread that serves the client). What they throw fails that request.
struct BatcherRequest {
  std::vector<int32_t> prompt;  // token ids, BOS included if wanted; not empty
  GenerateParams params;        // max_tokens, sampling, stop strings, ignore_eos, logits processor
  uint32_t n_choices = 1;       // answers to the prompt; choice i samples with seed + i
  bool logprobs = false;        // call on_token for every generated token
  uint32_t top_logprobs = 0;    // with logprobs: alternatives listed per token

  std::function<void(uint32_t choice, std::string_view text)> on_text;
  std::function<void(const GeneratedToken&)> on_token;
  std::function<void(uint32_t choice, const GenerateResult&)> on_choice_end;
  std::function<void(const BatcherOutcome&)> on_end;  // always called exactly once
};

// Handle of a submitted request.
class BatcherTicket {
 public:
  // Ends the request at the next step (queued: before it starts); on_end reports cancelled.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  std::atomic<bool> cancelled_{false};
};

struct BatcherStats {
  uint64_t requests = 0;          // requests ended, in any way
  uint64_t cancelled = 0;         // of which cancelled
  uint64_t prompt_tokens = 0;     // prompt tokens of ended and running requests
  uint64_t cached_tokens = 0;     // of which reused from the cache
  uint64_t generated_tokens = 0;  // tokens sampled
  uint32_t queued = 0;            // choices waiting for a slot
  uint32_t busy_slots = 0;        // sequences generating now
  double tokens_per_second = 0;   // tokens sampled over the last 10 seconds, per second
};

class ContinuousBatcher {
 public:
  // Starts the thread that steps the batch; it sleeps while there is nothing to do.
  ContinuousBatcher(std::shared_ptr<const Model> model, Tokenizer tokenizer,
                    const BatcherOptions& options = {});
  // Cancels what is queued or running (on_end is called for each) and stops the thread.
  ~ContinuousBatcher();
  ContinuousBatcher(const ContinuousBatcher&) = delete;
  ContinuousBatcher& operator=(const ContinuousBatcher&) = delete;

  // Queues a request. Throws Error (InvalidArgument; ContextFull for a prompt that does not fit,
  // naming both lengths) before queueing anything; returns nullptr when the queue is full.
  std::shared_ptr<BatcherTicket> submit(BatcherRequest request);

  BatcherStats stats() const;
  uint32_t n_seq_ctx() const;
  uint32_t n_parallel() const;
  const Tokenizer& tokenizer() const;
  const Model& model() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace minillm
