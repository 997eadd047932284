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
enum class LlamaDim { None, Embd, QWidth, KVWidth, FF, Heads, KVHeads };
uint32_t llama_dim(const ModelConfig& c, LlamaDim d);

struct LlamaLayerTensor {
  const char* gguf;  // after "blk.N."
  const char* hf;    // after "model.layers.N."
  // A matrix has `rows` outputs and `cols` inputs; a vector (norm) has `rows` entries.
  LlamaDim rows, cols;
  MatrixView LayerWeights::*matrix;          // null for vectors
  std::vector<float> LayerWeights::*vector;  // null for matrices
  LlamaDim rope_heads;  // Q/K: heads whose rows Hugging Face orders for split-half RoPE
};

// One block's tensors, in the order GGUF files (and convert) list them.
extern const LlamaLayerTensor kLlamaLayerTensors[9];

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
