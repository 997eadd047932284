// A loaded model: hyperparameters plus weights that stay in the memory-mapped file.
// Immutable after load, so one Model can be shared by many sessions and threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minillm/tensor_type.h"

namespace minillm {

// The hyperparameters of a Llama/Mistral-family model, whatever file it came from.
struct ModelConfig {
  std::string architecture;            // "llama" (Llama 1/2/3 and Mistral GGUF files use it)
  std::string name;                    // general.name, informational
  uint32_t n_vocab = 0;                // rows of the embedding / output matrices
  uint32_t n_ctx_train = 0;            // context length the model was trained with
  uint32_t n_embd = 0;                 // model width
  uint32_t n_layer = 0;                // transformer blocks
  uint32_t n_head = 0;                 // query heads
  uint32_t n_head_kv = 0;              // key/value heads (n_head / n_head_kv queries share one)
  uint32_t head_dim = 0;               // width of one head
  uint32_t n_ff = 0;                   // feed-forward hidden width (of each expert)
  uint32_t n_rot = 0;                  // leading dimensions of each head that RoPE rotates
  float rms_eps = 1e-5f;               // RMSNorm epsilon
  float rope_theta = 10000.0f;         // RoPE base frequency
  float rope_freq_scale = 1.0f;        // linear RoPE scaling: positions are multiplied by this
  uint32_t sliding_window = 0;         // attention window in tokens (Mistral v0.1); 0 = unlimited
  uint32_t n_expert = 0;               // feed-forward experts per block (Mixtral); 0 = dense
  uint32_t n_expert_used = 0;          // experts each token is routed to (top k)
  bool tied_embeddings = false;        // output projection reuses the token embedding
  bool has_rope_freq_factors = false;  // per-dimension RoPE divisors (Llama 3.1 rope_freqs)
  int32_t bos_token = -1;              // -1 = none
  int32_t eos_token = -1;              // -1 = none
};

struct LoadOptions {
  // Re-encode the weight matrices in this type while loading (e.g. Q8_0 or Q4_K for an F16/BF16
  // checkpoint), so quantized kernels run without a converted file. Matrices whose row length is
  // not a multiple of the type's block size keep their type. Norms always stay float.
  std::optional<TensorType> quantize;
  // Move the weight matrices into one region on large pages, in the order decoding reads them,
  // regrouping quantized ones 16 rows at a time for the packed kernels where the CPU gains from
  // it (AVX-512: every quantized type; AVX2: Q4_0 and Q8_0). One core then streams them ~7-9 %
  // faster. Costs one extra pass over the weights at load (about 0.5 s per GB on 2 cores) and no
  // extra memory once loaded, as the file's pages are given back (a tied output matrix is moved as
  // a copy: the embedding rows stay in the file). Skipped when the matrices would take more than
  // 3/4 of physical memory. Results are identical either way.
  bool pack = true;
  // Called as the weight matrices are re-encoded (quantize) and then moved or packed, the slow
  // parts of a large model's load: `done` of `total` matrices, per pass. For a progress display;
  // the library prints nothing itself.
  std::function<void(size_t done, size_t total)> progress = {};
};

class Model {
 public:
  // Loads a .gguf file or a Hugging Face model folder (config.json + model.safetensors or a
  // sharded model.safetensors.index.json; LlamaForCausalLM / MistralForCausalLM /
  // MixtralForCausalLM). Throws minillm::Error naming the key or tensor on any inconsistency:
  // unknown architecture, contradicting hyperparameters, missing tensors, wrong shapes, weight
  // types without a kernel.
  static std::shared_ptr<const Model> load(const std::filesystem::path& path,
                                           const LoadOptions& options = {});
  ~Model();

  const ModelConfig& config() const;
  // Bytes of the weights that a forward pass reads per token (for bandwidth figures); of a
  // mixture of experts, only the experts a token is routed to.
  uint64_t weight_bytes() const;

  struct Impl;  // weights and the file mapping; see src/model/model_impl.h
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace minillm
