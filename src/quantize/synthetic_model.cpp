#include "quantize/synthetic_model.h"

#include <cmath>
#include <map>
#include <vector>

#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/sampler.h"
#include "model/arch/llama_tensors.h"
#include "quantize/tensor_quantizer.h"

namespace minillm {
namespace {

const ModelShape kShapes[] = {
    // name               dim   layers heads kv  ffn    vocab   ctx   theta    window
    {"tiny", 64, 2, 4, 2, 192, 512, 512, 10000.0f, 0},
    {"gqa-small", 256, 4, 8, 2, 768, 512, 2048, 10000.0f, 0},
    {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f, 0},
    {"llama2-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000.0f, 0},
    {"mistral-7b", 4096, 32, 32, 8, 14336, 32000, 32768, 1000000.0f, 0},
    {"llama3-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0f, 0},
    // Mixtures of experts: experts, experts per token.
    {"moe-tiny", 64, 2, 4, 2, 128, 512, 512, 10000.0f, 0, 4, 2},
    {"moe-bench", 2048, 16, 32, 4, 5632, 32000, 4096, 10000.0f, 0, 8, 2},
    {"mixtral-8x7b", 4096, 32, 32, 8, 14336, 32000, 32768, 1000000.0f, 0, 8, 2},
};

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: a stable per-tensor seed
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> shape;  // GGUF order: shape[0] = row length
  float scale;                  // uniform values in [-scale, scale]; 0 = all ones (norms)
};

ModelConfig config_of(const ModelShape& s) {
  ModelConfig c;
  c.name = "mini-llm synthetic " + s.name;
  c.n_vocab = s.n_vocab;
  c.n_ctx_train = s.n_ctx;
  c.n_embd = s.n_embd;
  c.n_layer = s.n_layer;
  c.n_head = s.n_head;
  c.n_head_kv = s.n_head_kv;
  c.head_dim = c.n_rot = s.n_embd / s.n_head;
  c.n_ff = s.n_ff;
  c.rope_theta = s.rope_theta;
  c.sliding_window = s.sliding_window;
  c.n_expert = s.n_expert;
  c.n_expert_used = s.n_expert_used;
  return c;
}

std::vector<TensorSpec> tensor_specs(const ModelConfig& c) {
  // Uniform on [-a, a] has standard deviation a / sqrt(3); 0.5 / sqrt(n_in) keeps each
  // projection's output around half the size of its input.
  auto proj = [](uint64_t n_in) { return float(0.5 * std::sqrt(3.0 / double(n_in))); };
  std::vector<TensorSpec> t;
  t.push_back({"token_embd.weight", {c.n_embd, c.n_vocab}, 1.0f});
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    for (const LlamaLayerTensor& lt : kLlamaLayerTensors) {
      if (!lt.in(c)) continue;
      const uint64_t rows = llama_dim(c, lt.rows), cols = llama_dim(c, lt.cols);
      const std::string name = gguf_block_prefix(l) + lt.gguf;
      if (lt.vector)
        t.push_back({name, {rows}, 0});
      else
        t.push_back({name, {cols, rows}, proj(cols)});
    }
    for (const ExpertTensor& et : kExpertTensors)
      if (c.n_expert) {
        const uint64_t rows = llama_dim(c, et.rows), cols = llama_dim(c, et.cols);
        t.push_back({gguf_block_prefix(l) + et.gguf_stacked, {cols, rows, c.n_expert}, proj(cols)});
      }
  }
  t.push_back({"output_norm.weight", {c.n_embd}, 0});
  t.push_back({"output.weight", {c.n_embd, c.n_vocab}, proj(c.n_embd)});
  return t;
}

}  // namespace

std::optional<ModelShape> find_model_shape(std::string_view name) {
  for (const ModelShape& s : kShapes)
    if (s.name == name) return s;
  return std::nullopt;
}

std::string model_shape_names() {
  std::string names;
  for (const ModelShape& s : kShapes) names += (names.empty() ? "" : ", ") + s.name;
  return names;
}

void write_synthetic_model(const SynthOptions& o, const std::filesystem::path& out,
                           const TensorProgress& progress) {
  ModelShape shape = o.shape;
  // Tokenizer keys from the vocabulary file; its size decides the embedding rows.
  std::optional<GGUFFile> vocab;
  if (o.vocab) {
    vocab.emplace(GGUFFile::open(*o.vocab));
    const GGUFValue* tokens = vocab->find("tokenizer.ggml.tokens");
    if (!tokens || !tokens->is_array())
      throw Error(ErrorKind::BadFile, o.vocab->string() + ": no tokenizer.ggml.tokens to copy");
    shape.n_vocab = uint32_t(tokens->array().items.size());
  }
  const ModelConfig config = config_of(shape);
  GGUFWriter w;
  write_llama_metadata(w, config);
  w.set("general.file_type", o.target.gguf_file_type);
  if (vocab)
    for (const auto& [key, value] : vocab->metadata())
      if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);

  // Each tensor is made when the writer reaches it: a file larger than memory (mixtral-8x7b at
  // Q4_0 is ~26 GB) is held one tensor at a time.
  const auto specs = tensor_specs(config);
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& t = specs[i];
    const TensorType type = tensor_type_for(o.target, t.name, uint32_t(t.shape.size()), t.shape[0],
                                            shape.n_layer, shape.n_expert);
    auto make = [&, i, type]() {
      const TensorSpec& t = specs[i];
      const uint64_t row_length = t.shape[0];
      uint64_t n_rows = 1;
      for (size_t d = 1; d < t.shape.size(); ++d) n_rows *= t.shape[d];
      const uint64_t seed = o.seed ^ hash_name(t.name);
      auto fill = [&](uint64_t row, float* dst) {
        if (t.scale == 0) {
          std::fill(dst, dst + row_length, 1.0f);
          return;
        }
        Rng rng(seed + row * 0x9E3779B97F4A7C15ull);  // one stream per row: thread-independent
        for (uint64_t k = 0; k < row_length; ++k)
          dst[k] = float((rng.uniform() * 2.0 - 1.0) * t.scale);
      };
      QuantizedTensor q = quantize_rows(type, n_rows, row_length, fill, o.n_threads);
      if (progress) progress(t.name, type, q.rmse, i, specs.size());
      return std::move(q.bytes);
    };
    w.add_tensor_later(t.name, type, t.shape, make);
  }
  w.write(out);
}

}  // namespace minillm
