// Sampler: parameter checks and the fixed chain over the sampling steps.
#include "minillm/sampler.h"

#include <cmath>
#include <string>
#include <vector>

#include "minillm/error.h"

namespace minillm {
namespace {

[[noreturn]] void invalid(const std::string& what, double value) {
  throw Error(ErrorKind::InvalidArgument,
              "sampler: " + what + " (got " + std::to_string(value) + ")");
}

}  // namespace

void SamplerParams::validate() const {
  if (!(temperature >= 0.0f) || std::isinf(temperature))
    invalid("temperature must be a finite number >= 0", temperature);
  if (top_k < 0) invalid("top_k must be >= 0 (0 = off)", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) invalid("top_p must be in (0, 1]", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) invalid("min_p must be in [0, 1]", min_p);
  if (!(repeat_penalty > 0.0f) || std::isinf(repeat_penalty))
    invalid("repeat_penalty must be a finite number > 0 (1 = off)", repeat_penalty);
  if (repeat_last_n < 0) invalid("repeat_last_n must be >= 0", repeat_last_n);
  if (!std::isfinite(frequency_penalty))
    invalid("frequency_penalty must be finite", frequency_penalty);
  if (!std::isfinite(presence_penalty))
    invalid("presence_penalty must be finite", presence_penalty);
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0) invalid("logit_bias token id must be >= 0", id);
    if (std::isnan(bias) || (std::isinf(bias) && bias > 0))
      invalid("logit_bias for token " + std::to_string(id) + " must be finite or -inf", bias);
  }
}

Sampler::Sampler(SamplerParams params) : params_(std::move(params)), rng_(params_.seed) {
  params_.validate();
}

int32_t Sampler::sample(std::span<const float> logits) {
  using namespace sampling;
  Candidates c = Candidates::from_logits(logits);
  logit_bias(c, params_.logit_bias);
  const std::vector<int32_t> recent(recent_.begin(), recent_.end());
  penalties(c, recent, params_.repeat_penalty, params_.frequency_penalty, params_.presence_penalty);
  if (params_.temperature == 0.0f) return greedy(c);
  temperature(c, params_.temperature);
  top_k(c, params_.top_k);
  top_p(c, params_.top_p);
  min_p(c, params_.min_p);
  return draw(c, rng_);
}

void Sampler::accept(int32_t token) {
  if (token < 0) throw Error("sampler: cannot accept token id " + std::to_string(token));
  if (params_.repeat_last_n == 0) return;
  recent_.push_back(token);
  while (recent_.size() > static_cast<size_t>(params_.repeat_last_n)) recent_.pop_front();
}

void Sampler::reset() {
  recent_.clear();
  rng_.reseed(params_.seed);
}

}  // namespace minillm
