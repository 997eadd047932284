// The Llama/Mistral forward pass over format-independent weights.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "kernels/aligned.h"
#include "model/arch/moe_ffn.h"
#include "model/kv_cache.h"
#include "model/model_impl.h"

namespace minillm {

// Consecutive tokens of a batch (tokens [first_token, first_token + n_tok)) of one sequence at
// consecutive positions that attend to keys from the same first row: they attend together.
struct AttentionRun {
  uint32_t first_token, n_tok;
};

// Activations of one batch, reused between calls (sized for the largest batch seen).
struct ForwardScratch {
  // 64-byte aligned rows for the vector loads.
  using Floats = kernels::AlignedVector<float>;

  Floats x;                        // (n_tok, n_embd) residual stream
  Floats xn;                       // (n_tok, n_embd) normalized input of a sub-layer
  Floats q;                        // (n_tok, n_head * head_dim)
  Floats k;                        // (n_tok, n_head_kv * head_dim)
  Floats v;                        // (n_tok, n_head_kv * head_dim)
  Floats att;                      // (n_tok, n_head * head_dim) attention output before wo
  Floats proj;                     // (n_tok, n_embd) output of wo / w_down before the residual add
  Floats gate;                     // (n_tok, n_ff)
  Floats up;                       // (n_tok, n_ff)
  Floats scores;                   // (4 n_threads, run tokens, n_head / n_head_kv, longest) weights
  std::vector<AttentionRun> runs;  // this batch's
  Floats cos;                      // (n_tok, n_rot / 2)
  Floats sin;                      // (n_tok, n_rot / 2)
  std::vector<float> inv_freq;     // (n_rot / 2) RoPE frequency of each pair, scaling applied
  MoeScratch moe;                  // mixture-of-experts blocks
};

// RoPE frequencies of a model: scale · theta^(-2i / n_rot) / factor_i.
std::vector<float> rope_inverse_frequencies(const ModelConfig& config,
                                            const std::vector<float>& freq_factors);

// One token of a forward pass: its id, its position in its sequence, and that sequence, whose
// block table already holds the position (KvSequence::reserve).
struct BatchToken {
  int32_t id;
  uint32_t pos;
  const KvSequence* seq;
};

// Evaluates the tokens of one or more sequences in one pass: every projection runs once over all
// of them, each token attends to its own sequence's positions 0..pos (its batch-mates of the same
// sequence included, as their keys are stored first). A token's results do not depend on the
// other tokens of the batch. Writes n_vocab logits for each token listed in out_tokens (indices
// into tokens, in that order). `cancelled` (optional) is asked between layers; when it answers
// true the pass stops by throwing Error (the caller then forgets the batch's positions).
void llama_forward(const Model::Impl& model, KvCache& cache, ForwardScratch& s,
                   std::span<const BatchToken> tokens, std::span<const uint32_t> out_tokens,
                   int n_threads, float* logits, const std::function<bool()>& cancelled = {});

}  // namespace minillm
