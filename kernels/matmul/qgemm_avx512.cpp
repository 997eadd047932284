// AVX-512 VNNI integer matrix product (see qdot.h for the arithmetic it implements exactly).
//
// Layout: a panel of 32 weight rows is repacked into an L2-resident buffer where, for every group
// of 4 consecutive elements s (a "slot"), the 4 bytes u of 16 rows form one 64-byte vector (rows
// in lanes). VPDPBUSD of such a vector with the 4 matching activation bytes broadcast gives 16
// rows' partial sums at once, so no horizontal reductions are needed and one repacked panel is
// reused by every token (GEMM). A one-token product (GEMV) skips the panel and multiplies the
// slot vectors as they are decoded. Per sub-block, the integer sums are scaled and accumulated in
// float lanes, the same operations in the same order as q::dot_ref. The 16-row block decoders
// and the two sources they read (file rows, packed groups) are in qblocks_avx512.h.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/isa_entry.h"
#include "kernels/isa_local.h"
#include "kernels/matmul/qblocks_avx512.h"
#include "kernels/matmul/qpanel_local.h"
#include "kernels/quant/qdot.h"

namespace minillm::kernels::isa {
namespace {

constexpr size_t kRows = 32;      // rows per panel: 2 vectors of 16
constexpr size_t kSlot = 2 * 64;  // bytes per slot in the panel buffer
constexpr int kTok = 4;           // tokens per micro-kernel call

q::ActRow act_row(const QMatmulJob& jb, size_t t, size_t n_sub) {
  return {jb.qa + t * jb.n_in, jb.init + t * n_sub, jb.da + t * n_sub,
          jb.asf != nullptr ? jb.asf + t * n_sub : nullptr};
}

// Q4_0 / Q8_0 straight from the blocks into the panel layout (rows group g of the panel).
template <class Cursor>
void repack_q4_0(const Cursor& cur, size_t nb, Panel& p, size_t g) {
  const __m512i lowmask = _mm512_set1_epi8(0x0F);
  for (size_t b = 0; b < nb; ++b) {
    const auto src = cur.at(b);
    __m512i q[4];
    src.words(2, q);
    uint8_t* dst = p.u + b * 8 * kSlot + g * 64;
    for (int k = 0; k < 4; ++k) {
      _mm512_storeu_si512(dst + k * kSlot, _mm512_and_si512(q[k], lowmask));
      _mm512_storeu_si512(dst + (4 + k) * kSlot,
                          _mm512_and_si512(_mm512_srli_epi16(q[k], 4), lowmask));
    }
    _mm512_storeu_ps(p.dw + b * kRows + g * 16, src.half(0));
  }
}

template <class Cursor>
void repack_q8_0(const Cursor& cur, size_t nb, Panel& p, size_t g) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  for (size_t b = 0; b < nb; ++b) {
    const auto src = cur.at(b);
    uint8_t* dst = p.u + b * 8 * kSlot + g * 64;
    for (int h = 0; h < 2; ++h) {
      __m512i q[4];
      src.words(2 + 16 * static_cast<size_t>(h), q);
      for (int k = 0; k < 4; ++k)
        _mm512_storeu_si512(dst + (4 * h + k) * kSlot, _mm512_xor_si512(q[k], bias));
    }
    _mm512_storeu_ps(p.dw + b * kRows + g * 16, src.half(0));
  }
}

// GEMV (one token) for Q4_0/Q8_0: the slot vectors go straight into VPDPBUSD instead of
// through the panel buffer. Same per-lane operations as kernel<1, 32, false>, so same bits.
template <bool kQ8, class Cursor>
void gemv_group(const Cursor& cur, size_t nb, size_t nr, const q::ActRow& a, float* y) {
  const __m512i lowmask = _mm512_set1_epi8(0x0F);
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const auto src = cur.at(b);
    const int8_t* x = a.qa + 32 * b;
    __m512i s1 = _mm512_set1_epi32(a.init[b]), s2 = _mm512_setzero_si512();
    __m512i q[4];
    src.words(2, q);
    if constexpr (kQ8) {
      for (int k = 0; k < 4; ++k)
        s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(q[k], bias),
                                 _mm512_set1_epi32(load_i32(x + 4 * k)));
      src.words(18, q);
      for (int k = 0; k < 4; ++k)
        s2 = _mm512_dpbusd_epi32(s2, _mm512_xor_si512(q[k], bias),
                                 _mm512_set1_epi32(load_i32(x + 16 + 4 * k)));
    } else {
      for (int k = 0; k < 4; ++k) {
        s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(q[k], lowmask),
                                 _mm512_set1_epi32(load_i32(x + 4 * k)));
        s2 = _mm512_dpbusd_epi32(s2, _mm512_and_si512(_mm512_srli_epi16(q[k], 4), lowmask),
                                 _mm512_set1_epi32(load_i32(x + 16 + 4 * k)));
      }
    }
    const __m512 s = _mm512_mul_ps(src.half(0), _mm512_set1_ps(a.da[b]));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s1, s2)), s, acc);
  }
  _mm512_mask_storeu_ps(y, lanes16(nr), acc);
}

