#include "eigen_reference.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "kernels/quant/quant.h"
#include "minillm/gguf.h"

namespace minillm::test {
namespace {

using Mat = Eigen::MatrixXd;  // rows are tokens (activations) or outputs (weights)
using Vec = Eigen::VectorXd;

class Weights {
 public:
  explicit Weights(const std::filesystem::path& path) : f_(GGUFFile::open(path)) {}

  uint32_t u32(const std::string& key, uint32_t fallback) const {
    const GGUFValue* v = f_.find("llama." + key);
    return v ? uint32_t(v->as_uint(key)) : fallback;
  }
  double f64(const std::string& key, double fallback) const {
    const GGUFValue* v = f_.find("llama." + key);
    return v ? v->as_float(key) : fallback;
  }
  bool has(const std::string& tensor) const { return f_.find_tensor(tensor) != nullptr; }

  // The (rows × cols) matrix of a GGUF tensor [cols, rows, ...]; `slice` picks along the third
  // dimension.
  Mat matrix(const std::string& name, uint64_t slice = 0) const {
    const GGUFTensorInfo* t = f_.find_tensor(name);
    if (!t) throw std::runtime_error("reference: no tensor " + name);
    const uint64_t cols = t->shape[0], rows = t->shape.size() > 1 ? t->shape[1] : 1;
    const size_t rb = row_bytes(t->type, cols);
    std::vector<float> row(cols);
    Mat m(rows, cols);
    for (uint64_t r = 0; r < rows; ++r) {
      kernels::dequantize_row(t->type, t->data.data() + (slice * rows + r) * rb, row.data(), cols);
      for (uint64_t c = 0; c < cols; ++c) m(r, c) = row[c];
    }
    return m;
  }
  Vec vector(const std::string& name) const { return matrix(name).row(0).transpose(); }

