// One thread owns the BatchSession and runs the loop: admit queued requests into free slots
// (forking the longest cached prefix), build one pass out of every decoding sequence's next token
// and a chunk of prompt tokens, evaluate, sample, stream, retire finished sequences into the
// prefix cache. Other threads only touch the queue and the statistics, under the mutex.
#include "minillm/continuous_batcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "generation/sequence_generator.h"
#include "minillm/error.h"

namespace minillm {
namespace {

using Clock = std::chrono::steady_clock;

struct Job {
  BatcherRequest request;
  std::shared_ptr<BatcherTicket> ticket;
  std::vector<GenerateParams> params;  // per choice (seed + i); SequenceGenerator keeps a reference
  BatcherOutcome outcome;
  uint32_t choices_running = 0;
};

// One sequence of the batch: a choice of a request.
struct Choice {
  std::shared_ptr<Job> job;
  uint32_t index = 0;
  SeqId seq = 0;
  std::vector<int32_t> tokens;  // the tokens evaluated into seq, in order
  size_t prompt_done = 0;       // prompt tokens in `tokens` (choice 0 while its prompt runs)
  std::unique_ptr<SequenceGenerator> gen;
  std::optional<int32_t> next;  // sampled, to be evaluated in the next pass
  std::string pending_text;     // streamed by the generator during this step
  bool in_prompt() const { return prompt_done < job->request.prompt.size(); }
};

// A finished sequence kept for prefix reuse.
struct Cached {
  SeqId seq;
  std::vector<int32_t> tokens;
};

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

GeneratedToken token_logprobs(std::span<const float> logits, uint32_t choice, int32_t token,
                              uint32_t top) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l) - max);
  const float lse = max + float(std::log(sum));
  GeneratedToken g{choice, token, logits[size_t(token)] - lse, {}};
  top = std::min<uint32_t>(top, uint32_t(logits.size()));
  if (top > 0) {
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
    std::partial_sort(ids.begin(), ids.begin() + top, ids.end(), [&](int32_t a, int32_t b) {
      return logits[size_t(a)] > logits[size_t(b)] ||
             (logits[size_t(a)] == logits[size_t(b)] && a < b);
    });
    for (uint32_t i = 0; i < top; ++i) g.top.push_back({ids[i], logits[size_t(ids[i])] - lse});
  }
  return g;
}

}  // namespace

struct ContinuousBatcher::State {
  Tokenizer tokenizer;
  BatcherOptions options;
  std::atomic<bool> stopping{false};  // set once, by the destructor
  BatchSession batch;
  uint32_t n_cached;

  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::shared_ptr<Job>> queue;                     // guarded by mutex
  uint32_t queued_choices = 0;                                // guarded by mutex
  BatcherStats stats;                                         // guarded by mutex
  std::deque<std::pair<Clock::time_point, uint32_t>> recent;  // sampled per pass; guarded

  // Loop thread only.
  std::list<Choice> running;
  std::list<Cached> cached;  // most recently used first
  uint32_t busy = 0;         // slots taken by running choices (and their unforked siblings)

  std::thread thread;

  State(std::shared_ptr<const Model> model, Tokenizer tok, const BatcherOptions& o)
      : tokenizer(std::move(tok)),
        options(o),
        batch(model, session_options(*model, o, stopping)),
        n_cached(o.n_cached ? o.n_cached : o.n_parallel) {}

  // Room for every slot's full context, plus one more for cached prefixes; the cache is paged
  // and committed as it fills, so unused room costs address space only.
  static BatchSessionOptions session_options(const Model& model, const BatcherOptions& o,
                                             const std::atomic<bool>& stopping) {
    if (o.n_parallel == 0) throw Error("n_parallel must be at least 1");
    if (o.n_batch == 0 || o.prompt_chunk == 0)
      throw Error("n_batch and prompt_chunk must be at least 1");
    const uint32_t trained = model.config().n_ctx_train;
    BatchSessionOptions b;
    b.n_seq_ctx = o.n_seq_ctx ? o.n_seq_ctx : std::min<uint32_t>(trained ? trained : 4096, 4096);
    b.n_ctx = b.n_seq_ctx * (o.n_parallel + 1) + 32 * o.n_parallel;
    b.n_batch = std::max(o.n_batch, o.n_parallel);
    b.kv_type = o.kv_type;
    b.n_threads = o.n_threads;
    b.runtime = o.runtime;
    b.cancel = [&stopping] { return stopping.load(); };
    return b;
  }

  void loop();
  void admit();
  bool step();
  void make_room(size_t tokens, size_t sequences);
  void end_choice(std::list<Choice>::iterator it, bool keep);
  void end_job(const std::shared_ptr<Job>& job);
  void fail_job(const std::shared_ptr<Job>& job, std::exception_ptr error);
  void sample(Choice& c, std::span<const float> logits);
  void fork_siblings(Choice& first, std::span<const float> logits);
};

