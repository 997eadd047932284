// IQ4_NL and IQ4_XS: 4-bit indices q into the fixed table L = kIQ4Levels (blocks.h) of 16 signed
// levels, -127 .. 113.
//   IQ4_NL: 32 elements per block:                 x = d * L[q]
//   IQ4_XS: 256 elements, 8 sub-blocks of 32:      x = d * (ls_b - 32) * L[q]   (b = e / 32)
// Element j (0..15) of a 32-element (sub-)block is the low nibble of its qs[j], element j + 16 the
// high nibble. Every product is exact in float (d has 11 significant bits, ls - 32 six, L seven),
// so each value is rounded at most once, whatever the evaluation order.
//
// The quantizers minimize the plain squared error (no importance weights). A 32-element block's
// scale is searched over candidates that put its largest element near either end of the table;
// each candidate's indices are the nearest levels, and the least-squares scale for those indices
// is kept if it explains more of the block; the best one is refined by a few rounds of (nearest
// indices, least-squares scale). IQ4_XS then looks for the super-block scale d whose 6-bit
// multiples (ls - 32 in -32..31) give the least total error, trying both neighbouring multiples of
// each sub-block's best scale and re-choosing the indices for the scales actually stored.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant_impl.h"

namespace minillm::kernels::detail {
namespace {

constexpr size_t kHalf = kQK / 2;
constexpr int kSubs = static_cast<int>(kQK_K / kQK);  // IQ4_XS sub-blocks per super-block

// Midpoints between consecutive levels: a value above kMid[k] is nearer level k + 1 than level k.
constexpr std::array<float, 15> kMid = [] {
  std::array<float, 15> m{};
  for (size_t k = 0; k < m.size(); ++k)
    m[k] = 0.5f * static_cast<float>(kIQ4Levels[k] + kIQ4Levels[k + 1]);
  return m;
}();

// The midpoints are multiples of 1/2, so every interval [i/2, (i+1)/2) lies between two of them
// and has one nearest level: kNearest[i + 2 * kReach] for i/2 in [-kReach, kReach).
constexpr int kReach = 130;  // beyond both ends of the table
constexpr std::array<uint8_t, 4 * kReach + 1> kNearest = [] {
  std::array<uint8_t, 4 * kReach + 1> t{};
  for (size_t i = 0; i < t.size(); ++i) {
    const float v = (static_cast<float>(i) - 2.0f * kReach + 0.5f) / 2.0f;  // the interval's middle
    uint8_t q = 0;
    for (float m : kMid) q = static_cast<uint8_t>(q + (v > m ? 1 : 0));
    t[i] = q;
  }
  return t;
}();

// Index of the level nearest v (at a midpoint, either; a NaN gives index 0).
int nearest_level(float v) {
  const float c = std::max(-static_cast<float>(kReach), std::min(v, static_cast<float>(kReach)));
  return kNearest[static_cast<size_t>(2.0f * c + 2.0f * kReach)];
}

float level(int q) {
  return static_cast<float>(kIQ4Levels[q]);
}

// Nearest indices of x / s (s != 0) and, for them, the sums of the least-squares fit x ~ a * L[q]:
// a = xl / ll, and the squared error at that a is sum(x^2) - xl^2 / ll.
struct Fit {
  double xl = 0, ll = 0;
};

Fit assign(const float* x, float s, uint8_t* q) {
  const float inv = 1.0f / s;
  Fit f;
  for (size_t i = 0; i < kQK; ++i) {
    q[i] = static_cast<uint8_t>(nearest_level(x[i] * inv));
    const double l = level(q[i]);
    f.xl += double(x[i]) * l;
    f.ll += l * l;
  }
  return f;
}

// The float scale of a 32-element block with the least squared error found by the search above
// (0 for an all-zero block). May be negative: the table is not symmetric.
float best_scale(const float* x) {
  const float xm = signed_absmax(x, kQK);
  if (xm == 0.0f) return 0.0f;
  uint8_t q[kQK];
  float best = xm / level(0);
  double best_gain = -1.0;  // xl^2 / ll of the best scale: larger is a smaller error
  auto consider = [&](float s) {
    const Fit f = assign(x, s, q);
    if (f.ll <= 0.0 || f.xl == 0.0) return false;
    const double gain = f.xl * f.xl / f.ll;
    if (gain <= best_gain) return false;
    best_gain = gain;
    best = static_cast<float>(f.xl / f.ll);
    return true;
  };
  // The largest element at about -127 (negative scales for a positive element) or about 113.
  for (int t = -139; t <= -112; t += 3) consider(xm / static_cast<float>(t));
  for (int t = 101; t <= 122; t += 3) consider(xm / static_cast<float>(t));
  for (int round = 0; round < 4; ++round)
    if (!consider(best)) break;
  return best;
}

// Squared error of a 32-element block at scale s with its nearest indices (written to q).
double block_error(const float* x, float s, uint8_t* q) {
  double err = 0;
  if (s == 0.0f) {
    for (size_t i = 0; i < kQK; ++i) err += double(x[i]) * x[i];
    std::fill(q, q + kQK, static_cast<uint8_t>(nearest_level(0.0f)));
    return err;
  }
  const float inv = 1.0f / s;
  for (size_t i = 0; i < kQK; ++i) {
    q[i] = static_cast<uint8_t>(nearest_level(x[i] * inv));
    const double e = double(s * level(q[i])) - x[i];  // s * L exact: the dequantized value
    err += e * e;
  }
  return err;
}

void store_nibbles(const uint8_t* q, uint8_t* qs) {
  for (size_t j = 0; j < kHalf; ++j) qs[j] = static_cast<uint8_t>(q[j] | (q[j + kHalf] << 4));
}

void quantize_block_iq4_xs(const float* x, BlockIQ4_XS* b) {
  float s[kSubs], smax = 0.0f;  // each sub-block's best scale; the one of largest magnitude
  for (int j = 0; j < kSubs; ++j) {
    s[j] = best_scale(x + kQK * static_cast<size_t>(j));
    if (std::fabs(s[j]) > std::fabs(smax)) smax = s[j];
  }
  // For a candidate super-block scale: each sub-block's multiple (the two neighbours of its best
  // scale), the indices and the total error, kept if better than the best so far.
  uint8_t q[kQK_K], trial[kQK];
  int best_l[kSubs] = {};
  uint16_t best_d = 0;
  double best_err = HUGE_VAL;
  auto consider = [&](float dc) {
    const uint16_t d16 = fp32_to_fp16(dc);
    const float d = fp16_to_fp32(d16);
    if (!(d != 0.0f) || !std::isfinite(d)) return;
    int l[kSubs];
    uint8_t qq[kQK_K];
    double total = 0;
    for (int j = 0; j < kSubs; ++j) {
      const float* xj = x + kQK * static_cast<size_t>(j);
      const float r = s[j] / d;
      const int lo = std::clamp(static_cast<int>(std::floor(r)), -32, 31);
      const int hi = std::min(lo + 1, 31);
      double err = HUGE_VAL;
      for (int c = lo; c <= hi; ++c) {
        const double e = block_error(xj, d * static_cast<float>(c), trial);
        if (e < err) err = e, l[j] = c, std::memcpy(qq + kQK * static_cast<size_t>(j), trial, kQK);
      }
      total += err;
      if (total >= best_err) return;
    }
    best_err = total, best_d = d16;
    std::memcpy(best_l, l, sizeof(l));
    std::memcpy(q, qq, sizeof(qq));
  };
  if (smax != 0.0f) {
    // The largest scale at the end with one more step (-32), or a little inside the range.
    for (float t : {-32.0f, -31.5f, -31.0f, -30.0f, 31.0f}) consider(smax / t);
    // Least-squares super-block scale for the chosen multiples and indices.
    if (best_err < HUGE_VAL) {
      double num = 0, den = 0;
      for (size_t e = 0; e < kQK_K; ++e) {
        const double v = double(best_l[e / kQK]) * level(q[e]);
        num += x[e] * v, den += v * v;
      }
      if (den > 0) consider(static_cast<float>(num / den));
    }
  }
  if (best_err == HUGE_VAL) {  // all zero (or scales too small for fp16): every value 0
    best_d = 0;
    std::fill(best_l, best_l + kSubs, 0);
    std::fill(q, q + kQK_K, static_cast<uint8_t>(nearest_level(0.0f)));
  }
  b->d = best_d;
  b->scales_h = 0;
  std::memset(b->scales_l, 0, sizeof(b->scales_l));
  for (int j = 0; j < kSubs; ++j) {
    const int ls = best_l[j] + 32;
    b->scales_l[j / 2] |= static_cast<uint8_t>((ls & 0x0F) << (4 * (j % 2)));
    b->scales_h |= static_cast<uint16_t>((ls >> 4) << (2 * j));
    store_nibbles(q + kQK * static_cast<size_t>(j), b->qs + kHalf * static_cast<size_t>(j));
  }
}

}  // namespace

int iq4_xs_scale(const uint8_t* scales_l, uint16_t scales_h, int sub) {
  const int low = (scales_l[sub / 2] >> (4 * (sub % 2))) & 0x0F;
  const int high = (scales_h >> (2 * sub)) & 3;
  return (low | (high << 4)) - 32;
}

void dequantize_row_iq4_nl(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, dst += kQK) {
    const float d = fp16_to_fp32(b->d);
    for (size_t j = 0; j < kHalf; ++j) {
      dst[j] = d * level(b->qs[j] & 0x0F);
      dst[j + kHalf] = d * level(b->qs[j] >> 4);
    }
  }
}

