// The forward pass, top to bottom: embed, then per layer attention and feed-forward blocks with
// pre-normalization and residual adds, then the final norm and the output projection. Every
// projection runs over the whole batch at once (matrix × matrix), so a prompt streams each
// weight once per batch rather than once per token.
#include "model/arch/llama_forward.h"

#include <algorithm>
#include <cmath>

#include "kernels/attention/attention.h"
#include "kernels/ops/norm.h"
#include "kernels/ops/rope.h"
#include "kernels/quant/quant.h"
#include "kernels/thread_pool.h"
#include "minillm/error.h"
#include "model/arch/projection.h"

namespace minillm {

std::vector<float> rope_inverse_frequencies(const ModelConfig& c,
                                            const std::vector<float>& freq_factors) {
  std::vector<float> inv(c.n_rot / 2);
  for (size_t i = 0; i < inv.size(); ++i) {
    double f = std::pow(double(c.rope_theta), -2.0 * double(i) / double(c.n_rot));
    f *= c.rope_freq_scale;
    if (!freq_factors.empty()) f /= freq_factors[i];
    inv[i] = static_cast<float>(f);
  }
  return inv;
}

void llama_forward(const Model::Impl& model, KvCache& cache, ForwardScratch& s,
                   std::span<const BatchToken> tokens, std::span<const uint32_t> out_tokens,
                   int n_threads, float* logits, const std::function<bool()>& cancelled) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const size_t d = c.n_embd, hd = c.head_dim, q_w = size_t(c.n_head) * hd;
  const size_t kv_w = size_t(c.n_head_kv) * hd, n_pairs = c.n_rot / 2;
  const uint32_t group = c.n_head / c.n_head_kv;  // query heads per KV head
  const float scale = 1.0f / std::sqrt(float(hd));
  const uint32_t n_tok = uint32_t(tokens.size());
  uint32_t longest = 0;  // keys the longest attention of the batch reads
  for (const BatchToken& t : tokens) longest = std::max(longest, t.pos + 1);

  grow(s.x, n_tok * d);
  grow(s.xn, n_tok * d);
  grow(s.q, n_tok * q_w);
  grow(s.k, n_tok * kv_w);
  grow(s.v, n_tok * kv_w);
  grow(s.att, n_tok * q_w);
  grow(s.proj, n_tok * d);
  if (c.n_expert == 0) {  // a mixture of experts has its own buffers
    grow(s.gate, size_t(n_tok) * c.n_ff);
    grow(s.up, size_t(n_tok) * c.n_ff);
  }
  // Attention goes by runs of consecutive tokens of one sequence that read keys from the same
  // first row (a prompt's tokens): each run reads its keys and values once for all its tokens.
  // A run holds at most 16 tokens, and fewer where their scores would pass 2 MiB.
  constexpr size_t kMaxRun = 16;
  const size_t run_cap = std::clamp<size_t>(
      (size_t(2) << 20) / (sizeof(float) * group * std::max<uint32_t>(longest, 1)), 1, kMaxRun);
  const auto first_key = [&](const BatchToken& t) -> uint32_t {  // causal, maybe windowed
    return (c.sliding_window && t.pos >= c.sliding_window) ? t.pos - c.sliding_window + 1 : 0;
  };
  s.runs.clear();
  for (uint32_t t = 0; t < n_tok; ++t) {
    if (!s.runs.empty()) {
      AttentionRun& r = s.runs.back();
      const BatchToken& last = tokens[r.first_token + r.n_tok - 1];
      if (r.n_tok < run_cap && tokens[t].seq == last.seq && tokens[t].pos == last.pos + 1 &&
          first_key(tokens[t]) == first_key(last)) {
        ++r.n_tok;
        continue;
      }
    }
    s.runs.push_back({t, 1});
  }
  size_t longest_run = 0;  // a decoding step's runs are single tokens: scratch for those only
  for (const AttentionRun& r : s.runs) longest_run = std::max<size_t>(longest_run, r.n_tok);
  const size_t n_attention_chunks = size_t(std::max(n_threads, 1)) * 4;
  grow(s.scores, n_attention_chunks * longest_run * group * longest);
  grow(s.cos, n_tok * n_pairs);
  grow(s.sin, n_tok * n_pairs);

  // Token embeddings, and the RoPE angles of each position (shared by all layers and heads).
  for (uint32_t t = 0; t < n_tok; ++t) {
    const auto* row = static_cast<const uint8_t*>(w.token_embd.data) +
                      row_bytes(w.token_embd.type, d) * size_t(tokens[t].id);
    kernels::dequantize_row(w.token_embd.type, row, &s.x[t * d], d);
    kernels::rope_cos_sin(int64_t(tokens[t].pos), s.inv_freq.data(), n_pairs, &s.cos[t * n_pairs],
                          &s.sin[t * n_pairs]);
  }

