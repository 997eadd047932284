#include "minillm/model.h"

#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/session.h"
#include "minillm/tensor_type.h"
#include "model/load_gguf.h"
#include "model/load_hf.h"
#include "model/model_impl.h"
#include "model/pack_weights.h"
#include "model/quantize_weights.h"

namespace minillm {
namespace {

uint64_t matrix_bytes(const MatrixView& m) {
  return row_bytes(m.type, m.cols) * m.rows;
}

uint64_t count_weight_bytes(const ModelConfig& c, const ModelWeights& w) {
  // Per generated token the graph reads one embedding row, every layer matrix and the output;
  // of a mixture of experts, the router and the k experts the token is routed to (an average
  // expert's bytes k times: the experts of a block share their shapes and types).
  uint64_t total = row_bytes(w.token_embd.type, w.token_embd.cols) + matrix_bytes(w.output);
  for (const LayerWeights& l : w.layers) {
    for (const MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      total += matrix_bytes(*m);  // 0 for the dense ones of a mixture of experts
    if (l.experts.empty()) continue;
    uint64_t experts = 0;
    for (const ExpertWeights& e : l.experts)
      experts += matrix_bytes(e.gate) + matrix_bytes(e.up) + matrix_bytes(e.down);
    total += matrix_bytes(l.router) + experts * c.n_expert_used / l.experts.size();
  }
  return total;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const {
  return impl_->config;
}
uint64_t Model::weight_bytes() const {
  return impl_->weight_bytes;
}

std::shared_ptr<const Model> Model::load(const std::filesystem::path& path,
                                         const LoadOptions& options) {
  std::unique_ptr<Impl> impl;
  if (std::filesystem::is_directory(path)) {
    impl = load_hf_folder(path);
  } else {
    if (path.extension() == ".safetensors")
      throw Error(path.string() + ": give the model folder (with config.json), not the " +
                  "safetensors file");
    const GGUFFile file = GGUFFile::open_model(path);
    impl = std::make_unique<Impl>();
    impl->config = read_gguf_config(file);
    impl->weights = bind_gguf_weights(file, impl->config);
    impl->storage = file.owner();
  }
  if (options.quantize) quantize_weights(*impl, *options.quantize, options.progress);
  if (options.pack) pack_weights(*impl, default_thread_count(), options.progress);
  impl->weight_bytes = count_weight_bytes(impl->config, impl->weights);
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

}  // namespace minillm
