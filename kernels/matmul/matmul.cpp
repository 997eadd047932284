// Matrix product driver: argument checks, row tiling, the split over the thread pool, and the
// scalar path.
// The SIMD paths live in matmul_avx2.cpp / matmul_avx512.cpp and are called per tile.
#include "kernels/matmul/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/cpu.h"
#include "kernels/isa_entry.h"
#include "kernels/matmul/packed_rows.h"
#include "kernels/quant/qdot.h"
#include "kernels/quant/quant.h"
#include "kernels/thread_pool.h"
#include "kernels/type_table.h"
#include "minillm/error.h"

namespace minillm::kernels {
namespace {

// Scalar canonical dot: element i goes to partial sum i % 8 (plain multiply and add, no FMA);
// the partial sums are then added pairwise in a fixed tree.
float dot_scalar(const float* a, const float* b, size_t n) {
  constexpr size_t kLanes = 8;
  float s[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) s[j] += a[i + j] * b[i + j];
  for (size_t j = 0; i + j < n; ++j) s[j] += a[i + j] * b[i + j];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

void matmul_tile_scalar(const isa::MatmulTile& t) {
  for (size_t r = 0; r < t.n_rows; ++r) {
    const uint8_t* src = t.w + r * t.row_stride;
    const float* row = reinterpret_cast<const float*>(src);
    if (t.wtype != TensorType::F32) {
      dequantize_row(t.wtype, src, t.scratch + r * t.n_in, t.n_in);
      row = t.scratch + r * t.n_in;
    }
    for (size_t tok = 0; tok < t.n_tok; ++tok)
      t.y[tok * t.y_stride + r] = dot_scalar(row, t.x + tok * t.n_in, t.n_in);
  }
}

using TileFn = void (*)(const isa::MatmulTile&);

TileFn tile_fn(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return isa::matmul_tile_avx512;
    case Isa::Avx2:
      return isa::matmul_tile_avx2;
    case Isa::Scalar:
      break;
  }
  return matmul_tile_scalar;
}

// Rows per tile: about 256 KiB of dequantized rows (reused by every token, kept in L2), at least
// 16 so that activations fetched for a tile serve several groups of 4 rows even for long rows,
// and a multiple of 4 (the SIMD paths work on 4 rows at a time). The result does not depend on it.
size_t tile_rows(size_t n_in) {
  constexpr size_t kTileBytes = 256 * 1024;
  const size_t rows = kTileBytes / (std::max<size_t>(n_in, 1) * sizeof(float));
  return std::clamp<size_t>(rows / 4 * 4, 16, 64);
}

}  // namespace

bool matmul_supported(TensorType wtype) {
  return kernel_type(wtype).matmul;
}

void matmul(TensorType wtype, const void* w, size_t n_out, size_t n_in, const float* x,
            size_t n_tok, float* y, int n_threads, MatmulMode mode) {
  if (!matmul_supported(wtype)) {
    const auto t = tensor_type_traits(static_cast<uint32_t>(wtype));
    throw Error(ErrorKind::Unsupported,
                "matmul does not support weights of type " +
                    (t ? std::string(t->name) : std::to_string(static_cast<uint32_t>(wtype))));
  }
  const size_t stride = row_bytes(wtype, n_in);  // throws if n_in is not whole blocks
  if (n_out == 0 || n_tok == 0) return;
  if (n_in == 0) {
    std::fill(y, y + n_out * n_tok, 0.0f);
    return;
  }
  if (mode == MatmulMode::Fast && q::format_of(wtype).sub_len != 0)
    return qmatmul(wtype, w, n_out, n_in, x, n_tok, y, n_threads);
  const TileFn fn = tile_fn(active_isa());
  const size_t rows_per_tile = tile_rows(n_in);
  const size_t n_tiles = (n_out + rows_per_tile - 1) / rows_per_tile;
  const auto* wbytes = static_cast<const uint8_t*>(w);
  // Scratch for dequantized rows, one per thread, kept between calls to avoid page faults.
  const bool needs_scratch = wtype != TensorType::F32;
  const int threads = std::max(n_threads, 1);

  // Each chunk is a run of consecutive tiles: a thread then streams one contiguous region
  // instead of hopping over the tiles other threads took (~10 % of bandwidth when decoding).
  const size_t n_chunks = std::min(static_cast<size_t>(n_tiles), static_cast<size_t>(8 * threads));
  auto run_chunk = [&](size_t c) {
    thread_local AlignedVector<float> scratch;
    for (size_t tile = n_tiles * c / n_chunks; tile < n_tiles * (c + 1) / n_chunks; ++tile) {
      const size_t first = tile * rows_per_tile;
      const size_t rows = std::min(rows_per_tile, n_out - first);
      if (needs_scratch && scratch.size() < rows * n_in) scratch.resize(rows * n_in);
      const isa::MatmulTile t{
          wtype, wbytes + first * stride, stride, rows, n_in, x, n_tok, y + first,
          n_out, scratch.data()};
      fn(t);
    }
  };
  run_chunks(threads, n_chunks, run_chunk);
}

void matmul(const PackedRows& w, const float* x, size_t n_tok, float* y, int n_threads,
            MatmulMode mode) {
  const size_t n_out = w.n_out(), n_in = w.n_in();
  if (n_out == 0 || n_tok == 0) return;
  if (n_in == 0) {
    std::fill(y, y + n_out * n_tok, 0.0f);
    return;
  }
  if (mode == MatmulMode::Fast) {
    const PackedProduct product{&w, y};
    return qmatmul(std::span<const PackedProduct>(&product, 1), x, n_tok, n_threads);
  }
  // Exact: each group back in file layout, then the usual tile.
  const TileFn fn = tile_fn(active_isa());
  auto run_group = [&](size_t g) {
    thread_local std::vector<uint8_t> rows;
    thread_local AlignedVector<float> scratch;
    rows.resize(kPackRows * w.row_bytes());
    scratch.resize(kPackRows * n_in);
    w.unpack_group(g, rows.data());
    const size_t first = g * kPackRows;
    const isa::MatmulTile t{
        w.type(),  rows.data(), w.row_bytes(), std::min(kPackRows, n_out - first), n_in, x, n_tok,
        y + first, n_out,       scratch.data()};
    fn(t);
  };
  run_chunks(std::max(n_threads, 1), w.n_groups(), run_group);
}

void matmul(std::span<const PackedProduct> products, const float* x, size_t n_tok, int n_threads,
            MatmulMode mode) {
  if (products.empty()) return;
  const PackedRows& first = *products[0].w;
  const bool shared =
      mode == MatmulMode::Fast && n_tok > 0 && first.n_in() > 0 &&
      std::all_of(products.begin(), products.end(), [&](const PackedProduct& p) {
        return p.w->type() == first.type() && p.w->n_in() == first.n_in() && p.w->n_out() > 0;
      });
  if (shared) return qmatmul(products, x, n_tok, n_threads);
  for (const PackedProduct& p : products)
    matmul(*p.w, p.x != nullptr ? p.x : x, n_tok, p.y, n_threads, mode);
}

namespace {
std::atomic<int> g_mode_override{-1};

MatmulMode mode_from_environment() {
  const char* env = std::getenv("MINILLM_MATMUL");
  if (env == nullptr || *env == '\0' || std::string_view(env) == "fast") return MatmulMode::Fast;
  if (std::string_view(env) == "exact") return MatmulMode::Exact;
  throw Error(ErrorKind::InvalidArgument,
              "MINILLM_MATMUL must be fast or exact, not '" + std::string(env) + "'");
}
}  // namespace

MatmulMode model_matmul_mode() {
  const int o = g_mode_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<MatmulMode>(o);
  static const MatmulMode from_env = mode_from_environment();
  return from_env;
}

void set_matmul_mode_for_testing(std::optional<MatmulMode> mode) {
  g_mode_override.store(mode ? static_cast<int>(*mode) : -1, std::memory_order_relaxed);
}

float dot_f32(const float* a, const float* b, size_t n) {
  switch (active_isa()) {
    case Isa::Avx512:
      return isa::dot_f32_avx512(a, b, n);
    case Isa::Avx2:
      return isa::dot_f32_avx2(a, b, n);
    case Isa::Scalar:
      break;
  }
  return dot_scalar(a, b, n);
}

}  // namespace minillm::kernels