 private:
  GGUFFile f_;
};

Mat rms_norm(const Mat& x, const Vec& g, double eps) {
  Mat y(x.rows(), x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const double s = 1.0 / std::sqrt(x.row(t).squaredNorm() / double(x.cols()) + eps);
    y.row(t) = (x.row(t).array() * s * g.transpose().array()).matrix();
  }
  return y;
}

// RoPE on adjacent pairs (2i, 2i+1) of every head of row t, angle pos · theta^(-2i / n_rot).
void rope(Mat& x, uint32_t n_heads, uint32_t hd, uint32_t n_rot, double theta) {
  for (Eigen::Index t = 0; t < x.rows(); ++t)
    for (uint32_t h = 0; h < n_heads; ++h)
      for (uint32_t i = 0; i < n_rot / 2; ++i) {
        const double a = double(t) * std::pow(theta, -2.0 * i / double(n_rot));
        double& x0 = x(t, h * hd + 2 * i);
        double& x1 = x(t, h * hd + 2 * i + 1);
        const double r0 = x0 * std::cos(a) - x1 * std::sin(a);
        const double r1 = x0 * std::sin(a) + x1 * std::cos(a);
        x0 = r0;
        x1 = r1;
      }
}

Mat silu_glu(const Mat& gate, const Mat& up) {
  return (gate.array() / (1.0 + (-gate.array()).exp()) * up.array()).matrix();
}

}  // namespace

ReferenceResult reference_forward(const std::filesystem::path& gguf,
                                  const std::vector<int32_t>& tokens) {
  const Weights w(gguf);
  const uint32_t d = w.u32("embedding_length", 0), n_layer = w.u32("block_count", 0);
  const uint32_t n_head = w.u32("attention.head_count", 0);
  const uint32_t n_kv = w.u32("attention.head_count_kv", n_head);
  const uint32_t hd = w.u32("attention.key_length", d / n_head);
  const uint32_t n_rot = w.u32("rope.dimension_count", hd);
  const uint32_t n_expert = w.u32("expert_count", 0), k = w.u32("expert_used_count", 0);
  const double eps = w.f64("attention.layer_norm_rms_epsilon", 1e-5);
  const double theta = w.f64("rope.freq_base", 10000.0);
  const Eigen::Index n = Eigen::Index(tokens.size());

  ReferenceResult out;
  out.routing_gap.assign(tokens.size(), std::numeric_limits<double>::infinity());
  const Mat embd = w.matrix("token_embd.weight");
  Mat x(n, d);
  for (Eigen::Index t = 0; t < n; ++t) x.row(t) = embd.row(tokens[t]);

  for (uint32_t l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    // Attention: each query head h reads KV head h / (n_head / n_kv), causal.
    Mat xn = rms_norm(x, w.vector(p + "attn_norm.weight"), eps);
    Mat q = xn * w.matrix(p + "attn_q.weight").transpose();
    Mat kk = xn * w.matrix(p + "attn_k.weight").transpose();
    const Mat v = xn * w.matrix(p + "attn_v.weight").transpose();
    rope(q, n_head, hd, n_rot, theta);
    rope(kk, n_kv, hd, n_rot, theta);
    Mat att = Mat::Zero(n, Eigen::Index(n_head) * hd);
    for (uint32_t h = 0; h < n_head; ++h) {
      const uint32_t g = h / (n_head / n_kv);
      const Mat qh = q.middleCols(h * hd, hd), kh = kk.middleCols(g * hd, hd);
      const Mat vh = v.middleCols(g * hd, hd);
      Mat s = qh * kh.transpose() / std::sqrt(double(hd));
      for (Eigen::Index i = 0; i < n; ++i) {
        const double m = s.row(i).head(i + 1).maxCoeff();
        Vec a = (s.row(i).head(i + 1).array() - m).exp().transpose();
        a /= a.sum();
        att.block(i, h * hd, 1, hd) = a.transpose() * vh.topRows(i + 1);
      }
    }
    x += att * w.matrix(p + "attn_output.weight").transpose();

    // Feed-forward: SwiGLU, or the k experts of softmax(router) mixed by renormalised weights.
    xn = rms_norm(x, w.vector(p + "ffn_norm.weight"), eps);
    if (n_expert == 0) {
      x += silu_glu(xn * w.matrix(p + "ffn_gate.weight").transpose(),
                    xn * w.matrix(p + "ffn_up.weight").transpose()) *
           w.matrix(p + "ffn_down.weight").transpose();
      continue;
    }
    const Mat logits = xn * w.matrix(p + "ffn_gate_inp.weight").transpose();
    const bool stacked = w.has(p + "ffn_gate_exps.weight");
    auto expert = [&](const char* what, uint32_t e) {
      return stacked ? w.matrix(p + what + "_exps.weight", e)
                     : w.matrix(p + what + "." + std::to_string(e) + ".weight");
    };
    Mat ffn = Mat::Zero(n, d);
    for (uint32_t e = 0; e < n_expert; ++e) {
      const Mat gate = expert("ffn_gate", e), up = expert("ffn_up", e),
                down = expert("ffn_down", e);
      for (Eigen::Index t = 0; t < n; ++t) {
        Vec prob = (logits.row(t).array() - logits.row(t).maxCoeff()).exp().transpose();
        prob /= prob.sum();
        std::vector<uint32_t> order(n_expert);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](uint32_t a, uint32_t b) { return prob(a) > prob(b); });
        if (e == 0 && k < n_expert)
          out.routing_gap[t] =
              std::min(out.routing_gap[t], logits(t, order[k - 1]) - logits(t, order[k]));
        double chosen = 0;
        bool mine = false;
        for (uint32_t i = 0; i < k; ++i) {
          chosen += prob(order[i]);
          mine |= order[i] == e;
        }
        if (!mine) continue;
        const Mat h = xn.row(t);
        ffn.row(t) += prob(e) / chosen *
                      (silu_glu(h * gate.transpose(), h * up.transpose()) * down.transpose());
      }
    }
    x += ffn;
  }
  const Mat xn = rms_norm(x, w.vector("output_norm.weight"), eps);
  const Mat logits =
      xn * w.matrix(w.has("output.weight") ? "output.weight" : "token_embd.weight").transpose();
  out.n_vocab = size_t(logits.cols());
  out.logits.resize(size_t(n) * out.n_vocab);
  for (Eigen::Index t = 0; t < n; ++t)
    for (Eigen::Index v = 0; v < logits.cols(); ++v)
      out.logits[size_t(t) * out.n_vocab + size_t(v)] = logits(t, v);
  return out;
}

}  // namespace minillm::test