// Stores a decoded super-block (sub-blocks of L elements) into panel rows group g.
template <int L, int kSubs>
struct PanelSink {
  Panel& p;
  size_t sb, g;
  bool has_min;
  void slot(int j, int k, __m512i v) {
    const size_t s =
        sb * (kSubs * L / 4) + static_cast<size_t>(j) * (L / 4) + static_cast<size_t>(k);
    _mm512_storeu_si512(p.u + s * kSlot + g * 64, v);
  }
  void done(int j, __m512 dw, __m512 mw) {
    _mm512_storeu_ps(p.dw + (sb * kSubs + j) * kRows + g * 16, dw);
    if (has_min) _mm512_storeu_ps(p.mw + (sb * kSubs + j) * kRows + g * 16, mw);
  }
};

template <TensorType kT, class Cursor>
void repack_decoded(const Cursor& cur, size_t nb, Panel& p, size_t g) {
  constexpr BlockShape s = block_shape(kT);
  for (size_t b = 0; b < nb; ++b) {
    PanelSink<s.sub_len, s.n_subs> sink{p, b, g, s.has_min};
    decode<V512, kT>(cur.at(b), sink);
  }
}

template <TensorType kT, class Cursor>
void gemv_decoded(const Cursor& cur, size_t nb, size_t nr, const q::ActRow& a, float* y) {
  constexpr BlockShape s = block_shape(kT);
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    DotSink<V512, s.sub_len, s.n_subs, s.has_min> sink{a, b, acc, {}};
    decode<V512, kT>(cur.at(b), sink);
  }
  _mm512_mask_storeu_ps(y, lanes16(nr), acc);
}

// Small batches (2..kSmallBatch tokens, typically one token per sequence of a batched decoding
// step): the GEMV paths for several tokens. Each block column is read (and, but for Q4_0/Q8_0,
// decoded) once per kGemvTok tokens instead of once per panel, so the weights are still streamed
// once and there is no panel to write and read back. Token t's lane does the one-token GEMV's
// operations in the same order, so every token gets the bits of the GEMV and thus of the panel.
constexpr size_t kSmallBatch = 16;  // most tokens on this path: beyond, the panel is cheaper
constexpr int kGemvTok = 4;         // tokens per register block of a decoded column