namespace {

// The generator streams into pending_text; the batcher hands it on after the token's logprobs.
std::unique_ptr<SequenceGenerator> make_generator(const Tokenizer& tok, Choice& c) {
  return std::make_unique<SequenceGenerator>(tok, c.job->params[c.index], c.job->request.prompt,
                                             [&c](std::string_view text, int32_t) {
                                               c.pending_text += text;
                                               return true;
                                             });
}

}  // namespace

ContinuousBatcher::ContinuousBatcher(std::shared_ptr<const Model> model, Tokenizer tokenizer,
                                     const BatcherOptions& options)
    : state_(std::make_unique<State>(std::move(model), std::move(tokenizer), options)) {
  if (state_->tokenizer.n_vocab() != int32_t(state_->batch.model().config().n_vocab))
    throw Error("the tokenizer's vocabulary (" + std::to_string(state_->tokenizer.n_vocab()) +
                " tokens) does not match the model's (" +
                std::to_string(state_->batch.model().config().n_vocab) + ")");
  state_->thread = std::thread([s = state_.get()] { s->loop(); });
}

ContinuousBatcher::~ContinuousBatcher() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  state_->thread.join();
}

std::shared_ptr<BatcherTicket> ContinuousBatcher::submit(BatcherRequest r) {
  State& s = *state_;
  const uint32_t n_ctx = s.batch.n_seq_ctx();
  if (r.prompt.empty()) throw Error("the prompt is empty");
  if (r.prompt.size() >= n_ctx)
    throw Error(ErrorKind::ContextFull, "the prompt has " + std::to_string(r.prompt.size()) +
                                            " tokens, but the context holds " +
                                            std::to_string(n_ctx) +
                                            " (prompt and answer together)");
  for (int32_t id : r.prompt)
    if (id < 0 || id >= s.tokenizer.n_vocab())
      throw Error("prompt token " + std::to_string(id) + " is outside the vocabulary");
  if (r.n_choices == 0 || r.n_choices > s.options.n_parallel)
    throw Error("n must be between 1 and " + std::to_string(s.options.n_parallel) +
                " (the sequences generated at once)");
  if (r.params.max_tokens < -1) throw Error("max_tokens must be -1 or more");
  r.params.sampling.validate();

  auto job = std::make_shared<Job>();
  job->ticket = std::make_shared<BatcherTicket>();
  job->outcome.prompt_tokens = uint32_t(r.prompt.size());
  for (uint32_t i = 0; i < r.n_choices; ++i) {
    job->params.push_back(r.params);
    job->params.back().sampling.seed += i;
  }
  job->request = std::move(r);
  {
    std::lock_guard lock(s.mutex);
    if (s.stopping) throw Error(ErrorKind::Cancelled, "the batcher is shutting down");
    const uint32_t free = s.options.n_parallel - std::min(s.options.n_parallel, s.stats.busy_slots);
    if (s.queued_choices + job->request.n_choices > s.options.max_queue + free) return nullptr;
    s.queued_choices += job->request.n_choices;
    s.stats.queued = s.queued_choices;
    s.queue.push_back(job);
  }
  s.wake.notify_one();
  return job->ticket;
}

BatcherStats ContinuousBatcher::stats() const {
  std::lock_guard lock(state_->mutex);
  BatcherStats st = state_->stats;
  const auto now = Clock::now();
  uint64_t n = 0;
  for (const auto& [t, k] : state_->recent)
    if (now - t <= std::chrono::seconds(10)) n += k;
  st.tokens_per_second = double(n) / 10.0;
  return st;
}

uint32_t ContinuousBatcher::n_seq_ctx() const {
  return state_->batch.n_seq_ctx();
}
uint32_t ContinuousBatcher::n_parallel() const {
  return state_->options.n_parallel;
}
const Tokenizer& ContinuousBatcher::tokenizer() const {
  return state_->tokenizer;
}
const Model& ContinuousBatcher::model() const {
  return state_->batch.model();
}

void ContinuousBatcher::State::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || !queue.empty() || !running.empty(); });
      if (stopping) break;
    }
    admit();
    step();
  }
  // Shutting down: everything queued or running ends as cancelled.
  std::deque<std::shared_ptr<Job>> left;
  {
    std::lock_guard lock(mutex);
    left.swap(queue);
    queued_choices = 0;
  }
  for (auto& job : left) {
    job->outcome.cancelled = true;
    job->choices_running = 0;
    end_job(job);
  }
  while (!running.empty()) {
    auto job = running.front().job;
    job->outcome.cancelled = true;
    for (auto it = running.begin(); it != running.end();)
      if (it->job == job) {
        auto next = std::next(it);
        end_choice(it, false);
        it = next;
      } else {
        ++it;
      }
  }
}

