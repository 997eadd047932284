// The sampler's steps, each a small function over the candidate list.
#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "minillm/error.h"
#include "minillm/sampler.h"

namespace minillm::sampling {
namespace {

bool higher(const Candidate& a, const Candidate& b) {
  if (a.logit != b.logit) return a.logit > b.logit;
  return a.id < b.id;
}

void sort_all(Candidates& c) {
  if (c.sorted) return;
  std::sort(c.items.begin(), c.items.end(), higher);
  c.sorted = true;
}

// Applies fn(candidate, extra) to the candidates named in `changes`: by index while the list is
// still in id order, through a map once it has been reordered.
template <class Change, class Fn>
void for_ids(Candidates& c, const std::unordered_map<int32_t, Change>& changes, Fn fn) {
  if (changes.empty()) return;
  if (!c.sorted) {
    for (const auto& [id, change] : changes) {
      if (id < 0 || static_cast<size_t>(id) >= c.items.size())
        throw Error("sampler: token id " + std::to_string(id) + " is outside the " +
                    std::to_string(c.items.size()) + " logits");
      fn(c.items[id], change);
    }
    return;
  }
  for (Candidate& cand : c.items)
    if (const auto it = changes.find(cand.id); it != changes.end()) fn(cand, it->second);
}

}  // namespace

Candidates Candidates::from_logits(std::span<const float> logits) {
  if (logits.empty()) throw Error("sampler: no logits to sample from");
  Candidates c;
  c.items.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i])) throw Error("sampler: logit " + std::to_string(i) + " is NaN");
    c.items[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
  }
  return c;
}

void logit_bias(Candidates& c, std::span<const std::pair<int32_t, float>> bias) {
  std::unordered_map<int32_t, float> total;
  for (const auto& [id, b] : bias) total[id] += b;
  for_ids(c, total, [](Candidate& cand, float b) { cand.logit += b; });
}

void penalties(Candidates& c, std::span<const int32_t> recent, float repeat_penalty,
               float frequency_penalty, float presence_penalty) {
  if (repeat_penalty == 1.0f && frequency_penalty == 0.0f && presence_penalty == 0.0f) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t id : recent) ++counts[id];
  for_ids(c, counts, [&](Candidate& cand, int count) {
    // Dividing a positive logit and multiplying a negative one both make the token less likely.
    if (cand.logit > 0)
      cand.logit /= repeat_penalty;
    else
      cand.logit *= repeat_penalty;
    cand.logit -= static_cast<float>(count) * frequency_penalty + presence_penalty;
  });
}

void temperature(Candidates& c, float t) {
  for (Candidate& cand : c.items) cand.logit /= t;
}

void top_k(Candidates& c, int32_t k) {
  if (k <= 0 || static_cast<size_t>(k) >= c.items.size()) return;
  if (!c.sorted) {
    // Only the k best need ordering.
    std::partial_sort(c.items.begin(), c.items.begin() + k, c.items.end(), higher);
    c.sorted = true;
  }
  c.items.resize(k);
}

void softmax(Candidates& c) {
  sort_all(c);
  const float max_logit = c.items.front().logit;
  if (std::isinf(max_logit) && max_logit < 0)
    throw Error("sampler: every token has logit -infinity (all banned)");
  // Double precision keeps tiny probabilities and the running sums accurate.
  double sum = 0;
  std::vector<double> e(c.items.size());
  for (size_t i = 0; i < c.items.size(); ++i) {
    e[i] = std::exp(static_cast<double>(c.items[i].logit) - static_cast<double>(max_logit));
    sum += e[i];
  }
  for (size_t i = 0; i < c.items.size(); ++i) c.items[i].prob = static_cast<float>(e[i] / sum);
}

void top_p(Candidates& c, float p) {
  if (p >= 1.0f) return;
  softmax(c);
  // The smallest prefix (most likely first) whose probability reaches p.
  double cumulative = 0;
  size_t keep = c.items.size();
  for (size_t i = 0; i < c.items.size(); ++i) {
    cumulative += c.items[i].prob;
    if (cumulative >= p) {
      keep = i + 1;
      break;
    }
  }
  c.items.resize(keep);
}

void min_p(Candidates& c, float p) {
  if (p <= 0.0f) return;
  softmax(c);
  const float threshold = p * c.items.front().prob;
  size_t keep = 1;  // the most likely token always stays
  while (keep < c.items.size() && c.items[keep].prob >= threshold) ++keep;
  c.items.resize(keep);
}

int32_t greedy(const Candidates& c) {
  if (c.items.empty()) throw Error("sampler: no candidates left");
  const auto best = std::min_element(c.items.begin(), c.items.end(), higher);
  if (std::isinf(best->logit) && best->logit < 0)
    throw Error("sampler: every token has logit -infinity (all banned)");
  return best->id;
}

int32_t draw(Candidates& c, Rng& rng) {
  if (c.items.empty()) throw Error("sampler: no candidates left");
  softmax(c);
  double total = 0;
  for (const Candidate& cand : c.items) total += cand.prob;
  const double target = rng.uniform() * total;
  double cumulative = 0;
  for (const Candidate& cand : c.items) {
    cumulative += cand.prob;
    if (target < cumulative) return cand.id;
  }
  return c.items.back().id;  // rounding left target at the very end
}

}  // namespace minillm::sampling
