// Format-independent views of a Llama model's weights. Loaders (GGUF, safetensors) bind file
// tensors to these views; the graph reads only these, never file names or formats.
#pragma once

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

// One feed-forward expert of a mixture-of-experts block: a SwiGLU network like the dense one.
struct ExpertWeights {
  MatrixView gate;  // (n_ff, n_embd)
  MatrixView up;    // (n_ff, n_embd)
  MatrixView down;  // (n_embd, n_ff)
};

struct LayerWeights {
  std::vector<float> attn_norm;  // (n_embd)
  MatrixView wq;                 // (n_head * head_dim, n_embd)
  MatrixView wk;                 // (n_head_kv * head_dim, n_embd)
  MatrixView wv;                 // (n_head_kv * head_dim, n_embd)
  MatrixView wo;                 // (n_embd, n_head * head_dim)
  std::vector<float> ffn_norm;   // (n_embd)
  // Dense feed-forward (n_expert == 0).
  MatrixView w_gate;  // (n_ff, n_embd)
  MatrixView w_up;    // (n_ff, n_embd)
  MatrixView w_down;  // (n_embd, n_ff)
  // Mixture of experts (n_expert > 0): the router scores each expert for a token.
  MatrixView router;                   // (n_expert, n_embd)
  std::vector<ExpertWeights> experts;  // (n_expert)

  // The projection matrices, in graph order: attention, then the dense feed-forward or each
  // expert's gate, up and down. The router is not among them: it is small and stays as loaded.
  std::vector<MatrixView*> matrices() {
    std::vector<MatrixView*> m = {&wq, &wk, &wv, &wo};
    if (experts.empty()) m.insert(m.end(), {&w_gate, &w_up, &w_down});
    for (ExpertWeights& e : experts) m.insert(m.end(), {&e.gate, &e.up, &e.down});
    return m;
  }
  std::vector<const MatrixView*> matrices() const {
    const auto m = const_cast<LayerWeights*>(this)->matrices();
    return {m.begin(), m.end()};
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
