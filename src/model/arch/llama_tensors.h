// The tensor layout of a Llama block in one table: GGUF and Hugging Face names, shapes and the
// LayerWeights field each binds to. Both loaders, convert and the synthetic-model writer walk
// this table, so a tensor's name and shape are spelled in one place only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minillm/model.h"
#include "model/weights.h"

namespace minillm {

class GGUFWriter;

// A width taken from the config; None marks "no second dimension" (vectors) or "no RoPE heads".
enum class LlamaDim { None, Embd, QWidth, KVWidth, FF, Heads, KVHeads, Experts };
uint32_t llama_dim(const ModelConfig& c, LlamaDim d);

struct LlamaLayerTensor {
  const char* gguf;  // after "blk.N."
  const char* hf;    // after "model.layers.N."
  // A matrix has `rows` outputs and `cols` inputs; a vector (norm) has `rows` entries.
  LlamaDim rows, cols;
  MatrixView LayerWeights::*matrix;          // null for vectors
  std::vector<float> LayerWeights::*vector;  // null for matrices
  LlamaDim rope_heads;  // Q/K: heads whose rows Hugging Face orders for split-half RoPE
  enum class Ffn { Any, Dense, Moe } ffn = Ffn::Any;  // the feed-forward kind it belongs to

  // Whether a block of this model has the tensor.
  bool in(const ModelConfig& c) const {
    return ffn == Ffn::Any || (ffn == Ffn::Moe) == (c.n_expert > 0);
  }
};

// One block's tensors, in the order GGUF files (and convert) list them; a block has those that
// are in() its config, and a mixture-of-experts block the expert tensors below besides.
extern const LlamaLayerTensor kLlamaLayerTensors[10];

// A matrix of every expert of a mixture-of-experts block (n_expert > 0).
struct ExpertTensor {
  const char* gguf_stacked;  // "ffn_gate_exps.weight": all experts in one 3-D tensor
  const char* gguf_single;   // "ffn_gate": older files hold expert E as "blk.N.ffn_gate.E.weight"
  const char* hf;            // "w1": "model.layers.N.block_sparse_moe.experts.E.w1.weight"
  LlamaDim rows, cols;       // of one expert's matrix
  MatrixView ExpertWeights::*matrix;

  std::string gguf_single_name(uint32_t layer, uint32_t expert) const;
  std::string hf_name(uint32_t layer, uint32_t expert) const;
};
extern const ExpertTensor kExpertTensors[3];

std::string gguf_block_prefix(uint32_t layer);  // "blk.3."
std::string hf_layer_prefix(uint32_t layer);    // "model.layers.3."

// Writes general.architecture, general.name and the llama.* hyperparameter keys that
// read_gguf_config reads back.
void write_llama_metadata(GGUFWriter& w, const ModelConfig& c);

// Shared by both loaders' binders: "[a, b]" for shape errors, and the error for a matrix type
// without a matmul kernel (`source` names the file).
std::string shape_text(const std::vector<uint64_t>& shape);
void require_matmul_kernel(const std::string& source, const std::string& tensor, TensorType type);

}  // namespace minillm
