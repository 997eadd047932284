// Driver of the integer matrix product: two jobs on the thread pool (quantize the activations of
// all tokens, then the row panels), with a scalar reference path for machines without AVX2.
#include <algorithm>
#include <vector>

#include "kernels/aligned.h"
#include "kernels/cpu.h"
#include "kernels/isa_entry.h"
#include "kernels/matmul/matmul.h"
#include "kernels/matmul/packed_rows.h"
#include "kernels/quant/qdot.h"
#include "kernels/thread_pool.h"

namespace minillm::kernels {
namespace {

void rows_scalar(const isa::QMatmulJob& jb, size_t row_begin, size_t row_end) {
  const q::Format f = q::format_of(jb.wtype);
  const size_t n_sub = jb.n_in / static_cast<size_t>(f.sub_len);
  thread_local std::vector<uint8_t> u;
  thread_local std::vector<float> dw, mw;
  u.resize(jb.n_in);
  dw.resize(n_sub);
  mw.resize(n_sub);
  for (size_t r = row_begin; r < row_end; ++r) {
    q::unpack_row(jb.wtype, jb.w + r * jb.row_stride, jb.n_in, u.data(), dw.data(),
                  f.has_min ? mw.data() : nullptr);
    for (size_t t = 0; t < jb.n_tok; ++t) {
      const q::ActRow a{jb.qa + t * jb.n_in, jb.init + t * n_sub, jb.da + t * n_sub,
                        jb.asf != nullptr ? jb.asf + t * n_sub : nullptr};
      jb.y[t * jb.n_out + r] = q::dot_ref(f, u.data(), dw.data(), mw.data(), jb.n_in, a);
    }
  }
}

}  // namespace

namespace {

// One product of a call: W is either rows of the file layout (`w`) or a packed matrix (`packed`,
// then w is unused); y has n_out values per token; `input` numbers its activations among the
// call's inputs.
struct Target {
  const void* w;
  const PackedRows* packed;
  size_t n_out;
  float* y;
  size_t input = 0;
};

// Activations of Phase 1 below run on the calling thread alone when they are at most this many
// floats (a decoded token's few rows): a pool job would cost more in waiting than it saves.
constexpr size_t kInlineQuantizeFloats = size_t(1) << 14;

// The products of `targets` (all of type wtype and input width n_in), each with its input
// (n_tok rows of n_in floats), every input quantized once. One pool job runs them all: each
// chunk takes its share of every matrix in turn, so the threads wait for each other once per
// call, not once per matrix.
void qmatmul_many(TensorType wtype, size_t n_in, const Target* targets, size_t n_targets,
                  const float* const* inputs, size_t n_inputs, size_t n_tok, int n_threads) {
  const Isa isa = active_isa();
  const q::Format f = q::format_of(wtype);
  const size_t n_sub = n_in / static_cast<size_t>(f.sub_len);
  // The AVX2 kernel multiplies signed bytes (Q8_0, IQ4) itself instead of removing an offset.
  const int o_eff = isa == Isa::Avx2 && q::signed_bytes(f) ? 0 : f.offset;
  // Buffers kept between calls (no page faults per token).
  thread_local std::vector<int8_t> qa;
  thread_local std::vector<float> da32, da, asf;
  thread_local std::vector<int32_t> asum16, init;
  const size_t n_rows = n_inputs * n_tok;  // activation rows: input i's token t is i * n_tok + t
  qa.resize(n_rows * n_in);
  da32.resize(n_rows * n_in / 32);
  asum16.resize(n_rows * n_in / 16);
  init.resize(n_rows * n_sub);
  da.resize(n_rows * n_sub);
  asf.resize(f.has_min ? n_rows * n_sub : 0);

  auto quantize = isa == Isa::Avx512 ? isa::quantize_act_avx512
                  : isa == Isa::Avx2 ? isa::quantize_act_avx2
                                     : q::quantize_act_row;
  auto rows = isa == Isa::Avx512 ? isa::qmatmul_rows_avx512
              : isa == Isa::Avx2
                  ? (avx_vnni_active() ? isa::qmatmul_rows_avxvnni : isa::qmatmul_rows_avx2)
                  : rows_scalar;
  const size_t panel = isa == Isa::Avx512 ? 32 : 16;  // rows the SIMD paths repack together
  // The matrices' panels are numbered one after the other and each chunk takes a run of them:
  // matrices laid out one after another in memory (as the model's are) are then one stream.
  auto panels_of = [&](const Target& tg) { return (tg.n_out + panel - 1) / panel; };
  size_t all_panels = 0;
  for (size_t i = 0; i < n_targets; ++i) all_panels += panels_of(targets[i]);
  const int threads = static_cast<int>(
      std::clamp<size_t>(static_cast<size_t>(std::max(n_threads, 1)), 1, all_panels));

  // Raw pointers: on the pool's threads the thread_local names would mean their own vectors.
  int8_t* const qa_p = qa.data();
  float* const da32_p = da32.data();
  int32_t* const asum16_p = asum16.data();
  int32_t* const init_p = init.data();
  float* const da_p = da.data();
  float* const asf_p = f.has_min ? asf.data() : nullptr;

  // Phase 1: each token's activations, quantized independently of the thread that does it.
  auto quantize_token = [&](size_t r) {
    const float* x = inputs[r / n_tok] + (r % n_tok) * n_in;
    quantize(x, n_in, qa_p + r * n_in, da32_p + r * n_in / 32, asum16_p + r * n_in / 16);
    q::derive_act(n_in, f.sub_len, o_eff, f.has_min, da32_p + r * n_in / 32,
                  asum16_p + r * n_in / 16, init_p + r * n_sub, da_p + r * n_sub,
                  asf_p != nullptr ? asf_p + r * n_sub : nullptr);
  };
  if (n_rows * n_in <= kInlineQuantizeFloats)
    for (size_t r = 0; r < n_rows; ++r) quantize_token(r);
  else
    run_chunks(threads, n_rows, quantize_token);
  // Phase 2: row panels, a few chunks per thread so that a slow thread delays little. Decoding
  // takes one chunk per thread: each chunk restarts a memory stream, and a product lasts only
  // ~50 us, so waiting for the last of several chunks costs more than it balances (1.1B Q4_0 on
  // 2 threads: 2 chunks per thread ~3 % faster than 8, 1 another ~3 % faster than 2).
  const size_t per_thread = n_tok == 1 ? 1 : 8;
  const size_t n_chunks = std::min(all_panels, per_thread * static_cast<size_t>(threads));
  auto rows_chunk = [&](size_t c) {
    const size_t begin = all_panels * c / n_chunks, end = all_panels * (c + 1) / n_chunks;
    size_t next_panel = 0;  // number of the first panel of the next target
    for (size_t i = 0; i < n_targets; ++i) {
      const Target& tg = targets[i];
      const size_t first = next_panel, last = first + panels_of(tg);
      next_panel = last;
      const size_t p0 = std::clamp(begin, first, last) - first;
      const size_t p1 = std::clamp(end, first, last) - first;
      const size_t r0 = p0 * panel, r1 = std::min(tg.n_out, p1 * panel);
      if (r0 >= r1) continue;
      const size_t row = tg.input * n_tok;  // its input's first activation row
      const isa::QMatmulJob jb{
          wtype,
          tg.packed != nullptr ? tg.packed->group(0) : static_cast<const uint8_t*>(tg.w),
          row_bytes(wtype, n_in),
          tg.n_out,
          n_in,
          n_tok,
          qa_p + row * n_in,
          init_p + row * n_sub,
          da_p + row * n_sub,
          asf_p != nullptr ? asf_p + row * n_sub : nullptr,
          tg.y,
          tg.packed != nullptr,
          packed_format(wtype)};
      // Packed weights are read directly where the kernel can; other paths unpack each group.
      if (tg.packed == nullptr || kernel_reads_packed(isa, wtype)) {
        rows(jb, r0, r1);
        continue;
      }
      thread_local std::vector<uint8_t> group;  // one group back in file layout
      group.resize(kPackRows * jb.row_stride);
      for (size_t first = r0; first < r1; first += kPackRows) {
        tg.packed->unpack_group(first / kPackRows, group.data());
        isa::QMatmulJob sub = jb;
        sub.w = group.data();
        sub.y = jb.y + first;  // y keeps its row stride n_out
        sub.packed = false;
        rows(sub, 0, std::min(kPackRows, r1 - first));
      }
    }
  };
  run_chunks(threads, n_chunks, rows_chunk);
}

}  // namespace

void* isa::thread_scratch(int slot, size_t bytes) {
  thread_local AlignedVector<uint8_t> buffers[8];
  AlignedVector<uint8_t>& b = buffers[slot];
  if (b.size() < bytes) b.resize(bytes);
  return b.data();
}

void qmatmul(TensorType wtype, const void* w, size_t n_out, size_t n_in, const float* x,
             size_t n_tok, float* y, int n_threads) {
  const Target t{w, nullptr, n_out, y};
  qmatmul_many(wtype, n_in, &t, 1, &x, 1, n_tok, n_threads);
}

void qmatmul(std::span<const PackedProduct> products, const float* x, size_t n_tok, int n_threads) {
  thread_local std::vector<Target> targets;  // kept: no allocation per token
  thread_local std::vector<const float*> inputs;
  targets.clear();
  inputs.clear();
  for (const PackedProduct& p : products) {
    const float* in = p.x != nullptr ? p.x : x;
    const auto seen = std::find(inputs.begin(), inputs.end(), in);
    targets.push_back({nullptr, p.w, p.w->n_out(), p.y, size_t(seen - inputs.begin())});
    if (seen == inputs.end()) inputs.push_back(in);
  }
  qmatmul_many(products[0].w->type(), products[0].w->n_in(), targets.data(), targets.size(),
               inputs.data(), inputs.size(), n_tok, n_threads);
}

}  // namespace minillm::kernels
