#include "model/quantize_weights.h"

#include <string>
#include <vector>

#include "kernels/matmul/matmul.h"
#include "kernels/quant/quant.h"
#include "minillm/error.h"

namespace minillm {

// Dequantizes each row to float and quantizes it again; rows are independent, so threads split
// them.
MatrixView requantize_matrix(const MatrixView& m, TensorType type, std::vector<uint8_t>& buf) {
  const size_t src_rb = row_bytes(m.type, m.cols), dst_rb = row_bytes(type, m.cols);
  buf.resize(dst_rb * m.rows);
  const auto* src = static_cast<const uint8_t*>(m.data);
  bool failed = false;
#pragma omp parallel
  {
    std::vector<float> row(m.cols);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < int64_t(m.rows); ++r) {
      try {
        kernels::dequantize_row(m.type, src + size_t(r) * src_rb, row.data(), m.cols);
        kernels::quantize_row(type, row.data(), buf.data() + size_t(r) * dst_rb, m.cols);
      } catch (...) {  // exceptions must not leave an OpenMP region
#pragma omp atomic write
        failed = true;
      }
    }
  }
  if (failed)
    throw Error(ErrorKind::Unsupported, "cannot convert a " + std::string(type_name(m.type)) +
                                            " matrix to " + std::string(type_name(type)));
  return MatrixView{type, buf.data(), m.rows, m.cols, nullptr};
}

size_t quantize_weights(Model::Impl& impl, TensorType type, const WeightProgress& progress) {
  if (!kernels::can_quantize(type) || !kernels::matmul_supported(type))
    throw Error(ErrorKind::Unsupported,
                "quantizing weights to " + std::string(type_name(type)) +
                    " is not supported (mini-llm can quantize to F32, F16, BF16, Q8_0, Q4_0, Q4_1, "
                    "Q5_0, Q5_1, Q2_K ... Q6_K, IQ4_NL and IQ4_XS)");
  return requantize_weights(impl, type, progress);
}

size_t requantize_weights(Model::Impl& impl, TensorType type, const WeightProgress& progress) {
  ModelWeights& w = impl.weights;
  const bool tied = w.output.data == w.token_embd.data;
  std::vector<MatrixView*> matrices = {&w.token_embd};
  if (!tied) matrices.push_back(&w.output);
  for (LayerWeights& l : w.layers)
    for (MatrixView* m : l.matrices()) matrices.push_back(m);
  size_t kept = 0;
  for (size_t i = 0; i < matrices.size(); ++i) {
    MatrixView* m = matrices[i];
    if (progress) progress(i, matrices.size());
    if (m->type == type) continue;
    if (m->cols % traits(type).block_size != 0) {
      ++kept;  // e.g. a feed-forward width that is not a multiple of 32 or 256
      continue;
    }
    impl.owned.emplace_back();
    *m = requantize_matrix(*m, type, impl.owned.back());
  }
  if (progress) progress(matrices.size(), matrices.size());
  if (tied) w.output = w.token_embd;
  return kept;
}

}  // namespace minillm
