// Format-independent views of a Llama model's weights. Loaders (GGUF, safetensors) bind file
// tensors to these views; the graph reads only these, never file names or formats.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "minillm/tensor_type.h"

namespace minillm {
namespace kernels {
class PackedRows;
}

// A 2-D weight matrix in the file's encoding: `rows` rows of `cols` elements, each row
// row_bytes(type, cols) bytes, rows contiguous. For a projection y = W x, cols is the input
// width and rows the output width.
struct MatrixView {
  TensorType type = TensorType::F32;
  const void* data = nullptr;  // (rows, row_bytes(type, cols)) in the mapping, an owned copy or
                               // the load-time region (Model::Impl::region)
  uint32_t rows = 0;           // output features
  uint32_t cols = 0;           // input features
  // The same matrix regrouped for the packed kernels, if packed at load (pack_weights.h); the
  // graph then reads only this, and `data` is null when its bytes were an owned copy.
  std::shared_ptr<const kernels::PackedRows> packed;
};

struct LayerWeights {
  std::vector<float> attn_norm;  // (n_embd)
  MatrixView wq;                 // (n_head * head_dim, n_embd)
  MatrixView wk;                 // (n_head_kv * head_dim, n_embd)
  MatrixView wv;                 // (n_head_kv * head_dim, n_embd)
  MatrixView wo;                 // (n_embd, n_head * head_dim)
  std::vector<float> ffn_norm;   // (n_embd)
  MatrixView w_gate;             // (n_ff, n_embd)
  MatrixView w_up;               // (n_ff, n_embd)
  MatrixView w_down;             // (n_embd, n_ff)

  // The seven projection matrices, in graph order.
  std::array<MatrixView*, 7> matrices() { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
  std::array<const MatrixView*, 7> matrices() const {
    return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down};
  }
};

struct ModelWeights {
  MatrixView token_embd;                 // (n_vocab, n_embd): row t is token t's embedding
  std::vector<LayerWeights> layers;      // (n_layer)
  std::vector<float> output_norm;        // (n_embd)
  MatrixView output;                     // (n_vocab, n_embd); equals token_embd when tied
  std::vector<float> rope_freq_factors;  // (n_rot / 2) divisors of RoPE frequencies, or empty
};

}  // namespace minillm