template <bool kQ8, class Cursor>
void gemv_group_tokens(const Cursor& cur, size_t nb, size_t nr, const q::ActRow* a, size_t n_tok,
                       float* y, size_t y_stride) {
  const __m512i lowmask = _mm512_set1_epi8(0x0F);
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[kSmallBatch];
  for (size_t t = 0; t < n_tok; ++t) acc[t] = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const auto src = cur.at(b);
    __m512i w[8], q[4];  // slot vectors of elements 4k.. (w[k]) and 16 + 4k.. (w[4 + k])
    src.words(2, q);
    if constexpr (kQ8) {
      for (int k = 0; k < 4; ++k) w[k] = _mm512_xor_si512(q[k], bias);
      src.words(18, q);
      for (int k = 0; k < 4; ++k) w[4 + k] = _mm512_xor_si512(q[k], bias);
    } else {
      for (int k = 0; k < 4; ++k) {
        w[k] = _mm512_and_si512(q[k], lowmask);
        w[4 + k] = _mm512_and_si512(_mm512_srli_epi16(q[k], 4), lowmask);
      }
    }
    const __m512 d = src.half(0);
#pragma GCC unroll 2
    for (size_t t = 0; t < n_tok; ++t) {  // gemv_group's operations for token t
      const int8_t* x = a[t].qa + 32 * b;
      __m512i s1 = _mm512_set1_epi32(a[t].init[b]), s2 = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k) {
        s1 = _mm512_dpbusd_epi32(s1, w[k], _mm512_set1_epi32(load_i32(x + 4 * k)));
        s2 = _mm512_dpbusd_epi32(s2, w[4 + k], _mm512_set1_epi32(load_i32(x + 16 + 4 * k)));
      }
      const __m512 sc = _mm512_mul_ps(d, _mm512_set1_ps(a[t].da[b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s1, s2)), sc, acc[t]);
    }
  }
  for (size_t t = 0; t < n_tok; ++t) _mm512_mask_storeu_ps(y + t * y_stride, lanes16(nr), acc[t]);
}

template <TensorType kT, class Cursor>
void gemv_decoded_tokens(const Cursor& cur, size_t nb, size_t nr, const q::ActRow* a, size_t n_tok,
                         float* y, size_t y_stride) {
  __m512 acc[kSmallBatch];
  for (size_t t = 0; t < n_tok; ++t) acc[t] = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b)
    dot_n_tokens<V512, kT, false, kGemvTok>(cur.at(b), b, a, n_tok, acc);
  for (size_t t = 0; t < n_tok; ++t) _mm512_mask_storeu_ps(y + t * y_stride, lanes16(nr), acc[t]);
}

// 16 rows (nb blocks each) times n_tok <= kSmallBatch tokens; token t's first nr results stored
// at y + t * y_stride.
template <class Cursor>
void gemv_tokens_any(TensorType t, const Cursor& cur, size_t nb, size_t nr, const q::ActRow* a,
                     size_t n_tok, float* y, size_t y_stride) {
  if (t == TensorType::Q4_0) return gemv_group_tokens<false>(cur, nb, nr, a, n_tok, y, y_stride);
  if (t == TensorType::Q8_0) return gemv_group_tokens<true>(cur, nb, nr, a, n_tok, y, y_stride);
  with_decoded_type(
      t, [&]<TensorType kT>() { gemv_decoded_tokens<kT>(cur, nb, nr, a, n_tok, y, y_stride); });
}

// 16 rows (nb blocks each) into panel rows group g.
template <class Cursor>
void repack_any(TensorType t, const Cursor& cur, size_t nb, Panel& p, size_t g) {
  if (t == TensorType::Q4_0) return repack_q4_0(cur, nb, p, g);
  if (t == TensorType::Q8_0) return repack_q8_0(cur, nb, p, g);
  with_decoded_type(t, [&]<TensorType kT>() { repack_decoded<kT>(cur, nb, p, g); });
}

// 16 rows (nb blocks each) times one token; the first nr results stored.
template <class Cursor>
void gemv_any(TensorType t, const Cursor& cur, size_t nb, size_t nr, const q::ActRow& a, float* y) {
  if (t == TensorType::Q4_0) return gemv_group<false>(cur, nb, nr, a, y);
  if (t == TensorType::Q8_0) return gemv_group<true>(cur, nb, nr, a, y);
  with_decoded_type(t, [&]<TensorType kT>() { gemv_decoded<kT>(cur, nb, nr, a, y); });
}

