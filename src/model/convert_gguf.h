// Hugging Face model folder -> GGUF file ("mini-llm convert").
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>

#include "minillm/tensor_type.h"

namespace minillm {

struct ConvertOptions {
  // Type of the weight matrices; nullopt keeps each one's type. Matrices whose row length the
  // type's block does not divide keep their type. Norms (and RoPE factors) are always F32.
  std::optional<TensorType> type;
  // Hears (done, total) matrices while they are re-encoded (with `type`); for progress displays.
  std::function<void(size_t done, size_t total)> progress = {};
};

struct ConvertResult {
  size_t n_tensors = 0;
  size_t n_kept_type = 0;      // matrices left in their type because of their row length
  size_t n_vocab_padding = 0;  // placeholder tokens added to match the embedding's rows
};

// Loads the folder exactly as Model::load does (Q/K rows already in GGUF's adjacent-pair RoPE
// order) plus its tokenizer, and writes a GGUF v3 file of architecture "llama" with the standard
// llama.* and tokenizer.ggml.* keys and tensor names. Throws Error on any problem; `out` is
// written through a temporary file, so a failure leaves no partial file.
ConvertResult convert_hf_to_gguf(const std::filesystem::path& folder,
                                 const std::filesystem::path& out, const ConvertOptions& options);

}  // namespace minillm
