// The Llama/Mistral forward pass over format-independent weights.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/aligned.h"
#include "model/kv_cache.h"
#include "model/model_impl.h"

namespace minillm {

// Activations of one batch, reused between calls (sized for the largest batch seen).
struct ForwardScratch {
  // 64-byte aligned rows for the vector loads.
  using Floats = kernels::AlignedVector<float>;

  Floats x;                     // (n_tok, n_embd) residual stream
  Floats xn;                    // (n_tok, n_embd) normalized input of a sub-layer
  Floats q;                     // (n_tok, n_head * head_dim)
  Floats k;                     // (n_tok, n_head_kv * head_dim)
  Floats v;                     // (n_tok, n_head_kv * head_dim)
  Floats att;                   // (n_tok, n_head * head_dim) attention output before wo
  Floats proj;                  // (n_tok, n_embd) output of wo / w_down before the residual add
  Floats gate;                  // (n_tok, n_ff)
  Floats up;                    // (n_tok, n_ff)
  Floats scores;                // (4 n_threads, n_head / n_head_kv, n_ctx) attention weights
  Floats cos;                   // (n_tok, n_rot / 2)
  Floats sin;                   // (n_tok, n_rot / 2)
  std::vector<float> inv_freq;  // (n_rot / 2) RoPE frequency of each pair, scaling applied
};

// RoPE frequencies of a model: scale · theta^(-2i / n_rot) / factor_i.
std::vector<float> rope_inverse_frequencies(const ModelConfig& config,
                                            const std::vector<float>& freq_factors);

// Evaluates tokens [0, n_tok) at positions pos0 .. pos0 + n_tok - 1, storing their keys and
// values in `cache`. Writes n_vocab logits for every token (all_logits) or only the last.
void llama_forward(const Model::Impl& model, KvCache& cache, ForwardScratch& s,
                   const int32_t* tokens, uint32_t n_tok, uint32_t pos0, bool all_logits,
                   int n_threads, float* logits);

}  // namespace minillm
