// Quantizers of the K-quant types (layouts and value formulas: k_quants.cpp).
// Each super-block is quantized in three steps:
//  1. every sub-block gets the scale (and min) that minimize its squared error: for a grid of
//     candidate scales the values are rounded, then the least-squares scale (and min) for those
//     integers is computed and the best candidate kept;
//  2. the sub-block scales (and mins) are quantized to the format's small integers relative to
//     the fp16 super-block factors;
//  3. the values are re-rounded with the scales actually stored.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/f16.h"
#include "kernels/quant/quant_impl.h"

namespace minillm::kernels::detail {
namespace {

struct Fit {
  float scale = 0.0f;
  float min = 0.0f;  // value of q = 0 is -min (min >= 0), for the asymmetric types
};

int nearest(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::lrint(v)), lo, hi);
}

// x ~ scale * q - min, q in [0, qmax], min >= 0 (the formats can only subtract).
Fit fit_asymmetric(const float* x, int n, int qmax) {
  float lo = *std::min_element(x, x + n), hi = *std::max_element(x, x + n);
  lo = std::min(lo, 0.0f);
  if (hi - lo <= 0.0f) return {0.0f, -lo};
  Fit best{(hi - lo) / static_cast<float>(qmax), -lo};
  double best_err = HUGE_VAL;
  int q[32];
  for (int step = -6; step <= 6; ++step) {
    const float s = (hi - lo) / (static_cast<float>(qmax) + 0.1f * static_cast<float>(step));
    for (int i = 0; i < n; ++i) q[i] = nearest((x[i] - lo) / s, 0, qmax);
    // Least squares for x ~ a * q + b.
    double sq = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      sq += q[i], sqq += double(q[i]) * q[i], sx += x[i], sqx += double(q[i]) * x[i];
    }
    const double det = n * sqq - sq * sq;
    if (det <= 0) continue;
    double a = (n * sqx - sq * sx) / det, b = (sx - a * sq) / n;
    if (b > 0) {  // the offset must be <= 0: refit the scale alone
      b = 0;
      a = sqq > 0 ? sqx / sqq : 0;
    }
    if (a <= 0) continue;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const double e = a * q[i] + b - x[i];
      err += e * e;
    }
    if (err < best_err) best_err = err, best = {float(a), float(-b)};
  }
  return best;
}

// x ~ scale * q, q in [-nneg, npos]; scale may be negative (so the larger side gets nneg).
float fit_symmetric(const float* x, int n, int nneg, int npos) {
  float amax = 0.0f, smax = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), smax = x[i];
  if (amax == 0.0f) return 0.0f;
  float best = smax / -static_cast<float>(nneg);
  double best_err = HUGE_VAL;
  for (int step = -8; step <= 8; ++step) {
    const float s = smax / (-static_cast<float>(nneg) + 0.1f * static_cast<float>(step));
    double sqq = 0, sqx = 0;
    int q[32];
    for (int i = 0; i < n; ++i) {
      q[i] = nearest(x[i] / s, -nneg, npos);
      sqq += double(q[i]) * q[i], sqx += double(q[i]) * x[i];
    }
    if (sqq <= 0) continue;
    const double a = sqx / sqq;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const double e = a * q[i] - x[i];
      err += e * e;
    }
    if (err < best_err) best_err = err, best = float(a);
  }
  return best;
}

// fp16 of v, and the float it stands for.
float to_half(float v, uint16_t* out) {
  *out = fp32_to_fp16(v);
  return fp16_to_fp32(*out);
}

// Integer multiple of unit nearest to v, in [lo, hi] (unit 0: 0).
int steps_of(float v, float unit, int lo, int hi) {
  return unit != 0.0f ? nearest(v / unit, lo, hi) : 0;
}

// Q4_K/Q5_K: 8 sub-blocks of 32, 6-bit scales and mins packed as unpacked in k_quants.cpp.
void quantize_k45(const float* x, int qmax, uint16_t* d16, uint16_t* dmin16, uint8_t* scales,
                  uint8_t* q) {
  Fit f[8];
  float smax = 0.0f, mmax = 0.0f;
  for (int j = 0; j < 8; ++j) {
    f[j] = fit_asymmetric(x + 32 * j, 32, qmax);
    smax = std::max(smax, f[j].scale), mmax = std::max(mmax, f[j].min);
  }
  const float d = to_half(smax / 63.0f, d16), dmin = to_half(mmax / 63.0f, dmin16);
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = steps_of(f[j].scale, d, 0, 63);
    mn[j] = steps_of(f[j].min, dmin, 0, 63);
  }
  std::memset(scales, 0, kKScaleBytes);
  for (int j = 0; j < 4; ++j) {
    scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    scales[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | ((mn[j + 4] & 0x0F) << 4));
  }
  for (int j = 0; j < 8; ++j) {
    const float s = d * static_cast<float>(sc[j]), m = dmin * static_cast<float>(mn[j]);
    for (int i = 0; i < 32; ++i)
      q[32 * j + i] = static_cast<uint8_t>(s > 0 ? nearest((x[32 * j + i] + m) / s, 0, qmax) : 0);
  }
}

}  // namespace

