// Attention of one query head: the scalar reference and the dispatch to the SIMD paths.
#include "kernels/attention/attention.h"

#include <algorithm>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/cpu.h"
#include "kernels/f16.h"
#include "kernels/isa_entry.h"
#include "kernels/ops/activations.h"
#include "kernels/quant/quant.h"

namespace minillm::kernels {
namespace {

// Row j of `rows` (head_dim values) as floats.
void load_row(const KvRows& rows, size_t j, size_t head_dim, float* out) {
  const size_t at = kv_row_offset(rows, j);
  switch (rows.type) {
    case KvElement::F32:
      std::copy_n(static_cast<const float*>(rows.base) + at, head_dim, out);
      break;
    case KvElement::F16:
      for (size_t d = 0; d < head_dim; ++d)
        out[d] = fp16_to_fp32(static_cast<const uint16_t*>(rows.base)[at + d]);
      break;
    case KvElement::Q8_0:
      dequantize_row(TensorType::Q8_0, static_cast<const BlockQ8_0*>(rows.base) + at / kQK, out,
                     head_dim);
      break;
  }
}

// One token's g heads as a tile (n points into the tile, which the call uses at once).
QueryTile one_token(const float* q, size_t g, size_t first, const size_t& n, float* out) {
  QueryTile t;
  t.q = q;
  t.out = out;
  t.n_tok = 1;
  t.g = g;
  t.first = first;
  t.n = &n;
  return t;
}

}  // namespace

size_t kv_row_offset(const KvRows& rows, size_t j) {
  if (!rows.blocks) return j * rows.stride;
  const size_t mask = (size_t{1} << rows.block_shift) - 1;
  return ((size_t(rows.blocks[j >> rows.block_shift]) << rows.block_shift) | (j & mask)) *
         rows.stride;
}

void attend_one_head(const float* q, const KvRows& keys, const KvRows& values, size_t first,
                     size_t n, size_t head_dim, float scale, float* scores, float* out) {
  const Isa isa = active_isa();
  if (isa == Isa::Avx512 && isa::attention_tile_avx512(one_token(q, 1, first, n, out), keys, values,
                                                       head_dim, scale, scores))
    return;
  if (isa != Isa::Scalar) {  // keys and values always share the element type
    const bool wide = isa == Isa::Avx512;
    (wide ? isa::attention_scores_avx512 : isa::attention_scores_avx2)(q, keys, first, n, head_dim,
                                                                       scale, scores);
    softmax(scores, n);
    (wide ? isa::attention_values_avx512 : isa::attention_values_avx2)(scores, values, first, n,
                                                                       head_dim, out);
    return;
  }
  attend_one_head_reference(q, keys, values, first, n, head_dim, scale, scores, out);
}

void attend_head_group(const float* q, size_t g, const KvRows& keys, const KvRows& values,
                       size_t first, size_t n, size_t head_dim, float scale, float* scores,
                       float* out) {
  if (active_isa() == Isa::Avx512 &&
      isa::attention_tile_avx512(one_token(q, g, first, n, out), keys, values, head_dim, scale,
                                 scores))
    return;
  for (size_t h = 0; h < g; ++h)
    attend_one_head(q + h * head_dim, keys, values, first, n, head_dim, scale, scores + h * n,
                    out + h * head_dim);
}

void attend_query_tile(const QueryTile& tile, const KvRows& keys, const KvRows& values,
                       size_t head_dim, float scale, float* scores) {
  if (active_isa() == Isa::Avx512 &&
      isa::attention_tile_avx512(tile, keys, values, head_dim, scale, scores))
    return;
  for (size_t i = 0; i < tile.n_tok; ++i)
    attend_head_group(tile.q + i * tile.q_stride, tile.g, keys, values, tile.first, tile.n[i],
                      head_dim, scale, scores, tile.out + i * tile.out_stride);
}

void attend_one_head_reference(const float* q, const KvRows& keys, const KvRows& values,
                               size_t first, size_t n, size_t head_dim, float scale, float* scores,
                               float* out) {
  std::vector<float> row(head_dim);
  for (size_t j = 0; j < n; ++j) {
    load_row(keys, first + j, head_dim, row.data());
    float dot = 0.0f;
    for (size_t d = 0; d < head_dim; ++d) dot += q[d] * row[d];
    scores[j] = dot * scale;
  }
  softmax_reference(scores, n);
  std::fill(out, out + head_dim, 0.0f);
  for (size_t j = 0; j < n; ++j) {
    load_row(values, first + j, head_dim, row.data());
    for (size_t d = 0; d < head_dim; ++d) out[d] += scores[j] * row[d];
  }
}

}  // namespace minillm::kernels
