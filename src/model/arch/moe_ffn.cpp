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
  float p[256];
  std::vector<float> heap_p;
  float* probs = p;
  if (n_expert > 256) {
    heap_p.resize(n_expert);
    probs = heap_p.data();
  }
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

  std::memset(out, 0, sizeof(float) * n_tok * d);
  for (uint32_t e = 0; e < c.n_expert; ++e) {
    s.rows.clear();
    s.row_weights.clear();
    for (uint32_t t = 0; t < n_tok; ++t)
      for (size_t i = 0; i < k; ++i)
        if (s.chosen[t * k + i].expert == e) {
          s.rows.push_back(t);
          s.row_weights.push_back(s.chosen[t * k + i].weight);
        }
    const uint32_t n = uint32_t(s.rows.size());
    if (n == 0) continue;  // its weights are not read
    const ExpertWeights& ex = L.experts[e];
    const float* in = xn;
    if (n != n_tok) {  // gather the tokens routed here; all of them need no copy
      grow(s.in, n * d);
      for (uint32_t i = 0; i < n; ++i)
        std::memcpy(&s.in[i * d], xn + size_t(s.rows[i]) * d, d * sizeof(float));
      in = s.in.data();
    }
    grow(s.gate, n * ff);
    grow(s.up, n * ff);
    grow(s.out, n * d);
    project_all<2>({{{&ex.gate, s.gate.data()}, {&ex.up, s.up.data()}}}, in, n, n_threads);
    swiglu_parallel(s.gate.data(), s.up.data(), n * ff, n_threads);
    project(ex.down, s.gate.data(), n, s.out.data(), n_threads);
    // Experts come in ascending order, so each token sums its experts in that order.
    for (uint32_t i = 0; i < n; ++i) {
      float* o = out + size_t(s.rows[i]) * d;
      const float* y = &s.out[i * d];
      const float w = s.row_weights[i];
      for (size_t j = 0; j < d; ++j) o[j] += w * y[j];
    }
  }
}

}  // namespace minillm
