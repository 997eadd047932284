#include "tiny_models.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "kernels/quant/quant.h"

namespace minillm::test {
namespace {

struct Writer {
  const TinyModelSpec& spec;
  GGUFWriter w;
  std::mt19937_64 rng;

  bool omitted(const std::string& name) const {
    return std::find(spec.omit.begin(), spec.omit.end(), name) != spec.omit.end();
  }
  std::vector<uint64_t> shape_of(const std::string& name, std::vector<uint64_t> shape) const {
    for (const auto& [n, s] : spec.reshape)
      if (n == name) return s;
    return shape;
  }

  // Uniform in [-scale, scale] (scale 0: ones, as norm weights), stored as `type`.
  void tensor(const std::string& name, std::vector<uint64_t> shape, float scale, TensorType type) {
    if (omitted(name)) return;
    shape = shape_of(name, shape);
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    const uint64_t row = shape[0];
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> values(n);
    for (float& v : values)
      v = scale == 0 ? 1.0f + 0.1f * std::uniform_real_distribution<float>(-1, 1)(rng) : u(rng);
    std::vector<uint8_t> bytes(row_bytes(type, row) * (n / row));
    for (uint64_t r = 0; r < n / row; ++r)
      kernels::quantize_row(type, &values[r * row], bytes.data() + r * row_bytes(type, row), row);
    w.add_tensor(name, type, shape, std::move(bytes));
  }
};

}  // namespace

std::filesystem::path write_tiny_model(const TinyModelSpec& s, const std::string& stem) {
  static std::atomic<int> counter{0};
  const auto path =
      std::filesystem::temp_directory_path() / ("minillm_tiny_" + std::to_string(::getpid()) + "_" +
                                                std::to_string(counter++) + "_" + stem + ".gguf");
  Writer out{s, GGUFWriter(), std::mt19937_64(s.seed)};
  GGUFWriter& w = out.w;
  const uint32_t hd = s.head_dim ? s.head_dim : s.n_embd / s.n_head;
  w.set("general.architecture", "llama");
  w.set("llama.context_length", uint32_t(256));
  w.set("llama.embedding_length", s.n_embd);
  w.set("llama.block_count", s.n_layer);
  w.set("llama.feed_forward_length", s.n_ff);
  w.set("llama.attention.head_count", s.n_head);
  w.set("llama.attention.head_count_kv", s.n_head_kv);
  if (s.head_dim) {
    w.set("llama.attention.key_length", s.head_dim);
    w.set("llama.attention.value_length", s.head_dim);
  }
  w.set("llama.rope.freq_base", s.rope_theta);
  w.set("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  if (s.n_expert) {
    w.set("llama.expert_count", s.n_expert);
    w.set("llama.expert_used_count", s.n_expert_used);
  }
  const uint64_t d = s.n_embd, q = uint64_t(s.n_head) * hd, kv = uint64_t(s.n_head_kv) * hd;
  const uint64_t ff = s.n_ff, E = s.n_expert;
  auto scale = [](uint64_t n_in) { return float(std::sqrt(3.0 / double(n_in))); };
  out.tensor("token_embd.weight", {d, s.n_vocab}, 1.0f, s.type);
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    out.tensor(p + "attn_norm.weight", {d}, 0, TensorType::F32);
    out.tensor(p + "attn_q.weight", {d, q}, scale(d), s.type);
    out.tensor(p + "attn_k.weight", {d, kv}, scale(d), s.type);
    out.tensor(p + "attn_v.weight", {d, kv}, scale(d), s.type);
    out.tensor(p + "attn_output.weight", {q, d}, 0.5f * scale(q), s.type);
    out.tensor(p + "ffn_norm.weight", {d}, 0, TensorType::F32);
    if (!E) {
      out.tensor(p + "ffn_gate.weight", {d, ff}, scale(d), s.type);
      out.tensor(p + "ffn_up.weight", {d, ff}, scale(d), s.type);
      out.tensor(p + "ffn_down.weight", {ff, d}, 0.5f * scale(ff), s.type);
      continue;
    }
    // A router with large weights: its choices matter and are rarely near ties.
    out.tensor(p + "ffn_gate_inp.weight", {d, E}, 4 * scale(d), TensorType::F32);
    const struct {
      const char* name;
      uint64_t cols, rows;
      float scale;
    } experts[] = {{"ffn_gate", d, ff, scale(d)},
                   {"ffn_up", d, ff, scale(d)},
                   {"ffn_down", ff, d, 0.5f * scale(ff)}};
    for (const auto& x : experts) {
      if (s.split_experts)
        for (uint64_t e = 0; e < E; ++e)
          out.tensor(p + x.name + "." + std::to_string(e) + ".weight", {x.cols, x.rows}, x.scale,
                     s.type);
      else
        out.tensor(p + x.name + "_exps.weight", {x.cols, x.rows, E}, x.scale, s.type);
    }
  }
  out.tensor("output_norm.weight", {d}, 0, TensorType::F32);
  out.tensor("output.weight", {d, s.n_vocab}, scale(d), s.type);
  if (s.tamper) s.tamper(w);
  w.write(path);
  return path;
}

std::vector<float> eval_all(const std::shared_ptr<const Model>& model,
                            const std::vector<int32_t>& tokens, KvCacheType kv, int threads,
                            uint32_t n_batch) {
  Session s(model, {.n_ctx = 64, .n_batch = n_batch, .kv_type = kv, .n_threads = threads});
  const auto logits = s.eval(tokens, true);
  return {logits.begin(), logits.end()};
}

void expect_batching_and_threads_agree(const std::shared_ptr<const Model>& model,
                                       const std::vector<int32_t>& tokens, KvCacheType kv,
                                       std::initializer_list<uint32_t> n_batches) {
  const auto one = eval_all(model, tokens, kv, 2, 512);
  for (uint32_t n_batch : n_batches) {
    const auto split = eval_all(model, tokens, kv, 2, n_batch);
    double max_diff = 0;
    for (size_t i = 0; i < one.size(); ++i)
      max_diff = std::max(max_diff, std::abs(double(split[i]) - double(one[i])));
    EXPECT_LE(max_diff, 1e-4) << "n_batch " << n_batch;
  }
  const auto one_thread = eval_all(model, tokens, kv, 1, 512);
  EXPECT_EQ(0, std::memcmp(one_thread.data(), one.data(), one.size() * sizeof(float)));
}

}  // namespace minillm::test
