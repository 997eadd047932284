// The reference-logits metric of ../shared/README.md, computed in C++ exactly as
// reference/compare_logits.py does: per position P = softmax(truth), Q = softmax(candidate),
// KL = Σ P (log P − log Q); top-1 agreement at decisive positions; max |difference|.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace minillm::test {

struct LogitComparison {
  double mean_kld = 0;
  double max_kld = 0;
  double max_abs_diff = 0;
  size_t n_decisive = 0;
  std::vector<size_t> top1_fail_positions;  // decisive positions whose argmax differs
  bool all_finite = true;
};

// truth and candidate: n_positions × n_vocab, position-major.
LogitComparison compare_logits(std::span<const float> truth, std::span<const float> candidate,
                               size_t n_vocab, double top1_margin_rel);

}  // namespace minillm::test
