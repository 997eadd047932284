// Small random-weight Llama and Mixtral-style GGUF files that tests write for themselves, so that
// forward-pass tests need no shared data. Spelled from the GGUF conventions (tensor names, shapes
// [cols, rows(, experts)]), not from the library's tensor table.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <initializer_list>
#include <memory>

#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/session.h"
#include "minillm/tensor_type.h"

namespace minillm::test {

struct TinyModelSpec {
  uint32_t n_vocab = 96, n_embd = 64, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 96;
  uint32_t head_dim = 0;  // 0: n_embd / n_head; else written as attention.key_length
  uint32_t n_expert = 0, n_expert_used = 0;
  bool split_experts = false;         // experts as ffn_*.E.weight instead of 3-D ffn_*_exps
  TensorType type = TensorType::F32;  // of the projection matrices (the router stays F32)
  float rope_theta = 10000.0f;
  uint64_t seed = 7;
  // Called before the file is written: tests change keys or tensors to make bad files.
  std::function<void(GGUFWriter&)> tamper = {};
  // Tensor names to leave out, and tensors whose shape to replace (before tamper).
  std::vector<std::string> omit;
  std::vector<std::pair<std::string, std::vector<uint64_t>>> reshape;
};

// Writes the model and returns its path (under the temporary folder; unique per call).
std::filesystem::path write_tiny_model(const TinyModelSpec& spec, const std::string& stem);

// The logits of every position of `tokens` from one Session (n_batch tokens per pass).
std::vector<float> eval_all(const std::shared_ptr<const Model>& model,
                            const std::vector<int32_t>& tokens, KvCacheType kv, int threads = 2,
                            uint32_t n_batch = 512);

// Passes of each size in `n_batches` change no logit by more than 1e-4 (the matrix products take
// other paths), and 1 thread gives the bits of 2 (gtest expectations).
void expect_batching_and_threads_agree(const std::shared_ptr<const Model>& model,
                                       const std::vector<int32_t>& tokens, KvCacheType kv,
                                       std::initializer_list<uint32_t> n_batches);

}  // namespace minillm::test
