// The mixture-of-experts feed-forward block (Mixtral): a router picks k of n experts per token,
// each a SwiGLU network, and mixes their outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/matmul/matmul.h"
#include "minillm/model.h"
#include "model/weights.h"

namespace minillm {

// An expert a token is routed to, and its share of the token's output.
struct ExpertChoice {
  uint32_t expert;
  float weight;
};

// Mixtral's routing of one token: p = softmax(logits) over all n_expert experts, the k largest p
// (ties to the lowest index), weights p / (sum of the chosen p). `out` gets the k choices in
// ascending expert order.
void route_token(const float* logits, uint32_t n_expert, uint32_t k, ExpertChoice* out);

// Buffers of one batch, reused between calls.
struct MoeScratch {
  using Floats = kernels::AlignedVector<float>;
  Floats logits;                                // (n_tok, n_expert) router outputs
  std::vector<ExpertChoice> chosen;             // (n_tok, k)
  std::vector<std::vector<uint32_t>> rows;      // (n_expert) the tokens routed to each expert
  std::vector<std::vector<float>> row_weights;  // (n_expert) their weights
  Floats in;                                    // (rows, n_embd) an expert's tokens' inputs
  Floats gate, up;              // (experts sharing a pass + 1, n_tok, n_ff) hidden activations
  Floats out;                   // (experts sharing a pass + 1, n_tok, n_embd) experts' outputs
  std::vector<uint32_t> whole;  // experts every token chose, sharing passes
  std::vector<kernels::PackedProduct> products;  // their products of one pass
};

// out (n_tok × n_embd) = Σ over each token's chosen experts of weight · expert(xn). Tokens are
// grouped by expert, so each chosen expert runs once, as one matrix product over its tokens, and
// an expert no token chose is not read at all. Each token's sum is taken in ascending expert
// order, so its result does not depend on the other tokens of the batch.
void moe_feed_forward(const ModelConfig& c, const LayerWeights& layer, const float* xn,
                      uint32_t n_tok, MoeScratch& s, float* out, int n_threads);

}  // namespace minillm
