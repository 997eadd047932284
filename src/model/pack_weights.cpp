#include "model/pack_weights.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/matmul/packed_rows.h"
#include "kernels/thread_pool.h"
#include "runtime/mapped_file.h"

namespace minillm {
namespace {

// Lets go of a matrix's previous bytes once they are no longer read: an owned copy is freed
// (returns true), mapped file pages are given back to the OS (they read back from the file).
bool release_source(Model::Impl& impl, const MatrixView& m, const void* source) {
  if (source == impl.weights.token_embd.data) return false;  // still read, row by row
  auto owned = std::find_if(impl.owned.begin(), impl.owned.end(),
                            [&](const std::vector<uint8_t>& b) { return b.data() == source; });
  if (owned == impl.owned.end()) {
    release_mapped_pages(source, row_bytes(m.type, m.cols) * m.rows);
    return false;
  }
  *owned = std::vector<uint8_t>();
  return true;
}

// Copies n bytes with up to n_threads threads (one core alone does not reach the bandwidth).
void parallel_copy(uint8_t* to, const uint8_t* from, size_t n, int n_threads) {
  constexpr size_t kChunk = size_t(1) << 20;
  auto copy = [&](size_t c) {
    const size_t begin = c * kChunk;
    std::memcpy(to + begin, from + begin, std::min(kChunk, n - begin));
  };
  kernels::run_chunks(n_threads, (n + kChunk - 1) / kChunk, copy);
}

}  // namespace

size_t pack_weights(Model::Impl& impl, int n_threads, const WeightProgress& progress) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const size_t physical = pages > 0 && page > 0 ? size_t(pages) * size_t(page) : 0;
  return pack_weights(impl, n_threads, physical == 0 ? SIZE_MAX : physical / 4 * 3, progress);
}

size_t pack_weights(Model::Impl& impl, int n_threads, size_t max_region_bytes,
                    const WeightProgress& progress) {
  ModelWeights& w = impl.weights;
  // In the order a forward pass reads them, so that decoding streams one run of memory.
  std::vector<MatrixView*> matrices;
  for (LayerWeights& l : w.layers)
    for (MatrixView* m : l.matrices())
      if (!m->packed) matrices.push_back(m);
  if (!w.output.packed) matrices.push_back(&w.output);

  std::vector<size_t> offsets;  // of each matrix in the region, 64-byte aligned
  size_t total = 0;
  for (const MatrixView* m : matrices) {
    offsets.push_back(total);
    const size_t bytes = kernels::packing_pays(m->type)
                             ? kernels::packed_bytes(m->type, m->rows, m->cols)
                             : row_bytes(m->type, m->cols) * m->rows;
    total += (bytes + 63) / 64 * 64;
  }
  if (matrices.empty() || total > max_region_bytes) return 0;
  impl.region = kernels::allocate_packed(total);

  size_t packed = 0;
  for (size_t i = 0; i < matrices.size(); ++i) {
    MatrixView* m = matrices[i];
    const void* source = m->data;
    uint8_t* at = impl.region.get() + offsets[i];
    if (kernels::packing_pays(m->type)) {
      m->packed = std::make_shared<const kernels::PackedRows>(
          m->type, source, m->rows, m->cols, n_threads, std::shared_ptr<uint8_t>(impl.region, at));
      if (release_source(impl, *m, source)) m->data = nullptr;
      ++packed;
    } else {
      parallel_copy(at, static_cast<const uint8_t*>(source), row_bytes(m->type, m->cols) * m->rows,
                    n_threads);
      m->data = at;
      release_source(impl, *m, source);
    }
    if (progress) progress(i + 1, matrices.size());
  }
  return packed;
}

}  // namespace minillm
