// An independent float64 forward pass with Eigen, straight from a GGUF file's weights (dequantized
// exactly), for the Llama layout and Mixtral-style mixtures of experts: the truth the forward-pass
// tests compare Session::eval against. No KV cache, no batching, no quantized activations: each
// position attends to all earlier ones in plain matrix algebra.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace minillm::test {

struct ReferenceResult {
  std::vector<double> logits;  // n_tokens × n_vocab, position-major
  size_t n_vocab = 0;
  // Per position, the smallest gap between the k-th and (k+1)-th router logit over all layers
  // (+inf for dense models): where it is tiny, rounding may route a token differently.
  std::vector<double> routing_gap;
};

ReferenceResult reference_forward(const std::filesystem::path& gguf,
                                  const std::vector<int32_t>& tokens);

}  // namespace minillm::test
