#include <cmath>
#include <string>

#include "minillm/error.h"
#include "model/config_check.h"

namespace minillm {

void check_config(ModelConfig& c, const std::string& source) {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorKind::BadFile, source + ": " + what);
  };
  if (c.n_embd == 0) fail("embedding length is 0");
  if (c.n_layer == 0) fail("block count is 0");
  if (c.n_head == 0) fail("attention head count is 0");
  if (c.n_head_kv == 0) fail("attention KV head count is 0");
  if (c.n_head % c.n_head_kv != 0)
    fail("head count " + std::to_string(c.n_head) + " is not a multiple of the KV head count " +
         std::to_string(c.n_head_kv));
  if (c.head_dim == 0) {
    if (c.n_embd % c.n_head != 0)
      fail("embedding length " + std::to_string(c.n_embd) + " is not divisible by head count " +
           std::to_string(c.n_head));
    c.head_dim = c.n_embd / c.n_head;
  }
  if (c.n_rot == 0) c.n_rot = c.head_dim;
  if (c.n_rot > c.head_dim || c.n_rot % 2 != 0)
    fail("RoPE dimension count " + std::to_string(c.n_rot) +
         " must be even and at most the head size " + std::to_string(c.head_dim));
  if (c.n_ff == 0) fail("feed-forward length is 0");
  if (c.n_vocab == 0) fail("vocabulary is empty");
  if (!(c.rms_eps > 0.0f) || !std::isfinite(c.rms_eps))
    fail("RMS norm epsilon " + std::to_string(c.rms_eps) + " must be positive");
  if (!(c.rope_theta > 0.0f) || !std::isfinite(c.rope_theta))
    fail("RoPE base " + std::to_string(c.rope_theta) + " must be positive");
  if (!(c.rope_freq_scale > 0.0f) || !std::isfinite(c.rope_freq_scale))
    fail("RoPE scale must be positive");
  for (auto [id, what] : {std::pair{c.bos_token, "BOS"}, std::pair{c.eos_token, "EOS"}})
    if (id >= 0 && static_cast<uint32_t>(id) >= c.n_vocab)
      fail(std::string(what) + " token id " + std::to_string(id) +
           " is outside the vocabulary of " + std::to_string(c.n_vocab));
}

}  // namespace minillm
