// Hugging Face model folder (config.json + safetensors) -> ModelConfig / ModelWeights.
#pragma once

#include <filesystem>
#include <memory>

#include "model/model_impl.h"

namespace minillm {

// Reads config.json (and generation_config.json for missing BOS/EOS ids), maps the safetensors
// file(s) and binds the tensors. Q and K projections are reordered from Hugging Face's half-split
// RoPE layout into the adjacent-pair layout the graph (and GGUF) uses, into owned buffers; all
// other matrices stay in the mapping. Throws Error naming the file and tensor on any mismatch.
std::unique_ptr<Model::Impl> load_hf_folder(const std::filesystem::path& folder);

// Reorders the rows of a Q or K projection of `n_heads` heads of `head_dim` rows: within each
// head, row i of the first half and row i of the second half become rows 2i and 2i+1.
// `inverse` does the opposite (adjacent pairs -> half split).
void unpermute_rope_rows(const uint8_t* src, uint8_t* dst, uint32_t n_heads, uint32_t head_dim,
                         size_t row_bytes, bool inverse = false);

}  // namespace minillm