void dequantize_row_iq4_xs(const void* src, float* dst, size_t n) {
  const auto* b = static_cast<const BlockIQ4_XS*>(src);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b) {
    const float d = fp16_to_fp32(b->d);
    for (int j = 0; j < kSubs; ++j, dst += kQK) {
      const float dl = d * static_cast<float>(iq4_xs_scale(b->scales_l, b->scales_h, j));
      const uint8_t* qs = b->qs + kHalf * static_cast<size_t>(j);
      for (size_t i = 0; i < kHalf; ++i) {
        dst[i] = dl * level(qs[i] & 0x0F);
        dst[i + kHalf] = dl * level(qs[i] >> 4);
      }
    }
  }
}

void quantize_row_iq4_nl(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockIQ4_NL*>(dst);
  uint8_t q[kQK];
  for (size_t ib = 0; ib < n / kQK; ++ib, ++b, src += kQK) {
    b->d = fp32_to_fp16(best_scale(src));
    const float d = fp16_to_fp32(b->d);
    block_error(src, std::isfinite(d) ? d : 0.0f, q);
    store_nibbles(q, b->qs);
  }
}

void quantize_row_iq4_xs(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockIQ4_XS*>(dst);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, src += kQK_K) quantize_block_iq4_xs(src, b);
}

}  // namespace minillm::kernels::detail
