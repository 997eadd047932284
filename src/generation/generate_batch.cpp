#include "minillm/generate_batch.h"

#include <chrono>
#include <memory>
#include <optional>

#include "generation/sequence_generator.h"
#include "minillm/error.h"

namespace minillm {

std::vector<GenerateResult> generate_batch(BatchSession& batch, const Tokenizer& tokenizer,
                                           std::span<const BatchRequest> requests,
                                           const BatchTokenCallback& on_text) {
  if (tokenizer.n_vocab() != int32_t(batch.model().config().n_vocab))
    throw Error("the tokenizer's vocabulary (" + std::to_string(tokenizer.n_vocab()) +
                " tokens) does not match the model's (" +
                std::to_string(batch.model().config().n_vocab) + ")");
  for (size_t i = 0; i < requests.size(); ++i) {
    const BatchRequest& r = requests[i];
    if (r.prompt.empty()) throw Error("request " + std::to_string(i) + ": the prompt is empty");
    if (r.prompt.size() > batch.n_seq_ctx())
      throw Error("request " + std::to_string(i) + ": the prompt has " +
                  std::to_string(r.prompt.size()) + " tokens but a sequence may hold " +
                  std::to_string(batch.n_seq_ctx()));
    if (r.params.max_tokens < -1)
      throw Error("request " + std::to_string(i) + ": max_tokens must be -1 or more");
    r.params.sampling.validate();
  }

  struct Running {
    SeqId seq;
    std::unique_ptr<SequenceGenerator> gen;
    std::optional<int32_t> next;  // the token to evaluate in the next step
  };
  std::vector<Running> running;
  // Sequences are removed however this ends.
  struct Cleanup {
    BatchSession& batch;
    std::vector<Running>& running;
    ~Cleanup() {
      for (const Running& r : running)
        if (batch.contains(r.seq)) batch.remove(r.seq);
    }
  } cleanup{batch, running};
  for (size_t i = 0; i < requests.size(); ++i) {
    TokenCallback cb;
    if (on_text)
      cb = [&on_text, i](std::string_view text, int32_t id) { return on_text(i, text, id); };
    running.push_back(
        {batch.add(),
         std::make_unique<SequenceGenerator>(tokenizer, requests[i].params, requests[i].prompt, cb),
         std::nullopt});
  }

  // Prompts: as many whole prompts per pass as n_batch allows; a longer prompt in pieces.
  std::vector<SequenceInput> inputs;
  std::vector<size_t> owners;
  auto take_logits = [&](size_t k, size_t owner) {
    Running& r = running[owner];
    r.next = r.gen->step(batch.logits(k), batch.n_past(r.seq) < batch.n_seq_ctx());
  };
  std::vector<size_t> done(requests.size(), 0);  // prompt tokens evaluated
  for (bool more = true; more;) {
    inputs.clear();
    owners.clear();
    size_t budget = batch.n_batch();
    more = false;
    for (size_t i = 0; i < requests.size(); ++i) {
      const size_t left = requests[i].prompt.size() - done[i];
      if (left == 0) continue;
      if (budget == 0) {
        more = true;
        continue;
      }
      const size_t n = std::min(left, budget);
      inputs.push_back({running[i].seq, std::span(requests[i].prompt).subspan(done[i], n)});
      owners.push_back(i);
      budget -= n;
      done[i] += n;
      more |= done[i] < requests[i].prompt.size();
    }
    if (inputs.empty()) break;
    batch.eval(inputs);
    for (size_t k = 0; k < inputs.size(); ++k)
      if (done[owners[k]] == requests[owners[k]].prompt.size()) take_logits(k, owners[k]);
  }

  // Decoding: one token of every unfinished sequence per pass (n_batch of them at most).
  for (;;) {
    inputs.clear();
    owners.clear();
    for (size_t i = 0; i < running.size() && inputs.size() < batch.n_batch(); ++i)
      if (running[i].next) {
        inputs.push_back({running[i].seq, std::span<const int32_t>(&*running[i].next, 1)});
        owners.push_back(i);
      }
    if (inputs.empty()) break;
    batch.eval(inputs);
    for (size_t k = 0; k < inputs.size(); ++k) take_logits(k, owners[k]);
  }

  std::vector<GenerateResult> results;
  for (size_t i = 0; i < running.size(); ++i) {
    results.push_back(running[i].gen->finish());
    results.back().stats.prompt_tokens = uint32_t(requests[i].prompt.size());
  }
  return results;
}

}  // namespace minillm