// Any type: reference decoding of each row, then a transpose into the panel layout.
void repack_generic(const QMatmulJob& jb, const uint8_t* row0, size_t nr, Panel& p, size_t g,
                    const q::Format& f) {
  const size_t n = jb.n_in, n_sub = n / static_cast<size_t>(f.sub_len);
  for (size_t r = 0; r < 16; ++r) {
    if (r < nr) {
      q::unpack_row(jb.wtype, row0 + r * jb.row_stride, n, p.rows + r * n, p.rdw + r * n_sub,
                    f.has_min ? p.rmw + r * n_sub : nullptr);
    } else {  // rows past the end: zero weights, never stored
      std::memset(p.rows + r * n, 0, n);
      std::memset(p.rdw + r * n_sub, 0, n_sub * sizeof(float));  // 0.0f
      std::memset(p.rmw + r * n_sub, 0, n_sub * sizeof(float));
    }
  }
  const uint8_t* rows = p.rows;
  for (size_t s = 0; s < n / 4; s += 4) {
    __m512i q[4];
    gather16x16([&](int r) { return rows + static_cast<size_t>(r) * n + 4 * s; }, q);
    for (int k = 0; k < 4; ++k) _mm512_storeu_si512(p.u + (s + k) * kSlot + g * 64, q[k]);
  }
  for (size_t j = 0; j < n_sub; ++j)
    for (size_t r = 0; r < 16; ++r) {
      p.dw[j * kRows + g * 16 + r] = p.rdw[r * n_sub + j];
      if (f.has_min) p.mw[j * kRows + g * 16 + r] = p.rmw[r * n_sub + j];
    }
}

// T tokens times one 32-row panel, all sub-blocks. y[t] points at the panel's first row.
template <int T, int L, bool kMin>
void kernel(const Panel& p, size_t n_sub, const q::ActRow* a, float* const* y, __mmask16 m0,
            __mmask16 m1) {
  __m512 acc[2][T];
  for (int t = 0; t < T; ++t) acc[0][t] = acc[1][t] = _mm512_setzero_ps();
  const uint8_t* wu = p.u;
  const float* dw = p.dw;
  const float* mw = p.mw;
  for (size_t j = 0; j < n_sub; ++j, wu += (L / 4) * kSlot, dw += kRows, mw += kRows) {
    __m512i s[2][T];
    for (int t = 0; t < T; ++t) s[0][t] = s[1][t] = _mm512_set1_epi32(a[t].init[j]);
#pragma GCC unroll 8
    for (int k = 0; k < L / 4; ++k) {
      const __m512i w0 = _mm512_loadu_si512(wu + k * kSlot);
      const __m512i w1 = _mm512_loadu_si512(wu + k * kSlot + 64);
      for (int t = 0; t < T; ++t) {
        const __m512i x = _mm512_set1_epi32(load_i32(a[t].qa + j * L + 4 * k));
        s[0][t] = _mm512_dpbusd_epi32(s[0][t], w0, x);
        s[1][t] = _mm512_dpbusd_epi32(s[1][t], w1, x);
      }
    }
    const __m512 d0 = _mm512_loadu_ps(dw), d1 = _mm512_loadu_ps(dw + 16);
    for (int t = 0; t < T; ++t) {
      const __m512 da = _mm512_set1_ps(a[t].da[j]);
      acc[0][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[0][t]), _mm512_mul_ps(d0, da), acc[0][t]);
      acc[1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[1][t]), _mm512_mul_ps(d1, da), acc[1][t]);
    }
    if constexpr (kMin) {
      const __m512 n0 = _mm512_loadu_ps(mw), n1 = _mm512_loadu_ps(mw + 16);
      for (int t = 0; t < T; ++t) {
        const __m512 da = _mm512_set1_ps(a[t].da[j]);
        const __m512 as = _mm512_set1_ps(a[t].asf[j]);
        acc[0][t] = _mm512_fmadd_ps(as, _mm512_mul_ps(n0, da), acc[0][t]);
        acc[1][t] = _mm512_fmadd_ps(as, _mm512_mul_ps(n1, da), acc[1][t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    _mm512_mask_storeu_ps(y[t], m0, acc[0][t]);
    _mm512_mask_storeu_ps(y[t] + 16, m1, acc[1][t]);
  }
}

template <int L, bool kMin>
void run_tokens(const QMatmulJob& jb, const Panel& p, size_t row0, size_t nr) {
  const size_t n_sub = jb.n_in / L;
  const __mmask16 m0 = lanes16(nr);
  const __mmask16 m1 = static_cast<__mmask16>(nr >= 32   ? 0xFFFF
                                              : nr <= 16 ? 0
                                                         : (1u << (nr - 16)) - 1);
  for (size_t t0 = 0; t0 < jb.n_tok; t0 += kTok) {
    const int nt = static_cast<int>(min_size(kTok, jb.n_tok - t0));
    q::ActRow a[kTok];
    float* y[kTok];
    for (int t = 0; t < nt; ++t) {
      a[t] = act_row(jb, t0 + static_cast<size_t>(t), n_sub);
      y[t] = jb.y + (t0 + static_cast<size_t>(t)) * jb.n_out + row0;
    }
    switch (nt) {
      case 4:
        kernel<4, L, kMin>(p, n_sub, a, y, m0, m1);
        break;
      case 3:
        kernel<3, L, kMin>(p, n_sub, a, y, m0, m1);
        break;
      case 2:
        kernel<2, L, kMin>(p, n_sub, a, y, m0, m1);
        break;
      default:
        kernel<1, L, kMin>(p, n_sub, a, y, m0, m1);
    }
  }
}

}  // namespace

void quantize_act_avx512(const float* x, size_t n, int8_t* qa, float* da, int32_t* asum16) {
  const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (size_t b = 0; b < n / 32; ++b, x += 32, qa += 32) {
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const float amax =
        _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, absmask), _mm512_and_ps(x1, absmask)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    da[b] = d;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), lo), hi);
    const __m512i q1 =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x1, vid)), lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qa), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qa + 16), _mm512_cvtepi32_epi8(q1));
    asum16[2 * b] = _mm512_reduce_add_epi32(q0);
    asum16[2 * b + 1] = _mm512_reduce_add_epi32(q1);
  }
}

