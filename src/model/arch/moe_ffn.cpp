#include "model/arch/moe_ffn.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/arch/projection.h"

namespace minillm {

void route_token(const float* logits, uint32_t n_expert, uint32_t k, ExpertChoice* out) {
  float max = logits[0];
  for (uint32_t e = 1; e < n_expert; ++e) max = std::max(max, logits[e]);
  // The softmax's denominator cancels in the renormalised weights, but not in the choice's
  // rounding: the probabilities are compared as the definition has them.
  std::vector<float> probs(n_expert);
  float sum = 0;
  for (uint32_t e = 0; e < n_expert; ++e) sum += probs[e] = std::exp(logits[e] - max);
  for (uint32_t e = 0; e < n_expert; ++e) probs[e] /= sum;
  // k passes of "largest not yet taken"; the strict > keeps the lowest index on ties.
  float chosen_sum = 0;
  for (uint32_t i = 0; i < k; ++i) {
    uint32_t best = n_expert;
    for (uint32_t e = 0; e < n_expert; ++e) {
      bool taken = false;
      for (uint32_t j = 0; j < i; ++j) taken |= out[j].expert == e;
      if (!taken && (best == n_expert || probs[e] > probs[best])) best = e;
    }
    out[i] = {best, probs[best]};
    chosen_sum += probs[best];
  }
  for (uint32_t i = 0; i < k; ++i) out[i].weight /= chosen_sum;
  std::sort(out, out + k,
            [](const ExpertChoice& a, const ExpertChoice& b) { return a.expert < b.expert; });
}

void moe_feed_forward(const ModelConfig& c, const LayerWeights& L, const float* xn, uint32_t n_tok,
                      MoeScratch& s, float* out, int n_threads) {
  const size_t d = c.n_embd, ff = c.n_ff, k = c.n_expert_used;
  grow(s.logits, size_t(n_tok) * c.n_expert);
  s.chosen.resize(size_t(n_tok) * k);
  project(L.router, xn, n_tok, s.logits.data(), n_threads);
  for (uint32_t t = 0; t < n_tok; ++t)
    route_token(&s.logits[size_t(t) * c.n_expert], c.n_expert, uint32_t(k), &s.chosen[t * k]);

  // The tokens routed to each expert, in token order, with their weights.
  s.rows.resize(c.n_expert);
  s.row_weights.resize(c.n_expert);
  for (uint32_t e = 0; e < c.n_expert; ++e) {
    s.rows[e].clear();
    s.row_weights[e].clear();
  }
  for (uint32_t t = 0; t < n_tok; ++t)
    for (size_t i = 0; i < k; ++i) {
      const ExpertChoice& ch = s.chosen[t * k + i];
      s.rows[ch.expert].push_back(t);
      s.row_weights[ch.expert].push_back(ch.weight);
    }

  // Experts every token of the batch chose (each chosen one when decoding a single token) read
  // the same input, and run together: their gate and up products share one pass of the thread
  // pool, their SwiGLU one job, their down products (each on its own hidden state) another pass.
  std::vector<uint32_t>& whole = s.whole;
  whole.clear();
  for (uint32_t e = 0; e < c.n_expert; ++e) {
    const ExpertWeights& ex = L.experts[e];
    if (s.rows[e].size() == n_tok && ex.gate.packed && ex.up.packed && ex.down.packed)
      whole.push_back(e);
  }
  if (whole.size() < 2) whole.clear();
  // Each whole expert has a block of hidden activations and of outputs; one more serves the
  // experts that run alone.
  const size_t block = size_t(n_tok) * ff, base = whole.size() * block;
  const size_t out_block = size_t(n_tok) * d, out_base = whole.size() * out_block;
  grow(s.gate, base + block);
  grow(s.up, base + block);
  grow(s.in, size_t(n_tok) * d);
  grow(s.out, out_base + out_block);
  if (!whole.empty()) {
    std::vector<kernels::PackedProduct>& products = s.products;
    products.clear();
    for (size_t i = 0; i < whole.size(); ++i) {
      products.push_back({L.experts[whole[i]].gate.packed.get(), &s.gate[i * block]});
      products.push_back({L.experts[whole[i]].up.packed.get(), &s.up[i * block]});
    }
    kernels::matmul(products, xn, n_tok, n_threads, kernels::model_matmul_mode());
    swiglu_parallel(s.gate.data(), s.up.data(), base, n_threads);
    products.clear();
    for (size_t i = 0; i < whole.size(); ++i)
      products.push_back(
          {L.experts[whole[i]].down.packed.get(), &s.out[i * out_block], &s.gate[i * block]});
    kernels::matmul(products, nullptr, n_tok, n_threads, kernels::model_matmul_mode());
  }

  std::memset(out, 0, sizeof(float) * n_tok * d);
  for (uint32_t e = 0; e < c.n_expert; ++e) {
    const std::vector<uint32_t>& rows = s.rows[e];
    const uint32_t n = uint32_t(rows.size());
    if (n == 0) continue;  // its weights are not read
    const float* y = &s.out[out_base];
    const auto shared = std::find(whole.begin(), whole.end(), e);
    if (shared != whole.end()) {
      y = &s.out[size_t(shared - whole.begin()) * out_block];
    } else {
      const ExpertWeights& ex = L.experts[e];
      float *gate = &s.gate[base], *up = &s.up[base];
      const float* in = xn;
      if (n != n_tok) {  // gather the tokens routed here; all of them need no copy
        for (uint32_t i = 0; i < n; ++i)
          std::memcpy(&s.in[i * d], xn + size_t(rows[i]) * d, d * sizeof(float));
        in = s.in.data();
      }
      project_all<2>({{{&ex.gate, gate}, {&ex.up, up}}}, in, n, n_threads);
      swiglu_parallel(gate, up, n * ff, n_threads);
      project(ex.down, gate, n, &s.out[out_base], n_threads);
    }
    // Experts come in ascending order, so each token sums its experts in that order.
    for (uint32_t i = 0; i < n; ++i) {
      float* o = out + size_t(rows[i]) * d;
      const float* yi = &y[i * d];
      const float w = s.row_weights[e][i];
      for (size_t j = 0; j < d; ++j) o[j] += w * yi[j];
    }
  }
}

}  // namespace minillm
