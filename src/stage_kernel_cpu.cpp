#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "stage_evaluator.h"

namespace boosthead::detail {
namespace {

template <typename T>
inline double dot(const T* a, const T* b, int64_t n) {
  // Four independent sums let the compiler keep several lanes busy without -ffast-math.
  T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return static_cast<double>((s0 + s1) + (s2 + s3));
}

inline double act_value(Activation a, double z) {
  switch (a) {
    case Activation::Sigmoid: return 1.0 / (1.0 + std::exp(-z));
    case Activation::Tanh: return std::tanh(z);
    case Activation::Relu: return z > 0 ? z : 0.0;
  }
  return z;
}

inline double act_slope(Activation a, double z, double h) {
  switch (a) {
    case Activation::Sigmoid: return h * (1.0 - h);
    case Activation::Tanh: return 1.0 - h * h;
    case Activation::Relu: return z > 0 ? 1.0 : 0.0;
  }
  return 1.0;
}

// Rows per task: small stages run on the calling thread, large ones split across threads.
constexpr int64_t kGrain = 4096;

template <typename T>
class CpuEvaluator final : public StageEvaluator {
 public:
  CpuEvaluator(const torch::Tensor& x, const torch::Tensor& r, int64_t units,
               const StageProblem& problem, bool project)
      : xt_(x.contiguous()),
        rt_(r.to(x.scalar_type()).contiguous()),
        x_(xt_.data_ptr<T>()),
        r_(rt_.data_ptr<T>()),
        n_(x.size(0)),
        d_(x.size(1)),
        j_(units),
        k_(r.size(1)),
        act_(problem.activation()),
        l2_(problem.l2()),
        project_(project),
        w1_(j_ * d_),
        b1_(j_),
        w2_(k_ * j_),
        b2_(k_),
        w2b2_(k_ * j_ + k_) {
    if (project_) {
      z_.resize(n_ * j_);
      h_.resize(n_ * j_);
    }
    threads_ = std::max(1, at::get_num_threads());
  }

  double evaluate(const std::vector<double>& theta, std::vector<double>* grad) override {
    load(theta);
    if (project_) solve_output_layer();
    const int64_t gsize = j_ * d_ + j_ + k_ * j_ + k_;  // full gradient, sse after it
    acc_.assign(static_cast<size_t>(threads_) * (gsize + 1), 0.0);
    const bool want_grad = grad != nullptr;
    at::parallel_for(0, n_, kGrain, [&](int64_t begin, int64_t end) {
      // Local copies and restrict pointers: stores into the accumulators must not force the
      // compiler to reload the weights or the running sum on every row.
      double* acc = acc_.data() + static_cast<size_t>(at::get_thread_num() % threads_) * (gsize + 1);
      double* __restrict gw1 = acc;
      double* __restrict gb1 = gw1 + j_ * d_;
      double* __restrict gw2 = gb1 + j_;
      double* __restrict gb2 = gw2 + k_ * j_;
      const double* __restrict w2 = w2_.data();
      const double* __restrict b1 = b1_.data();
      const double* __restrict b2 = b2_.data();
      const T* __restrict w1 = w1t_.data();
      const T* __restrict rr = r_;
      const double* __restrict zs = z_.data();
      const double* __restrict hs = h_.data();
      const int64_t nj = j_, nk = k_, nd = d_;
      const Activation act = act_;
      const bool project = project_;
      double sse = 0.0;
      std::vector<double> zv(nj), hv(nj), ev(nk);
      double* __restrict z = zv.data();
      double* __restrict h = hv.data();
      double* __restrict e = ev.data();
      for (int64_t i = begin; i < end; ++i) {
        const T* __restrict xi = x_ + i * nd;
        if (project) {
          for (int64_t j = 0; j < nj; ++j) {
            z[j] = zs[i * nj + j];
            h[j] = hs[i * nj + j];
          }
        } else {
          for (int64_t j = 0; j < nj; ++j) {
            z[j] = b1[j] + dot(xi, w1 + j * nd, nd);
            h[j] = act_value(act, z[j]);
          }
        }
        for (int64_t k = 0; k < nk; ++k) {
          double p = b2[k];
          for (int64_t j = 0; j < nj; ++j) p += h[j] * w2[k * nj + j];
          e[k] = p - static_cast<double>(rr[i * nk + k]);
          sse += e[k] * e[k];
        }
        if (!want_grad) continue;
        for (int64_t k = 0; k < nk; ++k) {
          gb2[k] += e[k];
          for (int64_t j = 0; j < nj; ++j) gw2[k * nj + j] += e[k] * h[j];
        }
        for (int64_t j = 0; j < nj; ++j) {
          double dh = 0.0;
          for (int64_t k = 0; k < nk; ++k) dh += e[k] * w2[k * nj + j];
          const double dz = dh * act_slope(act, z[j], h[j]);
          if (dz == 0.0) continue;
          gb1[j] += dz;
          double* __restrict g = gw1 + j * nd;
          for (int64_t q = 0; q < nd; ++q) g[q] += dz * static_cast<double>(xi[q]);
        }
      }
      acc[gsize] += sse;
    });
    for (int t = 1; t < threads_; ++t) {
      const double* src = acc_.data() + static_cast<size_t>(t) * (gsize + 1);
      for (int64_t q = 0; q <= gsize; ++q) acc_[q] += src[q];
    }
    const double nk = static_cast<double>(n_ * k_);
    const double c = l2_ / static_cast<double>(n_);
    double penalty = 0.0;
    for (double w : w1_) penalty += w * w;
    for (double w : w2_) penalty += w * w;
    const double f = 0.5 * acc_[gsize] / nk + 0.5 * c * penalty;
    if (want_grad) {
      const int64_t p = project_ ? j_ * d_ + j_ : gsize;
      grad->resize(p);
      for (int64_t q = 0; q < p; ++q) (*grad)[q] = acc_[q] / nk;
      for (int64_t q = 0; q < j_ * d_; ++q) (*grad)[q] += c * w1_[q];
      if (!project_) {
        for (int64_t q = 0; q < k_ * j_; ++q) (*grad)[j_ * d_ + j_ + q] += c * w2_[q];
      }
    }
    return f;
  }

