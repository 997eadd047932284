#include "minillm/batch_session.h"

#include <algorithm>
#include <map>
#include <string>

#include "minillm/error.h"
#include "model/evaluator.h"
#include "model/model_impl.h"

namespace minillm {

struct BatchSession::State {
  uint32_t n_seq_ctx;
  uint32_t n_batch;
  Evaluator eval;
  std::map<SeqId, KvSequence> seqs;
  SeqId next_id = 0;
  std::vector<float> logits;         // every output row of the last eval, in input order
  std::vector<size_t> logit_offset;  // (inputs + 1) where each input's rows start
  std::vector<BatchToken> batch;     // reused between evals
  std::vector<uint32_t> out;

  State(std::shared_ptr<const Model> m, uint32_t seq_ctx, uint32_t ctx,
        const BatchSessionOptions& o)
      : n_seq_ctx(seq_ctx),
        n_batch(o.n_batch),
        eval(std::move(m), o.runtime, o.n_threads, ctx, o.kv_type, o.cancel) {}

  KvSequence& find(SeqId id, const char* what) {
    const auto it = seqs.find(id);
    if (it == seqs.end())
      throw Error(std::string(what) + ": no sequence " + std::to_string(id) +
                  " (never added, or removed)");
    return it->second;
  }
};

BatchSession::BatchSession(std::shared_ptr<const Model> model, const BatchSessionOptions& o) {
  if (!model) throw Error("BatchSession needs a loaded model");
  const ModelConfig& c = model->config();
  uint32_t seq_ctx = o.n_seq_ctx;
  if (seq_ctx == 0) seq_ctx = std::min<uint32_t>(c.n_ctx_train ? c.n_ctx_train : 4096, 4096);
  const uint64_t ctx = o.n_ctx ? o.n_ctx : uint64_t(seq_ctx) * 4;
  if (ctx > (1u << 30)) throw Error("n_ctx " + std::to_string(ctx) + " is too large");
  if (o.n_batch == 0) throw Error("batch size must be at least 1");
  if (o.n_threads < 0) throw Error("thread count must not be negative");
  state_ = std::make_unique<State>(std::move(model), seq_ctx, uint32_t(ctx), o);
}

BatchSession::~BatchSession() = default;
BatchSession::BatchSession(BatchSession&&) noexcept = default;
BatchSession& BatchSession::operator=(BatchSession&&) noexcept = default;

SeqId BatchSession::add() {
  const SeqId id = state_->next_id++;
  state_->seqs.emplace(id, KvSequence{});
  return id;
}

SeqId BatchSession::fork(SeqId from, uint32_t n_keep) {
  State& s = *state_;
  const KvSequence& parent = s.find(from, "fork");
  if (n_keep > parent.n_past())
    throw Error("fork: sequence " + std::to_string(from) + " holds " +
                std::to_string(parent.n_past()) + " positions, not " + std::to_string(n_keep));
  const SeqId id = s.next_id++;
  s.seqs.emplace(id, parent.fork(s.eval.cache, n_keep));
  return id;
}

void BatchSession::remove(SeqId seq) {
  State& s = *state_;
  s.find(seq, "remove").truncate(s.eval.cache, 0);
  s.seqs.erase(seq);
}

void BatchSession::truncate(SeqId seq, uint32_t n_keep) {
  State& s = *state_;
  KvSequence& q = s.find(seq, "truncate");
  if (n_keep > q.n_past())
    throw Error("truncate: sequence " + std::to_string(seq) + " holds only " +
                std::to_string(q.n_past()) + " positions");
  q.truncate(s.eval.cache, n_keep);
}

bool BatchSession::contains(SeqId seq) const {
  return state_->seqs.count(seq) != 0;
}
uint32_t BatchSession::n_past(SeqId seq) const {
  return state_->find(seq, "n_past").n_past();
}
size_t BatchSession::n_sequences() const {
  return state_->seqs.size();
}
uint32_t BatchSession::free_positions() const {
  return state_->eval.cache.free_blocks() * KvCache::kBlockRows;
}
uint32_t BatchSession::n_seq_ctx() const {
  return state_->n_seq_ctx;
}
uint32_t BatchSession::n_batch() const {
  return state_->n_batch;
}
int BatchSession::n_threads() const {
  return state_->eval.n_threads;
}
const Model& BatchSession::model() const {
  return *state_->eval.model;
}

void BatchSession::eval(std::span<const SequenceInput> inputs) {
  State& s = *state_;
  const uint32_t n_vocab = s.eval.model->config().n_vocab;
  if (inputs.empty()) throw Error("eval needs at least one sequence");

  // Everything is checked before anything changes.
  std::vector<KvSequence*> seqs;
  size_t total = 0, n_out = 0;
  uint64_t blocks = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const SequenceInput& in = inputs[i];
    KvSequence& q = s.find(in.seq, "eval");
    if (std::find(seqs.begin(), seqs.end(), &q) != seqs.end())
      throw Error("eval: sequence " + std::to_string(in.seq) +
                  " appears twice in one batch (give all its tokens in one input)");
    if (in.tokens.empty())
      throw Error("eval: the input for sequence " + std::to_string(in.seq) + " has no tokens");
    for (size_t t = 0; t < in.tokens.size(); ++t)
      if (in.tokens[t] < 0 || uint32_t(in.tokens[t]) >= n_vocab)
        throw Error("eval: token id " + std::to_string(in.tokens[t]) + " of sequence " +
                    std::to_string(in.seq) + " is outside the vocabulary of " +
                    std::to_string(n_vocab));
    if (in.tokens.size() > s.n_seq_ctx - q.n_past())
      throw Error(ErrorKind::ContextFull, "context full: sequence " + std::to_string(in.seq) +
                                              " holds " + std::to_string(q.n_past()) +
                                              " positions, " + std::to_string(in.tokens.size()) +
                                              " more exceed its limit of " +
                                              std::to_string(s.n_seq_ctx));
    total += in.tokens.size();
    n_out += in.all_logits ? in.tokens.size() : 1;
    blocks += q.blocks_needed(s.eval.cache, uint32_t(in.tokens.size()));
    seqs.push_back(&q);
  }
  if (total > s.n_batch)
    throw Error("eval: " + std::to_string(total) + " tokens exceed the batch limit of " +
                std::to_string(s.n_batch));
  if (blocks > s.eval.cache.free_blocks())
    throw Error(ErrorKind::ContextFull,
                "KV cache full: the batch needs " + std::to_string(blocks) + " more blocks of " +
                    std::to_string(KvCache::kBlockRows) + " positions, " +
                    std::to_string(s.eval.cache.free_blocks()) + " are free");

