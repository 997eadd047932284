#include "minillm/model.h"

#include "minillm/error.h"
#include "minillm/gguf.h"
#include "minillm/tensor_type.h"
#include "model/load_gguf.h"
#include "model/model_impl.h"

namespace minillm {
namespace {

uint64_t matrix_bytes(const MatrixView& m) {
  return row_bytes(m.type, m.cols) * m.rows;
}

uint64_t count_weight_bytes(const ModelWeights& w) {
  // Per generated token the graph reads one embedding row, every layer matrix and the output.
  uint64_t total = row_bytes(w.token_embd.type, w.token_embd.cols) + matrix_bytes(w.output);
  for (const LayerWeights& l : w.layers)
    for (const MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      total += matrix_bytes(*m);
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

std::shared_ptr<const Model> Model::load(const std::filesystem::path& path, const LoadOptions&) {
  if (std::filesystem::is_directory(path))
    throw Error(path.string() + ": loading model folders is not supported yet (give a .gguf file)");
  const GGUFFile file = GGUFFile::open(path);
  auto impl = std::make_unique<Impl>();
  impl->config = read_gguf_config(file);
  impl->weights = bind_gguf_weights(file, impl->config);
  impl->storage = file.owner();
  impl->weight_bytes = count_weight_bytes(impl->weights);
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

}  // namespace minillm
