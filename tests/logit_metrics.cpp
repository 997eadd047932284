#include "logit_metrics.h"

#include <algorithm>
#include <cmath>

namespace minillm::test {
namespace {

std::vector<double> log_softmax(std::span<const float> z) {
  const double max = *std::max_element(z.begin(), z.end());
  double sum = 0;
  for (float v : z) sum += std::exp(double(v) - max);
  const double log_sum = std::log(sum);
  std::vector<double> out(z.size());
  for (size_t i = 0; i < z.size(); ++i) out[i] = double(z[i]) - max - log_sum;
  return out;
}

// Lowest index among equal maxima, as numpy's argmax.
size_t argmax(std::span<const float> z) {
  return size_t(std::max_element(z.begin(), z.end()) - z.begin());
}

}  // namespace

LogitComparison compare_logits(std::span<const float> truth, std::span<const float> candidate,
                               size_t n_vocab, double top1_margin_rel) {
  LogitComparison r;
  const size_t n_pos = truth.size() / n_vocab;
  double kl_sum = 0;
  for (size_t p = 0; p < n_pos; ++p) {
    const auto t = truth.subspan(p * n_vocab, n_vocab);
    const auto c = candidate.subspan(p * n_vocab, n_vocab);
    for (size_t i = 0; i < n_vocab; ++i) {
      if (!std::isfinite(c[i])) r.all_finite = false;
      r.max_abs_diff = std::max(r.max_abs_diff, std::abs(double(t[i]) - double(c[i])));
    }
    if (!r.all_finite) continue;
    const auto lp = log_softmax(t), lq = log_softmax(c);
    double kl = 0;
    for (size_t i = 0; i < n_vocab; ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
    kl_sum += kl;
    r.max_kld = std::max(r.max_kld, kl);

    std::vector<float> sorted(t.begin(), t.end());
    std::sort(sorted.begin(), sorted.end());
    const double margin = double(sorted[n_vocab - 1]) - double(sorted[n_vocab - 2]);
    const double range = double(sorted[n_vocab - 1]) - double(sorted[0]);
    if (margin > top1_margin_rel * range) {
      ++r.n_decisive;
      if (argmax(t) != argmax(c)) r.top1_fail_positions.push_back(p);
    }
  }
  r.mean_kld = n_pos ? kl_sum / double(n_pos) : 0;
  return r;
}

}  // namespace minillm::test