  void finish(const std::vector<double>& theta, StageParams& params) override {
    if (project_) {
      load(theta);
      solve_output_layer();
      write_params(theta, &w2b2_, params);
    } else {
      write_params(theta, nullptr, params);
    }
  }

 private:
  void load(const std::vector<double>& theta) {
    std::copy(theta.begin(), theta.begin() + j_ * d_, w1_.begin());
    std::copy(theta.begin() + j_ * d_, theta.begin() + j_ * d_ + j_, b1_.begin());
    w1t_.assign(w1_.begin(), w1_.end());
    if (!project_) {
      const auto o = theta.begin() + j_ * d_ + j_;
      std::copy(o, o + k_ * j_, w2_.begin());
      std::copy(o + k_ * j_, o + k_ * j_ + k_, b2_.begin());
    }
  }

  // Hidden activations of every row, then the exact ridge solution for the output layer.
  void solve_output_layer() {
    const int64_t m = j_ + 1, cols = m + k_;
    acc_.assign(static_cast<size_t>(threads_) * m * cols, 0.0);
    at::parallel_for(0, n_, kGrain, [&](int64_t begin, int64_t end) {
      double* a = acc_.data() + static_cast<size_t>(at::get_thread_num() % threads_) * m * cols;
      std::vector<double> row(cols);
      for (int64_t i = begin; i < end; ++i) {
        const T* xi = x_ + i * d_;
        for (int64_t j = 0; j < j_; ++j) {
          const double z = b1_[j] + dot(xi, w1t_.data() + j * d_, d_);
          z_[i * j_ + j] = z;
          row[j] = h_[i * j_ + j] = act_value(act_, z);
        }
        row[j_] = 1.0;
        for (int64_t k = 0; k < k_; ++k) row[m + k] = static_cast<double>(r_[i * k_ + k]);
        for (int64_t p = 0; p < m; ++p) {
          const double v = row[p];
          double* out = a + p * cols;
          for (int64_t q = p; q < cols; ++q) out[q] += v * row[q];
        }
      }
    });
    std::vector<double> normal(m * cols, 0.0);
    for (int t = 0; t < threads_; ++t) {
      const double* src = acc_.data() + static_cast<size_t>(t) * m * cols;
      for (int64_t q = 0; q < m * cols; ++q) normal[q] += src[q];
    }
    for (int64_t p = 0; p < m; ++p) {
      for (int64_t q = 0; q < p; ++q) normal[p * cols + q] = normal[q * cols + p];
    }
    std::vector<double> b;
    solve_output_ridge(normal, m, k_, l2_ * static_cast<double>(k_), b);
    for (int64_t k = 0; k < k_; ++k) {
      for (int64_t j = 0; j < j_; ++j) w2_[k * j_ + j] = b[j * k_ + k];
      b2_[k] = b[j_ * k_ + k];
    }
    std::copy(w2_.begin(), w2_.end(), w2b2_.begin());
    std::copy(b2_.begin(), b2_.end(), w2b2_.begin() + k_ * j_);
  }

  torch::Tensor xt_, rt_;
  const T* x_;
  const T* r_;
  int64_t n_, d_, j_, k_;
  Activation act_;
  double l2_;
  bool project_;
  int threads_ = 1;
  std::vector<double> w1_, b1_, w2_, b2_, w2b2_, acc_, z_, h_;
  std::vector<T> w1t_;
};

}  // namespace

std::unique_ptr<StageEvaluator> make_cpu_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                   int64_t units, const StageProblem& problem,
                                                   bool project_output) {
  // Float32 sums lose the last digits the line search and the stopping rule look at; small
  // stages are cheap to copy to float64, large ones stay in their own type.
  constexpr int64_t kPromoteElements = int64_t{1} << 22;
  if (x.scalar_type() == torch::kDouble || x.numel() <= kPromoteElements) {
    return std::make_unique<CpuEvaluator<double>>(x.to(torch::kDouble), r, units, problem,
                                                  project_output);
  }
  return std::make_unique<CpuEvaluator<float>>(x.to(torch::kFloat), r, units, problem,
                                               project_output);
}

}  // namespace boosthead::detail
