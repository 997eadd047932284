// Matrix product of a stored weight matrix with float32 activations, and float dot products.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "minillm/tensor_type.h"

namespace minillm::kernels {

class PackedRows;

// Fast: quantized weights are multiplied with activations quantized to int8 per 32 elements
// (integer dot products, see qdot.h); float weights (F32, F16, BF16) use float activations.
// Exact: float32 activations and exactly dequantized weights for every type.
// Both are deterministic: bitwise independent of n_threads and n_tok.
enum class MatmulMode { Fast, Exact };

// The mode a model forward pass uses: the testing override if set, else MINILLM_MATMUL=fast|exact
// if set, else Fast. Throws minillm::Error if MINILLM_MATMUL is malformed.
MatmulMode model_matmul_mode();
void set_matmul_mode_for_testing(std::optional<MatmulMode> mode);

// Weight types matmul accepts: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K ... Q6_K,
// IQ4_NL, IQ4_XS.
bool matmul_supported(TensorType wtype);

// y[t * n_out + o] = sum_i W[o][i] * x[t * n_in + i]   for t < n_tok, o < n_out.
// W is n_out consecutive rows of row_bytes(wtype, n_in) bytes (a GGUF 2-D weight of shape
// [n_in, n_out]). In Exact mode (always for float weights) accumulation is in float32, starting
// from the exactly dequantized weights. Each y element is computed by one dot product whose
// reduction order depends only on n_in and the active ISA, so results are bitwise independent of
// n_threads and n_tok. Work is split by output rows over up to n_threads threads of a persistent
// pool (thread_pool.h); with n_tok > 1 each weight row is dequantized once per call. Throws
// minillm::Error for an unsupported type or n_in not a multiple of the block size.
void matmul(TensorType wtype, const void* w, size_t n_out, size_t n_in, const float* x,
            size_t n_tok, float* y, int n_threads, MatmulMode mode = MatmulMode::Fast);

// The same product with W packed (packed_rows.h): the same results, bit for bit, as with W in
// the file layout.
void matmul(const PackedRows& w, const float* x, size_t n_tok, float* y, int n_threads,
            MatmulMode mode = MatmulMode::Fast);

// One product of a call below: y (n_tok x w->n_out()) = x . W^T, with x the product's own input
// if given, else the call's.
struct PackedProduct {
  const PackedRows* w;
  float* y;
  const float* x = nullptr;  // n_tok rows of w->n_in() floats
};

// Several packed matrices, each applied to the call's activations x (n_tok rows of n_in floats,
// the n_in of every w; e.g. a layer's Q, K and V projections) or to its own (e.g. the experts a
// token chose, each on its own hidden state): the same results, bit for bit, as one matmul per
// matrix. Where their types and widths agree (Fast mode), each distinct input is quantized once
// and the threads share one pass over all the matrices, waiting for each other once. x may be
// null when every product has its own.
void matmul(std::span<const PackedProduct> products, const float* x, size_t n_tok, int n_threads,
            MatmulMode mode = MatmulMode::Fast);

// sum_i a[i] * b[i] in float32 with the active ISA's reduction order (the one matmul uses).
float dot_f32(const float* a, const float* b, size_t n);

}  // namespace minillm::kernels
