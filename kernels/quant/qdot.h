// Integer ("fast") matrix product of quantized weights with int8-quantized activations: the shared
// definitions, the activation quantizer and the scalar reference (internal to kernels).
//
// Every quantized weight type is viewed as sub-blocks of L = 16 or 32 elements, each element an
// unsigned byte u, with per-sub-block float factors taken exactly from the block fields:
//   w = dw * (u - o) + mw                  (mw = 0 for types without a min)
// Activations are quantized per 32 elements: a = da * qa, qa in [-127, 127] (round to nearest
// even), with the sum of qa per 16 elements kept. For one (row, token) the product is then, over
// sub-blocks j in order, starting from acc = 0:
//   isum = sum_{i in j} (u_i - o) * qa_i                     (exact int32)
//   acc  = fma(float(isum), dw_j * da_j, acc)
//   acc  = fma(float(asum_j), mw_j * da_j, acc)             (types with a min only)
// This sequence is the definition every ISA implements: the integer parts are exact and the float
// operations are the same IEEE operations in the same order, so all paths, batch sizes and
// thread counts give bitwise identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "minillm/tensor_type.h"

namespace minillm::kernels::q {

struct Format {
  int sub_len = 0;       // L: 16 or 32
  int offset = 0;        // o
  bool has_min = false;  // mw present
};

// Formats whose bytes are u = q + 128 for a signed byte q (Q8_0, IQ4_NL, IQ4_XS): u - o = q. The
// AVX2 kernels multiply q itself (VPMADDUBSW would saturate on u) and remove no offset (o_eff 0).
bool signed_bytes(const Format& f);

// The format of a quantized weight type; sub_len == 0 for types without an integer path.
Format format_of(TensorType t);

// Unpacks n elements (whole blocks) of a weight row: u[n] in natural element order, and one dw
// (and mw if the format has a min) per sub-block. This is the reference decoding; SIMD decoders
// must produce the same bytes and floats.
void unpack_row(TensorType t, const uint8_t* row, size_t n, uint8_t* u, float* dw, float* mw);

// Activation row quantization (n a multiple of 32): qa[n], da[n/32], asum16[n/16].
void quantize_act_row(const float* x, size_t n, int8_t* qa, float* da, int32_t* asum16);

// Per-token activation data in the form the kernels read, for one weight format.
struct ActRow {
  const int8_t* qa;     // [n_in]
  const int32_t* init;  // [n_sub]: -o_eff * asum_j, the starting value of isum's accumulator
  const float* da;      // [n_sub]: da of the 32-block holding sub-block j
  const float* asf;     // [n_sub]: float(asum_j) (formats with a min)
};

// Fills init/da/asf for sub-blocks of length sub_len from the quantizer's output. o_eff is the
// offset the kernel removes through init (a kernel that handles signs itself passes 0).
void derive_act(size_t n, int sub_len, int o_eff, bool has_min, const float* da32,
                const int32_t* asum16, int32_t* init, float* da, float* asf);

// The reference: y = row . activation per the definition above, from unpacked values.
float dot_ref(const Format& f, const uint8_t* u, const float* dw, const float* mw, size_t n,
              const ActRow& a);

}  // namespace minillm::kernels::q

namespace minillm::kernels {
struct PackedProduct;

// The integer matrix product (matmul's Fast mode for quantized weights): activations quantized
// once per call by all threads, then rows split over the threads. Arguments already checked.
void qmatmul(TensorType wtype, const void* w, size_t n_out, size_t n_in, const float* x,
             size_t n_tok, float* y, int n_threads);
// Products of packed matrices (packed_rows.h) of one type and input width, each with the call's
// activations x or its own (PackedProduct::x), every distinct input quantized once, in one pool
// job: bitwise the results of separate products.
void qmatmul(std::span<const PackedProduct> products, const float* x, size_t n_tok, int n_threads);
}  // namespace minillm::kernels