// Moves queued requests into free slots: the first choice of each starts its prompt, forking
// the longest prefix any sequence holds; the other choices are forked when the prompt is done.
void ContinuousBatcher::State::admit() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::lock_guard lock(mutex);
      if (queue.empty()) return;
      if (!queue.front()->ticket->cancelled() &&
          busy + queue.front()->request.n_choices > options.n_parallel)
        return;
      job = queue.front();
      queue.pop_front();
      queued_choices -= job->request.n_choices;
      stats.queued = queued_choices;
      // Its slots count as busy from the moment it leaves the queue: submit() must never see a
      // request in neither count.
      if (!job->ticket->cancelled()) {
        busy += job->request.n_choices;
        stats.busy_slots = busy;
      }
    }
    if (job->ticket->cancelled()) {
      job->outcome.cancelled = true;
      end_job(job);
      continue;
    }
    const std::vector<int32_t>& prompt = job->request.prompt;
    // The longest shared prefix, leaving at least the last prompt token to evaluate (its logits
    // start the answer).
    std::optional<SeqId> from;
    size_t best = 0;
    auto consider = [&](SeqId seq, std::span<const int32_t> tokens) {
      const size_t k = std::min(common_prefix(tokens, prompt), prompt.size() - 1);
      if (k > best) best = k, from = seq;
    };
    for (const Cached& c : cached) consider(c.seq, c.tokens);
    for (const Choice& c : running) consider(c.seq, c.tokens);
    for (auto it = cached.begin(); it != cached.end(); ++it)  // used: most recent again
      if (from && it->seq == *from) {
        cached.splice(cached.begin(), cached, it);
        break;
      }

    Choice c;
    c.job = job;
    c.seq = from ? batch.fork(*from, uint32_t(best)) : batch.add();
    c.tokens.assign(prompt.begin(), prompt.begin() + long(best));
    c.prompt_done = best;
    job->outcome.cached_tokens = uint32_t(best);
    job->choices_running = job->request.n_choices;
    running.push_back(std::move(c));
    Choice& placed = running.back();
    placed.gen = make_generator(tokenizer, placed);
    std::lock_guard lock(mutex);
    stats.prompt_tokens += prompt.size();
    stats.cached_tokens += best;
  }
}

// Gives back cached sequences (least recently used first) until the cache has room for a pass of
// `tokens` new positions over `sequences` sequences (each may also copy one shared block).
void ContinuousBatcher::State::make_room(size_t tokens, size_t sequences) {
  const size_t need = tokens + 16 * sequences;
  while (cached.size() > n_cached || (!cached.empty() && batch.free_positions() < need)) {
    batch.remove(cached.back().seq);
    cached.pop_back();
  }
}

void ContinuousBatcher::State::sample(Choice& c, std::span<const float> logits) {
  const size_t before = c.gen->tokens().size();
  c.next = c.gen->step(logits, batch.n_past(c.seq) < batch.n_seq_ctx());
  const BatcherRequest& r = c.job->request;
  if (c.gen->tokens().size() > before) {
    {
      std::lock_guard lock(mutex);
      ++stats.generated_tokens;
    }
    if (r.logprobs && r.on_token)
      r.on_token(token_logprobs(logits, c.index, c.gen->tokens().back(), r.top_logprobs));
  }
  if (!c.pending_text.empty()) {
    if (r.on_text) r.on_text(c.index, c.pending_text);
    c.pending_text.clear();
  }
}

// The prompt of choice 0 is in the cache: the other choices share it and sample from the same
// logits.
void ContinuousBatcher::State::fork_siblings(Choice& first, std::span<const float> logits) {
  for (uint32_t i = 1; i < first.job->request.n_choices; ++i) {
    Choice c;
    c.job = first.job;
    c.index = i;
    c.seq = batch.fork(first.seq, uint32_t(first.tokens.size()));
    c.tokens = first.tokens;
    c.prompt_done = c.tokens.size();
    running.push_back(std::move(c));
    Choice& placed = running.back();
    placed.gen = make_generator(tokenizer, placed);
    sample(placed, logits);
  }
}