void quantize_row_q2_k(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ2_K*>(dst);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, src += kQK_K) {
    Fit f[16];
    float smax = 0.0f, mmax = 0.0f;
    for (int j = 0; j < 16; ++j) {
      f[j] = fit_asymmetric(src + 16 * j, 16, 3);
      smax = std::max(smax, f[j].scale), mmax = std::max(mmax, f[j].min);
    }
    const float d = to_half(smax / 15.0f, &b->d), dmin = to_half(mmax / 15.0f, &b->dmin);
    uint8_t q[kQK_K];
    for (int j = 0; j < 16; ++j) {
      const int sc = steps_of(f[j].scale, d, 0, 15), mn = steps_of(f[j].min, dmin, 0, 15);
      b->scales[j] = static_cast<uint8_t>(sc | (mn << 4));
      const float s = d * static_cast<float>(sc), m = dmin * static_cast<float>(mn);
      for (int i = 0; i < 16; ++i)
        q[16 * j + i] = static_cast<uint8_t>(s > 0 ? nearest((src[16 * j + i] + m) / s, 0, 3) : 0);
    }
    // Element 128h + 32s + l: bit pair s of qs[32h + l].
    std::memset(b->qs, 0, sizeof(b->qs));
    for (int e = 0; e < 256; ++e)
      b->qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q[e] << (2 * ((e % 128) / 32)));
  }
}

void quantize_row_q3_k(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ3_K*>(dst);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, src += kQK_K) {
    float s[16], amax = 0.0f;
    for (int j = 0; j < 16; ++j) {
      s[j] = fit_symmetric(src + 16 * j, 16, 4, 3);
      if (std::fabs(s[j]) > std::fabs(amax)) amax = s[j];
    }
    // Scales are 6-bit signed (-32..31): the largest magnitude maps to -32.
    const float d = to_half(amax / -32.0f, &b->d);
    std::memset(b->scales, 0, sizeof(b->scales));
    std::memset(b->hmask, 0, sizeof(b->hmask));
    std::memset(b->qs, 0, sizeof(b->qs));
    for (int j = 0; j < 16; ++j) {
      const int sc = steps_of(s[j], d, -32, 31), v = sc + 32;
      b->scales[j % 8] |= static_cast<uint8_t>((v & 0x0F) << (j < 8 ? 0 : 4));
      b->scales[8 + j % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (j / 4)));
      const float sl = d * static_cast<float>(sc);
      for (int i = 0; i < 16; ++i) {
        const int e = 16 * j + i;
        const int q = (sl != 0.0f ? nearest(src[e] / sl, -4, 3) : 0) + 4;
        b->qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((q & 3) << (2 * ((e % 128) / 32)));
        b->hmask[e % 32] |= static_cast<uint8_t>((q >> 2) << (e / 32));
      }
    }
  }
}

void quantize_row_q4_k(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  uint8_t q[kQK_K];
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, src += kQK_K) {
    quantize_k45(src, 15, &b->d, &b->dmin, b->scales, q);
    // 32 bytes per 64 elements: sub-block 2c in the low nibbles, 2c + 1 in the high ones.
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        b->qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

void quantize_row_q5_k(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ5_K*>(dst);
  uint8_t q[kQK_K];
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, src += kQK_K) {
    quantize_k45(src, 31, &b->d, &b->dmin, b->scales, q);
    std::memset(b->qh, 0, sizeof(b->qh));
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        b->qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
        b->qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
  }
}

void quantize_row_q6_k(const float* src, void* dst, size_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (size_t ib = 0; ib < n / kQK_K; ++ib, ++b, src += kQK_K) {
    float s[16], amax = 0.0f;
    for (int j = 0; j < 16; ++j) {
      s[j] = fit_symmetric(src + 16 * j, 16, 32, 31);
      if (std::fabs(s[j]) > std::fabs(amax)) amax = s[j];
    }
    const float d = to_half(amax / -128.0f, &b->d);  // signed 8-bit scales
    uint8_t q[kQK_K];
    for (int j = 0; j < 16; ++j) {
      const int sc = steps_of(s[j], d, -128, 127);
      b->scales[j] = static_cast<int8_t>(sc);
      const float sl = d * static_cast<float>(sc);
      for (int i = 0; i < 16; ++i)
        q[16 * j + i] =
            static_cast<uint8_t>((sl != 0.0f ? nearest(src[16 * j + i] / sl, -32, 31) : 0) + 32);
    }
    // Element 128h + 32k + l: low 4 bits in ql[64h + l + 32 (k & 1)] (high nibble for k >= 2),
    // high 2 bits at bit pair k of qh[32h + l].
    std::memset(b->ql, 0, sizeof(b->ql));
    std::memset(b->qh, 0, sizeof(b->qh));
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 4; ++k)
        for (int l = 0; l < 32; ++l) {
          const int v = q[128 * h + 32 * k + l];
          b->ql[64 * h + l + 32 * (k & 1)] |= static_cast<uint8_t>((v & 0x0F) << (k < 2 ? 0 : 4));
          b->qh[32 * h + l] |= static_cast<uint8_t>((v >> 4) << (2 * k));
        }
  }
}

}  // namespace minillm::kernels::detail
