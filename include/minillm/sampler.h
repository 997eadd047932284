// Choosing the next token from the logits of the last position.
//
//   minillm::Sampler sampler({.temperature = 0.7f, .top_k = 40, .seed = 1234});
//   int32_t id = sampler.sample(logits);  // logits: one float per vocabulary entry
//   sampler.accept(id);                   // feeds the repetition penalties
//
// The chain, in order: logit bias, repetition / frequency / presence penalties over the last
// repeat_last_n accepted tokens, then either greedy (temperature 0) or temperature, top-k, top-p,
// min-p and a seeded random draw. The steps are also available one by one (namespace sampling)
// to build other chains. The random stream is the library's own (splitmix64 seeding xoshiro256**)
// so a seed gives the same draws on every platform and standard library.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <utility>
#include <vector>

namespace minillm {

struct SamplerParams {
  float temperature = 0.8f;        // 0 = greedy (argmax, lowest id on ties)
  int32_t top_k = 40;              // keep the k most likely; 0 = off
  float top_p = 0.95f;             // keep the smallest set with probability >= top_p; 1 = off
  float min_p = 0.05f;             // drop tokens with p < min_p * p_max; 0 = off
  float repeat_penalty = 1.0f;     // positive logits / penalty, negative * penalty; 1 = off
  int32_t repeat_last_n = 64;      // how many recent tokens the penalties look at; 0 = off
  float frequency_penalty = 0.0f;  // logit -= count * frequency_penalty
  float presence_penalty = 0.0f;   // logit -= presence_penalty if the token occurred
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logit; -INFINITY bans
  uint64_t seed = 0;

  // Throws Error naming the first invalid parameter.
  void validate() const;
};

// xoshiro256** (Blackman & Vigna), its state filled from the seed by splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  // A generator with this exact xoshiro256** state (not all zero), for checking published vectors.
  static Rng from_state(const std::array<uint64_t, 4>& state);
  void reseed(uint64_t seed);
  uint64_t next();
  // Uniform in [0, 1): the top 53 bits of next() times 2^-53.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // One splitmix64 step: advances `state` and returns the next output.
  static uint64_t splitmix64(uint64_t& state);

 private:
  uint64_t s_[4];
};

namespace sampling {

struct Candidate {
  int32_t id;
  float logit;
  float prob;  // filled by softmax()
};

// The tokens still in play. Fresh from logits they are in id order (items[i].id == i); steps
// that cut the list first sort it by logit, highest first (lower id first on ties).
struct Candidates {
  std::vector<Candidate> items;
  bool sorted = false;

  static Candidates from_logits(std::span<const float> logits);
};

void logit_bias(Candidates& c, std::span<const std::pair<int32_t, float>> bias);
// `recent`: the window of accepted tokens the penalties look at.
void penalties(Candidates& c, std::span<const int32_t> recent, float repeat_penalty,
               float frequency_penalty, float presence_penalty);
void temperature(Candidates& c, float t);  // t > 0
void top_k(Candidates& c, int32_t k);      // k = 0: no cut
void top_p(Candidates& c, float p);
void min_p(Candidates& c, float p);
// Sorts and sets prob = softmax(logit) over the candidates.
void softmax(Candidates& c);
int32_t greedy(const Candidates& c);
// Softmax, then the first candidate whose cumulative probability exceeds u * total, u from rng.
int32_t draw(Candidates& c, Rng& rng);

}  // namespace sampling

class Sampler {
 public:
  explicit Sampler(SamplerParams params = {});  // validates

  // Picks a token; does not record it (call accept). Throws Error for empty logits, NaN logits,
  // bias or history ids outside the logits, or when every token is banned.
  int32_t sample(std::span<const float> logits);
  void accept(int32_t token);
  void reset();  // forget the history and restart the random stream from the seed

  const SamplerParams& params() const { return params_; }

 private:
  SamplerParams params_;
  Rng rng_;
  std::deque<int32_t> recent_;  // at most repeat_last_n tokens, oldest first
};

}  // namespace minillm