  s.batch.clear();
  s.out.clear();
  s.logit_offset.assign(1, 0);
  std::vector<uint32_t> advance;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const SequenceInput& in = inputs[i];
    KvSequence& q = *seqs[i];
    q.reserve(s.eval.cache, uint32_t(in.tokens.size()));  // cannot fail: counted above
    const uint32_t first = uint32_t(s.batch.size());
    for (size_t t = 0; t < in.tokens.size(); ++t)
      s.batch.push_back({in.tokens[t], q.n_past() + uint32_t(t), &q});
    const uint32_t last = uint32_t(s.batch.size()) - 1;
    for (uint32_t t = in.all_logits ? first : last; t <= last; ++t) s.out.push_back(t);
    s.logit_offset.push_back(s.out.size() * n_vocab);
    advance.push_back(uint32_t(in.tokens.size()));
  }
  s.logits.resize(n_out * size_t(n_vocab));
  s.eval.forward(s.batch, s.out, s.logits.data(), seqs, advance);
}

std::span<const float> BatchSession::logits(size_t input) const {
  const State& s = *state_;
  if (input + 1 >= s.logit_offset.size())
    throw Error("logits: the last eval had " + std::to_string(s.logit_offset.size() - 1) +
                " inputs, not " + std::to_string(input + 1));
  return std::span<const float>(s.logits).subspan(
      s.logit_offset[input], s.logit_offset[input + 1] - s.logit_offset[input]);
}

}  // namespace minillm
