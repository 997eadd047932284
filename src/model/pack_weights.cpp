#include "model/pack_weights.h"

#include <algorithm>
#include <vector>

#include "kernels/packed_rows.h"
#include "runtime/mapped_file.h"

namespace minillm {

size_t pack_weights(Model::Impl& impl, int n_threads) {
  ModelWeights& w = impl.weights;
  std::vector<MatrixView*> matrices = {&w.output};
  for (LayerWeights& l : w.layers)
    for (MatrixView* m : l.matrices()) matrices.push_back(m);
  size_t packed = 0;
  for (MatrixView* m : matrices) {
    if (m->packed || !kernels::packing_pays(m->type)) continue;
    m->packed =
        std::make_shared<const kernels::PackedRows>(m->type, m->data, m->rows, m->cols, n_threads);
    ++packed;
    if (m->data == w.token_embd.data) continue;  // still read, row by row
    auto owned = std::find_if(impl.owned.begin(), impl.owned.end(),
                              [&](const std::vector<uint8_t>& b) { return b.data() == m->data; });
    if (owned != impl.owned.end()) {
      *owned = std::vector<uint8_t>();
      m->data = nullptr;
    } else {
      release_mapped_pages(m->data, row_bytes(m->type, m->cols) * m->rows);
    }
  }
  return packed;
}

}  // namespace minillm