void qmatmul_rows_avx512(const QMatmulJob& jb, size_t row_begin, size_t row_end) {
  const q::Format f = q::format_of(jb.wtype);
  const size_t n_sub = jb.n_in / static_cast<size_t>(f.sub_len);
  const size_t nb = jb.n_in / elems_per_block(jb.wtype), bb = jb.row_stride / nb;
  // The 16 rows from `first` (a multiple of 16): a packed group or rows of the file layout.
  auto with_cursor = [&](size_t first, auto&& fn) {
    const uint8_t* at = jb.w + first * jb.row_stride;  // a packed group takes 16 rows' bytes
    if (jb.packed)
      fn(PackedCursor{at, bb, jb.pf, prefetch_of(jb.wtype)});
    else
      fn(FileCursor{at, jb.row_stride, nb, bb});
  };
  if (jb.n_tok <= kSmallBatch) {
    q::ActRow a[kSmallBatch];
    for (size_t t = 0; t < jb.n_tok; ++t) a[t] = act_row(jb, t, n_sub);
    size_t row0 = row_begin;
    // A packed group is always whole (zero rows pad the last one); a partial group of the file
    // layout goes through the panel path below.
    for (; row0 < row_end && (jb.packed || row0 + 16 <= row_end); row0 += 16) {
      const size_t nr = min_size(16, row_end - row0);
      with_cursor(row0, [&](const auto& cur) {
        if (jb.n_tok == 1)
          gemv_any(jb.wtype, cur, nb, nr, a[0], jb.y + row0);
        else
          gemv_tokens_any(jb.wtype, cur, nb, nr, a, jb.n_tok, jb.y + row0, jb.n_out);
      });
    }
    row_begin = row0;
  }
  Panel p = thread_panel(jb.n_in, n_sub, kSlot, kRows);
  for (size_t row0 = row_begin; row0 < row_end; row0 += kRows) {
    const size_t nr = min_size(kRows, row_end - row0);
    for (size_t g = 0; g < 2; ++g) {
      const size_t first = row0 + 16 * g;
      const size_t rows = first < row_end ? min_size(16, row_end - first) : 0;
      if (rows == 16 || (jb.packed && rows > 0))
        with_cursor(first, [&](const auto& cur) { repack_any(jb.wtype, cur, nb, p, g); });
      else
        repack_generic(jb, jb.w + first * jb.row_stride, rows, p, g, f);
    }
    if (f.sub_len == 16)
      f.has_min ? run_tokens<16, true>(jb, p, row0, nr) : run_tokens<16, false>(jb, p, row0, nr);
    else
      f.has_min ? run_tokens<32, true>(jb, p, row0, nr) : run_tokens<32, false>(jb, p, row0, nr);
  }
}

}  // namespace minillm::kernels::isa