  for (uint32_t l = 0; l < c.n_layer; ++l) {
    // Between layers: a long prompt can be abandoned within one layer's work.
    if (cancelled && cancelled()) throw Error(ErrorKind::Cancelled, "evaluation cancelled");
    const LayerWeights& L = w.layers[l];

    // Attention block.
    for (uint32_t t = 0; t < n_tok; ++t)
      kernels::rms_norm(&s.x[t * d], L.attn_norm.data(), &s.xn[t * d], d, c.rms_eps);
    project_all<3>({{{&L.wq, s.q.data()}, {&L.wk, s.k.data()}, {&L.wv, s.v.data()}}}, s.xn.data(),
                   n_tok, n_threads);
    for (uint32_t t = 0; t < n_tok; ++t) {
      kernels::rope_rotate_pairs(&s.q[t * q_w], c.n_head, hd, &s.cos[t * n_pairs],
                                 &s.sin[t * n_pairs], n_pairs);
      kernels::rope_rotate_pairs(&s.k[t * kv_w], c.n_head_kv, hd, &s.cos[t * n_pairs],
                                 &s.sin[t * n_pairs], n_pairs);
      cache.store(l, tokens[t].seq->row(tokens[t].pos), &s.k[t * kv_w], &s.v[t * kv_w]);
    }
    // Attention runs on the kernels' thread pool (an OpenMP region here would leave OpenMP's
    // threads spinning against the pool's). Each (run, KV head) item is computed whole by one
    // thread, and a token's results do not depend on its run, so they do not depend on the
    // thread count or the batch.
    const size_t n_items = s.runs.size() * c.n_head_kv;  // (run, KV head): `group` heads each
    const size_t n_chunks = std::min(n_items, n_attention_chunks);
    auto attend_chunk = [&](size_t chunk) {
      float* scores = &s.scores[chunk * longest_run * group * longest];
      size_t n[kMaxRun];
      for (size_t item = chunk; item < n_items; item += n_chunks) {  // interleaved: balances
        const AttentionRun& run = s.runs[item / c.n_head_kv];
        const uint32_t kvh = uint32_t(item % c.n_head_kv);
        const BatchToken& t0 = tokens[run.first_token];
        kernels::QueryTile tile;
        const size_t at = run.first_token * q_w + size_t(kvh) * group * hd;  // first query head
        tile.q = &s.q[at];
        tile.out = &s.att[at];
        tile.q_stride = tile.out_stride = q_w;
        tile.n_tok = run.n_tok;
        tile.g = group;
        tile.first = first_key(t0);
        for (uint32_t i = 0; i < run.n_tok; ++i) n[i] = t0.pos + i - tile.first + 1;
        tile.n = n;
        kernels::attend_query_tile(tile, cache.keys(l, kvh, *t0.seq), cache.values(l, kvh, *t0.seq),
                                   hd, scale, scores);
      }
    };
    kernels::run_chunks(n_threads, n_chunks, attend_chunk);
    project(L.wo, s.att.data(), n_tok, s.proj.data(), n_threads);
    for (size_t i = 0; i < n_tok * d; ++i) s.x[i] += s.proj[i];

    // Feed-forward block (SwiGLU; or a mixture of SwiGLU experts).
    for (uint32_t t = 0; t < n_tok; ++t)
      kernels::rms_norm(&s.x[t * d], L.ffn_norm.data(), &s.xn[t * d], d, c.rms_eps);
    if (c.n_expert > 0) {
      moe_feed_forward(c, L, s.xn.data(), n_tok, s.moe, s.proj.data(), n_threads);
    } else {
      project_all<2>({{{&L.w_gate, s.gate.data()}, {&L.w_up, s.up.data()}}}, s.xn.data(), n_tok,
                     n_threads);
      swiglu_parallel(s.gate.data(), s.up.data(), size_t(n_tok) * c.n_ff, n_threads);
      project(L.w_down, s.gate.data(), n_tok, s.proj.data(), n_threads);
    }
    for (size_t i = 0; i < n_tok * d; ++i) s.x[i] += s.proj[i];
  }

  // Output: only the rows the caller asked for.
  const uint32_t n_out = uint32_t(out_tokens.size());
  for (uint32_t i = 0; i < n_out; ++i)
    kernels::rms_norm(&s.x[size_t(out_tokens[i]) * d], w.output_norm.data(), &s.xn[i * d], d,
                      c.rms_eps);
  if (n_out) project(w.output, s.xn.data(), n_out, logits, n_threads);
}

}  // namespace minillm
