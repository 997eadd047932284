// Regrouping of a loaded model's quantized matrices for the packed kernels
// (kernels/matmul/packed_rows.h).
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
//
// The region is anonymous memory, which the OS cannot drop and re-read the way it can a file's
// pages, so a model whose matrices would take more than max_region_bytes stays where it is
// (default: 3/4 of the machine's physical memory). `progress` (optional) hears (done, total)
// matrices after each one.
size_t pack_weights(Model::Impl& impl, int n_threads, size_t max_region_bytes,
                    const WeightProgress& progress = {});
size_t pack_weights(Model::Impl& impl, int n_threads, const WeightProgress& progress = {});

}  // namespace minillm
