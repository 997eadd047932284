// Regrouping of a loaded model's quantized matrices for the packed kernels (kernels/packed_rows.h).
#pragma once

#include "model/model_impl.h"

namespace minillm {

// Packs every projection matrix whose type gains from it on this machine (see
// kernels::packing_pays), using n_threads threads, then lets go of the file-layout bytes that are
// no longer read: mapped pages are released to the OS, owned copies freed. The token embedding
// keeps its file layout (rows are looked up one at a time); a tied output matrix is packed as a
// copy. Returns the number of matrices packed.
size_t pack_weights(Model::Impl& impl, int n_threads);

}  // namespace minillm
