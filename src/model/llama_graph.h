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
  kernels::AlignedVector<float> x;         // (n_tok, n_embd) residual stream
  kernels::AlignedVector<float> xn;        // (n_tok, n_embd) normalized input of a sub-layer
  kernels::AlignedVector<float> q;         // (n_tok, n_head * head_dim)
  kernels::AlignedVector<float> k;         // (n_tok, n_head_kv * head_dim)
  kernels::AlignedVector<float> v;         // (n_tok, n_head_kv * head_dim)
  kernels::AlignedVector<float> att;       // (n_tok, n_head * head_dim) attention output before wo
  kernels::AlignedVector<float> proj;      // (n_tok, n_embd) output of wo / w_down before the residual add
  kernels::AlignedVector<float> gate;      // (n_tok, n_ff)
  kernels::AlignedVector<float> up;        // (n_tok, n_ff)
  kernels::AlignedVector<float> scores;    // (4 n_threads, n_ctx) attention weights, one row per chunk
  kernels::AlignedVector<float> cos;       // (n_tok, n_rot / 2)
  kernels::AlignedVector<float> sin;       // (n_tok, n_rot / 2)
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