// One forward pass. Returns false when there was nothing to evaluate.
bool ContinuousBatcher::State::step() {
  // Cancelled requests leave first.
  for (auto it = running.begin(); it != running.end();) {
    if (it->job->ticket->cancelled()) {
      it->job->outcome.cancelled = true;
      auto next = std::next(it);
      end_choice(it, false);
      it = next;
    } else {
      ++it;
    }
  }
  // Choices whose generation ended leave too (their last token needs no evaluation).
  for (auto it = running.begin(); it != running.end();) {
    auto next = std::next(it);
    if (!it->in_prompt() && !it->next) end_choice(it, true);
    it = next;
  }

  std::vector<SequenceInput> inputs;
  std::vector<Choice*> owners;
  size_t n_tokens = 0;
  for (Choice& c : running)
    if (c.next) {
      inputs.push_back({c.seq, std::span<const int32_t>(&*c.next, 1)});
      owners.push_back(&c);
      ++n_tokens;
    }
  size_t budget = (n_tokens > 0 ? options.prompt_chunk : batch.n_batch());
  budget = std::min(budget, batch.n_batch() - std::min<size_t>(batch.n_batch(), n_tokens));
  for (Choice& c : running) {
    if (!c.in_prompt() || budget == 0) continue;
    const auto& prompt = c.job->request.prompt;
    const size_t n = std::min(prompt.size() - c.prompt_done, budget);
    inputs.push_back({c.seq, std::span(prompt).subspan(c.prompt_done, n)});
    owners.push_back(&c);
    budget -= n;
    n_tokens += n;
  }
  if (inputs.empty()) return false;

  make_room(n_tokens, inputs.size());
  try {
    batch.eval(inputs);
  } catch (const Error& e) {
    if (stopping) return true;  // the loop ends everything as cancelled
    // A pass that cannot run fails the requests in it; the cache is as it was.
    std::vector<std::shared_ptr<Job>> jobs;
    for (Choice* c : owners)
      if (std::find(jobs.begin(), jobs.end(), c->job) == jobs.end()) jobs.push_back(c->job);
    for (auto& job : jobs) fail_job(job, std::current_exception());
    return true;
  }

  uint32_t sampled = 0;
  std::vector<std::shared_ptr<Job>> failed;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Choice& c = *owners[k];
    const auto& prompt = c.job->request.prompt;
    c.tokens.insert(c.tokens.end(), inputs[k].tokens.begin(), inputs[k].tokens.end());
    const bool was_prompt = c.in_prompt();
    if (was_prompt) c.prompt_done += inputs[k].tokens.size();
    if (was_prompt && c.in_prompt()) continue;
    try {
      sample(c, batch.logits(k));
      ++sampled;
      if (was_prompt && c.prompt_done == prompt.size()) fork_siblings(c, batch.logits(k));
    } catch (...) {
      failed.push_back(c.job);
      c.job->outcome.error = std::current_exception();
    }
  }
  for (auto& job : failed) fail_job(job, job->outcome.error);
  std::lock_guard lock(mutex);
  recent.emplace_back(Clock::now(), sampled);
  while (!recent.empty() && Clock::now() - recent.front().first > std::chrono::seconds(10))
    recent.pop_front();
  return true;
}

// Retires a choice: its final text goes out, its sequence becomes a cache entry (or is removed).
void ContinuousBatcher::State::end_choice(std::list<Choice>::iterator it, bool keep) {
  Choice& c = *it;
  auto job = c.job;
  const BatcherRequest& r = job->request;
  // A choice 0 still in its prompt also holds the slots of its unforked siblings.
  const uint32_t slots = c.in_prompt() ? r.n_choices : 1;
  if (!job->outcome.cancelled && !job->outcome.error) {
    try {
      GenerateResult result = c.gen->finish();
      if (!c.pending_text.empty() && r.on_text) r.on_text(c.index, c.pending_text);
      result.stats.prompt_tokens = uint32_t(r.prompt.size());
      if (r.on_choice_end) r.on_choice_end(c.index, result);
    } catch (...) {
      job->outcome.error = std::current_exception();
    }
  }
  if (keep && !job->outcome.cancelled) {
    cached.push_front({c.seq, std::move(c.tokens)});
  } else {
    batch.remove(c.seq);
  }
  running.erase(it);
  busy -= slots;
  job->choices_running -= slots;
  {
    std::lock_guard lock(mutex);
    stats.busy_slots = busy;
  }
  if (job->choices_running == 0) end_job(job);
}

void ContinuousBatcher::State::end_job(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard lock(mutex);
    ++stats.requests;
    if (job->outcome.cancelled) ++stats.cancelled;
  }
  if (job->request.on_end) {
    try {
      job->request.on_end(job->outcome);
    } catch (...) {
      // Nothing is left to report a failure to.
    }
  }
}

void ContinuousBatcher::State::fail_job(const std::shared_ptr<Job>& job, std::exception_ptr error) {
  job->outcome.error = error;
  for (auto it = running.begin(); it != running.end();) {
    auto next = std::next(it);
    if (it->job == job) end_choice(it, false);
    it = next;
  }
}

}  // namespace minillm
