// Entry points of the per-ISA translation units (*_avx2.cpp, *_avx512.cpp). Internal to kernels:
// callers go through the dispatching functions (convert_*, matmul, dot_f32), which call these
// only after cpu.cpp has confirmed the instruction set is usable.
// This header must stay declarations-only: it is included by files compiled with -mavx2/-mavx512*,
// and any inline function defined here could leak a wide-ISA copy into the rest of the program.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/attention/attention.h"
#include "kernels/matmul/packed_format.h"
#include "minillm/tensor_type.h"

namespace minillm::kernels::isa {

// One tile of a matrix product: rows [0, n_rows) of W (each `row_stride` bytes, n_in elements)
// times every token of x, into y[t * y_stride + r]. `scratch` holds at least n_rows * n_in floats.
struct MatmulTile {
  TensorType wtype;
  const uint8_t* w;   // first row of the tile
  size_t row_stride;  // bytes per weight row
  size_t n_rows;      // rows in this tile
  size_t n_in;        // elements per row
  const float* x;     // [n_tok][n_in]
  size_t n_tok;
  float* y;         // y[t * y_stride + r] for the tile's rows r
  size_t y_stride;  // n_out of the whole product
  float* scratch;   // [n_rows][n_in] dequantized weights
};

// An integer matrix product (qdot.h) over rows of W: the activations already quantized and
// derived for the weight format (arrays per token, n_sub = n_in / sub_len entries each).
struct QMatmulJob {
  TensorType wtype;
  const uint8_t* w;   // row 0 of W (packed: group 0, each group taking 16 rows' bytes)
  size_t row_stride;  // bytes per weight row
  size_t n_out, n_in, n_tok;
  const int8_t* qa;     // [n_tok][n_in]
  const int32_t* init;  // [n_tok][n_sub]
  const float* da;      // [n_tok][n_sub]
  const float* asf;     // [n_tok][n_sub], or null for formats without a min
  float* y;             // [n_tok][n_out]
  bool packed;          // W in the packed layout of packed_rows.h (see kernel_reads_packed)
  PackedFormat pf;      // its format, when packed
};

// Scratch memory for the per-ISA files, which must not instantiate std::vector or other library
// templates themselves (isa_local.h says why): buffer `slot` (0..7) of the calling thread, at
// least `bytes` long and 64-byte aligned, kept between calls; its contents are unspecified.
// Defined in a plain-ISA file (qmatmul.cpp).
void* thread_scratch(int slot, size_t bytes);

// Memory streaming for the bandwidth probe (stream.h).
uint64_t stream_read_avx2(const void* p, size_t n);
uint64_t stream_read_avx512(const void* p, size_t n);

// Most rows a tile may have.
inline constexpr size_t kMaxTileRows = 256;

void convert_f16_to_f32_avx2(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_f16_avx2(const float* src, uint16_t* dst, size_t n);
void convert_bf16_to_f32_avx2(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_bf16_avx2(const float* src, uint16_t* dst, size_t n);
float dot_f32_avx2(const float* a, const float* b, size_t n);
void matmul_tile_avx2(const MatmulTile& tile);
// Attention pieces (attention.cpp): scores out[j] = scale * q . k_{first+j}, and
// out = sum_j p[j] v_{first+j}; rows where KvRows puts them, F16, F32 or Q8_0 elements.
void attention_scores_avx2(const float* q, const KvRows& k, size_t first, size_t n, size_t head_dim,
                           float scale, float* out);
void attention_values_avx2(const float* p, const KvRows& v, size_t first, size_t n, size_t head_dim,
                           float* out);
void quantize_act_avx2(const float* x, size_t n, int8_t* qa, float* da, int32_t* asum16);
// Rows [row_begin, row_end) of the product; row_begin a multiple of 16.
void qmatmul_rows_avx2(const QMatmulJob& job, size_t row_begin, size_t row_end);
// The same with VEX-encoded VNNI (qgemm_avxvnni.cpp: AVX2 + AVX-VNNI CPUs).
void qmatmul_rows_avxvnni(const QMatmulJob& job, size_t row_begin, size_t row_end);

void convert_f16_to_f32_avx512(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_f16_avx512(const float* src, uint16_t* dst, size_t n);
void convert_bf16_to_f32_avx512(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_bf16_avx512(const float* src, uint16_t* dst, size_t n);
float dot_f32_avx512(const float* a, const float* b, size_t n);
void matmul_tile_avx512(const MatmulTile& tile);
void attention_scores_avx512(const float* q, const KvRows& k, size_t first, size_t n,
                             size_t head_dim, float scale, float* out);
void attention_values_avx512(const float* p, const KvRows& v, size_t first, size_t n,
                             size_t head_dim, float* out);
// The query heads of one KV head for the tokens of a tile (see QueryTile; scores: n_tok * g *
// max(n) floats), over tiles of 16 rows; each (token, head) gets the same bits whatever the tile
// (attend_one_head uses it with one token and one head). Returns false (nothing done) for a
// head_dim above 256, which takes the one-head pieces above.
bool attention_tile_avx512(const QueryTile& tile, const KvRows& k, const KvRows& v, size_t head_dim,
                           float scale, float* scores);
// The same over Q8_0 rows with integer products (attention_q8_avx512.cpp; head dims up to 256).
bool attention_tile_q8_avx512(const QueryTile& tile, const KvRows& k, const KvRows& v,
                              size_t head_dim, float scale, float* scores);
// Softmax and SwiGLU as in activations.h, with a vector e^x.
void softmax_avx512(float* x, size_t n);
bool mask_tokens_avx512(float* x, const uint64_t* allowed, size_t n);
bool mask_tokens_avx2(float* x, const uint64_t* allowed, size_t n);
void swiglu_avx512(const float* gate, const float* up, float* out, size_t n);
void quantize_act_avx512(const float* x, size_t n, int8_t* qa, float* da, int32_t* asum16);
// Rows [row_begin, row_end) of the product; row_begin a multiple of 32.
void qmatmul_rows_avx512(const QMatmulJob& job, size_t row_begin, size_t row_end);

}  // namespace minillm::kernels::isa
