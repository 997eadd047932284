// Regrouping of a loaded model's quantized matrices for the packed kernels (kernels/packed_rows.h).
#pragma once

#include "model/model_impl.h"

namespace minillm {

// Moves every projection matrix and the output matrix into one region on large pages
// (kernels::allocate_packed), in the order a forward pass reads them, so that decoding streams
// one run of memory: a matrix whose type gains from it on this machine (see
// kernels::packing_pays) is regrouped for the packed kernels, any other is copied as it is.
// Uses n_threads threads, then lets go of the bytes that are no longer read: mapped pages are
// released to the OS, owned copies freed. The token embedding keeps its place (rows are looked
// up one at a time); a tied output matrix is moved as a copy. Returns the number of matrices
// packed.
size_t pack_weights(Model::Impl& impl, int n_threads);

}  // namespace minillm
