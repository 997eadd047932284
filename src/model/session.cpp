#include "minillm/session.h"

#include <algorithm>
#include <string>
#include <thread>

#include "minillm/error.h"
#include "model/kv_cache.h"
#include "model/llama_graph.h"
#include "model/model_impl.h"
#include "runtime/cpu_topology.h"

namespace minillm {

struct Session::State {
  std::shared_ptr<const Model> model;
  uint32_t n_batch;
  int n_threads;
  KvCache cache;
  ForwardScratch scratch;
  std::vector<float> logits;  // (n_tok or 1, n_vocab) of the last eval
  uint32_t n_past = 0;
  uint64_t tokens_evaluated = 0;

  State(std::shared_ptr<const Model> m, uint32_t n_ctx, const SessionOptions& o)
      : model(std::move(m)),
        n_batch(o.n_batch),
        n_threads(o.n_threads > 0 ? o.n_threads : default_thread_count()),
        cache(model->config().n_layer, n_ctx, model->config().n_head_kv * model->config().head_dim,
              o.kv_type) {}
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
  state_->scratch.inv_freq =
      rope_inverse_frequencies(c, state_->model->impl().weights.rope_freq_factors);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::span<const float> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  State& s = *state_;
  const ModelConfig& c = s.model->config();
  if (tokens.empty()) throw Error("eval needs at least one token");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || uint32_t(tokens[i]) >= c.n_vocab)
      throw Error("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                  " is outside the vocabulary of " + std::to_string(c.n_vocab));
  if (tokens.size() > s.cache.capacity() - s.n_past)
    throw Error(ErrorKind::ContextFull,
                "context full: " + std::to_string(s.n_past) + " tokens in the cache plus " +
                    std::to_string(tokens.size()) + " new ones exceed its capacity of " +
                    std::to_string(s.cache.capacity()));

  const size_t n = tokens.size();
  s.logits.resize((all_logits ? n : 1) * size_t(c.n_vocab));
  for (size_t start = 0; start < n; start += s.n_batch) {
    const uint32_t n_tok = uint32_t(std::min<size_t>(s.n_batch, n - start));
    // Without all_logits every batch writes the last-row logits to the same place, so the last
    // batch's survive.
    float* out = all_logits ? s.logits.data() + start * c.n_vocab : s.logits.data();
    llama_forward(s.model->impl(), s.cache, s.scratch, tokens.data() + start, n_tok, s.n_past,
                  all_logits, s.n_threads, out);
    s.n_past += n_tok;
    s.tokens_evaluated += n_tok;
  }
  return s.logits;
}

void Session::truncate(uint32_t n_keep) {
  if (n_keep > state_->n_past)
    throw Error("cannot keep " + std::to_string(n_keep) + " positions: only " +
                std::to_string(state_->n_past) + " are in the cache");
  state_->n_past = n_keep;
}

uint32_t Session::n_past() const {
  return state_->n_past;
}
uint32_t Session::n_ctx() const {
  return state_->cache.capacity();
}
int Session::n_threads() const {
  return state_->n_threads;
}
uint64_t Session::tokens_evaluated() const {
  return state_->tokens_evaluated;
}
const Model& Session::model() const {
  return *state_->model;
}

}  // namespace minillm
