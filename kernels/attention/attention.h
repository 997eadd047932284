// Scaled dot-product attention of one query head over rows of a KV cache.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minillm::kernels {

// Q8_0: blocks of 32 values, each an f16 scale and 32 int8 (kernels/blocks.h BlockQ8_0); the head
// dim and the row stride are then multiples of 32, so a head row is whole blocks.
enum class KvElement { F32, F16, Q8_0 };

// Rows of one KV head in a cache: row j starts at element r(j) * stride of `base`, where r(j) = j
// for a contiguous cache, and for a paged one, which hands out rows in blocks of 2^block_shift,
// r(j) = blocks[j >> block_shift] << block_shift | j mod 2^block_shift. For Q8_0 "element e" is
// value e of the row-major block array: it lives in block e / 32 of `base`.
struct KvRows {
  const void* base = nullptr;  // first element of row 0 (already offset to the head)
  size_t stride = 0;           // elements (values) between consecutive rows
  KvElement type = KvElement::F32;
  const uint32_t* blocks = nullptr;  // the sequence's block table, or nullptr: contiguous
  uint32_t block_shift = 0;
};

// Element offset of row j from rows.base.
size_t kv_row_offset(const KvRows& rows, size_t j);

// out = Σ_j softmax_j(scale · q·k_j) v_j over rows j in [first, first + n).
// scores: scratch of n floats. q and out: head_dim floats. keys and values have the same element
// type. Uses the active ISA (F16 and Q8_0 rows converted to floats in registers); deterministic
// for a given ISA.
void attend_one_head(const float* q, const KvRows& keys, const KvRows& values, size_t first,
                     size_t n, size_t head_dim, float scale, float* scores, float* out);
// The g query heads that share one KV head (grouped-query attention): q and out hold g rows of
// head_dim floats, scores g * n floats. Each head's result is bit for bit what attend_one_head
// gives it. Where the ISA has a grouped kernel (AVX-512, head_dim up to 256) keys and values are
// converted a tile of 16 rows at a time, once for all g heads.
void attend_head_group(const float* q, size_t g, const KvRows& keys, const KvRows& values,
                       size_t first, size_t n, size_t head_dim, float scale, float* scores,
                       float* out);
// Query rows of several tokens of one sequence that attend to rows from the same `first`: token i
// has g query heads (those sharing one KV head) at q + i * q_stride, g rows of head_dim floats, and
// reads rows [first, first + n[i]) (its causal range); its results go to out + i * out_stride
// likewise.
struct QueryTile {
  const float* q = nullptr;
  size_t q_stride = 0;
  float* out = nullptr;
  size_t out_stride = 0;
  size_t n_tok = 0, g = 0;
  size_t first = 0;
  const size_t* n = nullptr;  // n_tok row counts, each at least 1
};
// Every (token, head) of the tile: bit for bit what attend_head_group gives each token alone.
// With AVX-512 (head_dim up to 256) each tile of 16 key (then value) rows is converted once for
// all the tile's query rows, so a prompt reads its keys and values once per tile of tokens, not
// once per token (and no n x n score matrix exists: scores holds n_tok * g * max(n) floats).
void attend_query_tile(const QueryTile& tile, const KvRows& keys, const KvRows& values,
                       size_t head_dim, float scale, float* scores);
// The scalar reference (each row converted to floats, then plain sums in element order).
void attend_one_head_reference(const float* q, const KvRows& keys, const KvRows& values,
                               size_t first, size_t n, size_t head_dim, float scale, float* scores,
                               float* out);

}  // namespace minillm::kernels
