#include "minillm/session.h"

#include <algorithm>
#include <string>

#include "minillm/error.h"
#include "model/evaluator.h"
#include "model/model_impl.h"
#include "runtime/cpu_topology.h"

namespace minillm {

// One sequence in a cache of its own, sized for n_ctx positions.
struct Session::State {
  uint32_t n_ctx;
  uint32_t n_batch;
  Evaluator eval;
  KvSequence seq;
  std::vector<float> logits;  // (n_tok or 1, n_vocab) of the last eval
  uint64_t tokens_evaluated = 0;

  State(std::shared_ptr<const Model> m, uint32_t ctx, const SessionOptions& o)
      : n_ctx(ctx),
        n_batch(o.n_batch),
        eval(std::move(m), o.runtime, o.n_threads, ctx, o.kv_type, o.cancel) {}
};

int default_thread_count() {
  return physical_core_count();
}

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options) {
  if (!model) throw Error("Session needs a loaded model");
  const ModelConfig& c = model->config();
  uint32_t n_ctx = options.n_ctx;
  if (n_ctx == 0) n_ctx = std::min<uint32_t>(c.n_ctx_train ? c.n_ctx_train : 4096, 4096);
  if (options.n_batch == 0) throw Error("batch size must be at least 1");
  if (options.n_threads < 0) throw Error("thread count must not be negative");
  state_ = std::make_unique<State>(std::move(model), n_ctx, options);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::span<const float> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  State& s = *state_;
  const ModelConfig& c = s.eval.model->config();
  if (tokens.empty()) throw Error("eval needs at least one token");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || uint32_t(tokens[i]) >= c.n_vocab)
      throw Error("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                  " is outside the vocabulary of " + std::to_string(c.n_vocab));
  const uint32_t n_past = s.seq.n_past();
  if (tokens.size() > s.n_ctx - n_past)
    throw Error(ErrorKind::ContextFull,
                "context full: " + std::to_string(n_past) + " tokens in the cache plus " +
                    std::to_string(tokens.size()) + " new ones exceed its capacity of " +
                    std::to_string(s.n_ctx));

  const size_t n = tokens.size();
  s.logits.resize((all_logits ? n : 1) * size_t(c.n_vocab));
  std::vector<BatchToken> batch;
  std::vector<uint32_t> out;
  KvSequence* const seqs[] = {&s.seq};
  try {
    for (size_t start = 0; start < n; start += s.n_batch) {
      const uint32_t n_tok = uint32_t(std::min<size_t>(s.n_batch, n - start));
      if (s.eval.cancel && s.eval.cancel())
        throw Error(ErrorKind::Cancelled, "evaluation cancelled");
      s.seq.reserve(s.eval.cache, n_tok);
      batch.clear();
      out.clear();
      for (uint32_t t = 0; t < n_tok; ++t)
        batch.push_back({tokens[start + t], s.seq.n_past() + t, &s.seq});
      // Without all_logits every batch writes the last-row logits to the same place, so the last
      // batch's survive.
      if (all_logits)
        for (uint32_t t = 0; t < n_tok; ++t) out.push_back(t);
      else
        out.push_back(n_tok - 1);
      float* dest = all_logits ? s.logits.data() + start * c.n_vocab : s.logits.data();
      const uint32_t advance[] = {n_tok};
      s.eval.forward(batch, out, dest, seqs, advance);
    }
  } catch (...) {
    s.seq.truncate(s.eval.cache, n_past);  // none of this call's tokens stay
    throw;
  }
  s.tokens_evaluated += n;
  return s.logits;
}

void Session::truncate(uint32_t n_keep) {
  if (n_keep > state_->seq.n_past())
    throw Error("cannot keep " + std::to_string(n_keep) + " positions: only " +
                std::to_string(state_->seq.n_past()) + " are in the cache");
  state_->seq.truncate(state_->eval.cache, n_keep);
}

uint32_t Session::n_past() const {
  return state_->seq.n_past();
}
uint32_t Session::n_ctx() const {
  return state_->n_ctx;
}
int Session::n_threads() const {
  return state_->eval.n_threads;
}
uint64_t Session::tokens_evaluated() const {
  return state_->tokens_evaluated;
}
const Model& Session::model() const {
  return *state_->eval.model;
}

}  // namespace minillm
