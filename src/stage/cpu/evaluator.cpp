#include <ATen/Parallel.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <type_traits>

#include "../evaluator.h"
#include "../output_ridge.h"
#include "../params.h"
#include "aligned_vector.h"
#include "kernels.h"

// The CPU evaluator: a stage's rows laid out for the SIMD kernels (kernels.h) once, passes split
// over threads, and the solver's loop on the host (StageEvaluator::minimize).

namespace boosthead::detail {
namespace {

using namespace cpu;

template <typename T>
class CpuEvaluator final : public StageEvaluator {
 public:
  // The rows of x and r listed in `rows` (int64), or all rows when it is undefined. Without
  // residuals (r undefined, `outputs` columns) only forward_rows() is available.
  CpuEvaluator(const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& rows,
               int64_t units, const StageProblem& problem, bool project, int64_t outputs = 0)
      : StageEvaluator(project),
        n_(rows.defined() ? rows.numel() : x.size(0)),
        d_(x.size(1)),
        j_(units),
        k_(r.defined() ? r.size(1) : outputs),
        isa_(cpu_isa()),
        group_(isa_ == Isa::Avx512 ? kGroupRows<8>
               : isa_ == Isa::Avx2 ? kGroupRows<4>
                                   : kGroupRows<2>),
        groups_((n_ + group_ - 1) / group_),
        np_(groups_ * group_),
        act_(problem.activation()),
        l2_(problem.l2()),
        w1_(j_ * d_),
        b1_(j_),
        w2_(k_ * j_),
        b2_(k_),
        w2b2_(k_ * j_ + k_),
        w1f_(j_ * d_),
        // The forward pass alone (no residuals) needs the activations, not the pre-activations.
        zs_(r.defined() ? j_ * np_ : 0, 0.0),
        hs_(j_ * np_, 0.0) {
    const int64_t* row_list = nullptr;
    torch::Tensor rows_c;
    if (rows.defined()) {
      rows_c = rows.contiguous();
      row_list = rows_c.data_ptr<int64_t>();
    }
    // Transposed, zero-padded copies: one per stage, read hundreds of times.
    xt_ = blocked<T>(x, row_list);
    // Without residuals only the forward pass runs, which reads none. One unit on float32
    // features and residuals has a kernel of its own that keeps the residuals in float32.
    if (r.defined()) {
      if (std::is_same_v<T, float> && r.scalar_type() == torch::kFloat && j_ == 1 &&
          !project_output_) {
        rtf_ = blocked<float>(r, row_list);
      } else {
        rt_ = blocked<double>(r, row_list);
      }
    }
    // Column sums and the total square of the residuals (padding rows are zero).
    rsum_.assign(k_, 0.0);
    double rr = 0.0;
    for (int64_t g = 0; g < (r.defined() ? groups_ : 0); ++g) {
      for (int64_t c = 0; c < k_; ++c) {
        const int64_t o = (g * k_ + c) * group_;
        double sum = 0.0;
        for (int64_t l = 0; l < group_; ++l) {
          const double v = rtf_.empty() ? rt_[o + l] : rtf_[o + l];
          sum += v;
          rr += v * v;
        }
        rsum_[c] += sum;
      }
    }
    rr_ = rr;
    total_rows_ = static_cast<double>(n_);
    collective_ = problem.collective().get();
    if (collective_ != nullptr) {
      // The objective is over every process's rows: these sums, as the passes' below, are
      // added up across the processes.
      std::vector<double> shared(rsum_);
      shared.push_back(rr_);
      shared.push_back(total_rows_);
      collective_->all_reduce_sum(shared);
      std::copy(shared.begin(), shared.begin() + k_, rsum_.begin());
      rr_ = shared[k_];
      total_rows_ = shared[k_ + 1];
    }
    mask_.assign(np_, 0.0);
    std::fill(mask_.begin(), mask_.begin() + n_, 1.0);
    threads_ = std::max(1, at::get_num_threads());
    objective_ = pick<T, Kind::Objective>(act_, isa_, lanes_);
    hidden_ = pick<T, Kind::Normal>(act_, isa_, lanes_);
    forward_ = pick<T, Kind::Forward>(act_, isa_, lanes_);
  }

  double evaluate(const std::vector<double>& theta, std::vector<double>* grad) override {
    load(theta);
    if (project_output_) solve_output_layer();
    const int64_t gsize = j_ * d_ + j_ + k_ * j_ + k_;  // full gradient, sse after it
    Pass s = pass();
    s.hidden_given = project_output_;
    s.want_grad = grad != nullptr;
    if (j_ == 1) {
      s.w2w2 = 0.0;
      s.w2b2 = 0.0;
      for (int64_t c = 0; c < k_; ++c) {
        s.w2w2 += w2_[c] * w2_[c];
        s.w2b2 += w2_[c] * b2_[c];
      }
    }
    // gradient, sse, and with one unit sum h and sum h^2
    // scratch: the hidden gradient (J x group) and the float32 gradient lanes (J x d x 2L
    // floats); with float32 residuals, float32 lanes for every sum (d + K + 3 vectors) and w2
    run(objective_, s, gsize + 3, j_ * group_ + (j_ * d_ + k_ + 3) * lanes_ + k_);
    reduce_sums(gsize + 3);
    std::vector<double>& sum = sum_;
    if (j_ == 1) expand_one_unit(sum.data());
    const double nk = total_rows_ * static_cast<double>(k_);
    const double c = l2_ / total_rows_;
    double penalty = 0.0;
    for (double w : w1_) penalty += w * w;
    for (double w : w2_) penalty += w * w;
    const double f = 0.5 * sum[gsize] / nk + 0.5 * c * penalty;
    if (grad != nullptr) {
      const int64_t p = project_output_ ? j_ * d_ + j_ : gsize;
      grad->resize(p);
      for (int64_t q = 0; q < p; ++q) (*grad)[q] = sum[q] / nk;
      for (int64_t q = 0; q < j_ * d_; ++q) (*grad)[q] += c * w1_[q];
      if (!project_output_) {
        for (int64_t q = 0; q < k_ * j_; ++q) (*grad)[j_ * d_ + j_ + q] += c * w2_[q];
      }
    }
    return f;
  }

  // With one unit the kernel leaves sum h r_c where the output gradient goes and sum h, sum h^2
  // after the squared error; expands them into the squared error and the output gradient.
  void expand_one_unit(double* sum) const {
    const int64_t ow = d_ + 1, ob = ow + k_, os = ob + k_;
    const double sh = sum[os + 1], shh = sum[os + 2], rows = total_rows_;
    double sse = rr_;
    for (int64_t c = 0; c < k_; ++c) {
      const double w = w2_[c], b = b2_[c], shr = sum[ow + c];
      sse += w * (w * shh + 2.0 * (b * sh - shr)) + b * (rows * b - 2.0 * rsum_[c]);
      sum[ow + c] = w * shh + b * sh - shr;
      sum[ob + c] = w * sh + rows * b - rsum_[c];
    }
    sum[os] = sse;
  }

  // The stage output b2 + W2 act(W1 x + b1) of every row for the weights in p, N x K in `dtype`.
  torch::Tensor forward_rows(const StageParams& p, torch::ScalarType dtype) {
    load(pack_params(p, /*project_output=*/false));
    run(forward_, pass(), 0, 0);
    auto out = torch::empty({n_, k_}, torch::TensorOptions().dtype(dtype));
    if (dtype == torch::kFloat) {
      write_outputs(out.data_ptr<float>());
    } else {
      write_outputs(out.data_ptr<double>());
    }
    return out;
  }

  // A row's few outputs do not vectorise; what matters is to keep the loop over them short.
  // One unit: b2 + w2 h straight into each row (a Satellite stage's 4,290 rows: 31 -> 11 us).
  // More units: each output column over a group's rows first (those loops vectorise), then the
  // group's rows written out.
  template <typename U>
  void write_outputs(U* o) const {
    const int64_t k = k_, j = j_, group = group_;
    const double* w2 = w2_.data();
    const double* b2 = b2_.data();
    std::vector<double> cols(j == 1 ? 0 : k * group);
    for (int64_t g = 0; g < groups_; ++g) {
      const double* h = hs_.data() + g * group * j;
      const int64_t rows = std::min(group, n_ - g * group);
      if (j == 1) {
        for (int64_t l = 0; l < rows; ++l, o += k) {
          const double hl = h[l];
          for (int64_t c = 0; c < k; ++c) o[c] = static_cast<U>(b2[c] + w2[c] * hl);
        }
        continue;
      }
      for (int64_t c = 0; c < k; ++c) {
        double* col = cols.data() + c * group;
        std::fill(col, col + rows, b2[c]);
        for (int64_t u = 0; u < j; ++u) {
          const double w = w2[c * j + u];
          const double* hu = h + u * group;
          for (int64_t l = 0; l < rows; ++l) col[l] += w * hu[l];
        }
      }
      for (int64_t l = 0; l < rows; ++l, o += k) {
        for (int64_t c = 0; c < k; ++c) o[c] = static_cast<U>(cols[c * group + l]);
      }
    }
  }

  // Distinct threads that ran a part of the last pass.
  int threads_used() const {
    std::vector<std::thread::id> ids;
    for (const auto& r : ran_by_) {
      if (r.id != std::thread::id() && std::find(ids.begin(), ids.end(), r.id) == ids.end()) {
        ids.push_back(r.id);
      }
    }
    return static_cast<int>(ids.size());
  }

  void finish(const std::vector<double>& theta, StageParams& params) override {
    if (project_output_) {
      load(theta);
      solve_output_layer();
      write_params(theta, &w2b2_, params);
    } else {
      write_params(theta, nullptr, params);
    }
  }

 private:
  // The rows of `a` (all, or those listed in `rows`) padded with zero rows to whole groups, each
  // group's block stored column by column: groups x cols x group_, so a group's pass reads one
  // contiguous block.
  template <typename U>
  AlignedVector<U> blocked(const torch::Tensor& a, const int64_t* rows) const {
    auto c = a.contiguous();
    const int64_t cols = c.size(1);
    AlignedVector<U> out(static_cast<size_t>(np_) * cols);
    if (c.scalar_type() == torch::kFloat) {
      fill_blocked(c.data_ptr<float>(), cols, rows, out.data());
    } else {
      c = c.to(torch::kDouble);
      fill_blocked(c.data_ptr<double>(), cols, rows, out.data());
    }
    return out;
  }

  template <typename S, typename U>
  void fill_blocked(const S* src, int64_t cols, const int64_t* rows, U* out) const {
    auto row = [&](int64_t i) { return src + (rows ? rows[i] : i) * cols; };
    for (int64_t i0 = 0; i0 < np_; i0 += group_) {
      U* block = out + i0 * cols;
      const int64_t real = std::clamp<int64_t>(n_ - i0, 0, group_);
      int64_t l = 0;
#ifdef __SSE2__
      if constexpr (std::is_same_v<S, float>) {
        // Four rows at a time, 4 x 4 tiles transposed in registers: a 16-byte store per four
        // values instead of a store per value (a Satellite stage's 2,145 of 4,290 rows x 36,
        // gathered and laid out: 67 -> 40 us on one thread).
        for (; l + 4 <= real; l += 4) {
          const float* r0 = row(i0 + l);
          const float* r1 = row(i0 + l + 1);
          const float* r2 = row(i0 + l + 2);
          const float* r3 = row(i0 + l + 3);
          int64_t q = 0;
          for (; q + 4 <= cols; q += 4) {
            __m128 t0 = _mm_loadu_ps(r0 + q), t1 = _mm_loadu_ps(r1 + q);
            __m128 t2 = _mm_loadu_ps(r2 + q), t3 = _mm_loadu_ps(r3 + q);
            _MM_TRANSPOSE4_PS(t0, t1, t2, t3);
            store4(block + q * group_ + l, t0);
            store4(block + (q + 1) * group_ + l, t1);
            store4(block + (q + 2) * group_ + l, t2);
            store4(block + (q + 3) * group_ + l, t3);
          }
          for (; q < cols; ++q) {
            U* o = block + q * group_ + l;
            o[0] = static_cast<U>(r0[q]);
            o[1] = static_cast<U>(r1[q]);
            o[2] = static_cast<U>(r2[q]);
            o[3] = static_cast<U>(r3[q]);
          }
        }
      }
#endif
      for (; l < real; ++l) {
        const S* r = row(i0 + l);
        for (int64_t q = 0; q < cols; ++q) block[q * group_ + l] = static_cast<U>(r[q]);
      }
      for (; l < group_; ++l) {
        for (int64_t q = 0; q < cols; ++q) block[q * group_ + l] = U(0);
      }
    }
  }

#ifdef __SSE2__
  // Four float32 values to four consecutive entries of float32 or float64.
  static void store4(float* o, __m128 v) { _mm_storeu_ps(o, v); }
  static void store4(double* o, __m128 v) {
    _mm_storeu_pd(o, _mm_cvtps_pd(v));
    _mm_storeu_pd(o + 2, _mm_cvtps_pd(_mm_movehl_ps(v, v)));
  }
#endif

  Pass pass() {
    Pass s;
    s.xt = xt_.data();
    s.rt = rt_.empty() ? nullptr : rt_.data();
    s.rtf = rtf_.empty() ? nullptr : rtf_.data();
    s.mask = mask_.data();
    s.zs = zs_.empty() ? nullptr : zs_.data();
    s.hs = hs_.data();
    s.w1 = w1_.data();
    s.w1f = w1f_.data();
    s.b1 = b1_.data();
    s.w2 = w2_.data();
    s.b2 = b2_.data();
    s.n = n_;
    s.d = d_;
    s.j = j_;
    s.k = k_;
    s.hidden_given = false;
    s.want_grad = false;
    s.sums = 0;
    return s;
  }

  // Threads a pass is split over: at most threads_, each with at least kTaskWork of work (about
  // rows x (d + K) x J); 1 for small stages.
  int parts() const {
    const int64_t per_group = group_ * (d_ * j_ + k_ * j_ + 8 * j_ + k_);
    const int64_t grain = std::max<int64_t>(1, (kTaskWork + per_group - 1) / per_group);
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads_, groups_ / grain)));
  }

  // Runs `kernel` over all row groups and leaves in sum_ its `count` accumulators summed over
  // lanes and threads. Each thread zeroes, fills and reduces its own block of acc_, so that
  // only the reduced values cross between cores.
  void run(GroupKernel kernel, const Pass& s, int64_t count, int64_t scratch) {
    if (groups_ == 0) {
      // A process whose share of a stage's subsample is empty adds nothing to the sums.
      sum_.assign(static_cast<size_t>(count), 0.0);
      return;
    }
    const int parts = this->parts();
    const int64_t width = count * lanes_;
    const int64_t stride = (width + count + 7) / 8 * 8;  // whole cache lines per thread
    if (acc_.size() < static_cast<size_t>(parts * stride)) acc_.resize(parts * stride, 0.0);
    if (scratch_.size() < static_cast<size_t>(parts * scratch)) {
      scratch_.resize(parts * scratch, 0.0);
    }
    ran_by_.assign(static_cast<size_t>(parts), RanBy{});
    Pass pass = s;
    pass.sums = count;
    auto body = [&](int t) {
      if (t >= parts) return;
      const FlushSubnormals flush;
      ran_by_[t].id = std::this_thread::get_id();
      double* acc = acc_.data() + t * stride;
      std::fill(acc, acc + width, 0.0);
      kernel(pass, groups_ * t / parts, groups_ * (t + 1) / parts, acc,
             scratch_.data() + t * scratch);
    };
    if (parts == 1) {
      // No parallel region: starting one costs more than a small stage's pass.
      body(0);
    } else {
      // A region per pass. One region for the whole solve, its threads spinning between passes,
      // measured no faster, even on stages of 1,500 rows (docs/BENCHMARKS.md, "Threads").
      at::parallel_for(0, parts, 1, [&](int64_t a, int64_t b) {
        for (int64_t t = a; t < b; ++t) body(static_cast<int>(t));
      });
    }
    sum_.assign(acc_.begin() + width, acc_.begin() + width + count);
    for (int t = 1; t < parts; ++t) {
      const double* src = acc_.data() + t * stride + width;
      for (int64_t q = 0; q < count; ++q) sum_[q] += src[q];
    }
  }

  void load(const std::vector<double>& theta) {
    std::copy(theta.begin(), theta.begin() + j_ * d_, w1_.begin());
    std::copy(w1_.begin(), w1_.end(), w1f_.begin());
    std::copy(theta.begin() + j_ * d_, theta.begin() + j_ * d_ + j_, b1_.begin());
    if (!project_output_) {
      const auto o = theta.begin() + j_ * d_ + j_;
      std::copy(o, o + k_ * j_, w2_.begin());
      std::copy(o + k_ * j_, o + k_ * j_ + k_, b2_.begin());
    }
  }

  // Hidden activations of every row, then the exact ridge solution for the output layer.
  void solve_output_layer() {
    const int64_t m = j_ + 1, cols = m + k_;
    run(hidden_, pass(), m * cols, cols * group_);
    reduce_sums(m * cols);
    std::vector<double> normal(m * cols, 0.0);
    for (int64_t p = 0; p < m; ++p) {
      for (int64_t q = p; q < cols; ++q) {
        normal[p * cols + q] = sum_[p * cols + q];
        if (q < m) normal[q * cols + p] = sum_[p * cols + q];
      }
    }
    std::vector<double> b;
    solve_output_ridge(normal, m, k_, l2_ * static_cast<double>(k_), b);
    for (int64_t c = 0; c < k_; ++c) {
      for (int64_t u = 0; u < j_; ++u) w2_[c * j_ + u] = b[u * k_ + c];
      b2_[c] = b[j_ * k_ + c];
    }
    std::copy(w2_.begin(), w2_.end(), w2b2_.begin());
    std::copy(b2_.begin(), b2_.end(), w2b2_.begin() + k_ * j_);
  }

  // The first `count` sums of the last pass over every process's rows.
  void reduce_sums(int64_t count) {
    if (collective_ == nullptr) return;
    shared_.assign(sum_.begin(), sum_.begin() + count);
    collective_->all_reduce_sum(shared_);
    std::copy(shared_.begin(), shared_.end(), sum_.begin());
  }

  int64_t n_, d_, j_, k_;
  Collective* collective_ = nullptr;
  double total_rows_ = 0.0;  // over all processes
  std::vector<double> shared_;
  Isa isa_;
  int64_t group_, groups_, np_;
  Activation act_;
  double l2_;
  int threads_ = 1;
  int lanes_ = 4;
  std::vector<double> w1_, b1_, w2_, b2_, w2b2_;
  std::vector<float> w1f_;
  // Read with 64-byte vector loads: kept on cache-line boundaries.
  AlignedVector<double> zs_, hs_;
  AlignedVector<T> xt_;
  AlignedVector<double> rt_, mask_, acc_, scratch_;
  AlignedVector<float> rtf_;
  std::vector<double> sum_, rsum_;
  double rr_ = 0.0;  // sum of squared residuals
  GroupKernel objective_ = nullptr, hidden_ = nullptr, forward_ = nullptr;
  // The thread that ran each part of the last pass, on separate lines.
  struct alignas(64) RanBy {
    std::thread::id id;
  };
  std::vector<RanBy> ran_by_;
};

}  // namespace

int kernel_threads_used(const torch::Tensor& x, const torch::Tensor& r, int64_t units) {
  CpuEvaluator<double> ev(x, r, torch::Tensor(), units, StageProblem(), /*project=*/false);
  std::vector<double> theta(units * x.size(1) + units + r.size(1) * units + r.size(1), 0.1), g;
  ev.evaluate(theta, &g);
  return ev.threads_used();
}

namespace {

template <typename T>
class CpuStageForward final : public StageForward {
 public:
  CpuStageForward(const torch::Tensor& x, int64_t units, int64_t outputs, Activation act)
      : rows_(x, torch::Tensor(), torch::Tensor(), units, StageProblem().activation(act), false,
              outputs),
        dtype_(x.scalar_type()) {}
  torch::Tensor operator()(const StageParams& params) override {
    return rows_.forward_rows(params, dtype_);
  }

 private:
  CpuEvaluator<T> rows_;
  torch::ScalarType dtype_;
};

}  // namespace

std::unique_ptr<StageForward> make_cpu_stage_forward(const torch::Tensor& x, int64_t units,
                                                     int64_t outputs, Activation act) {
  if (!x.device().is_cpu() || x.dim() != 2 || x.size(0) == 0) return nullptr;
  if (x.scalar_type() == torch::kDouble) {
    return std::make_unique<CpuStageForward<double>>(x, units, outputs, act);
  }
  if (x.scalar_type() == torch::kFloat) {
    return std::make_unique<CpuStageForward<float>>(x, units, outputs, act);
  }
  return nullptr;
}

std::unique_ptr<StageEvaluator> make_cpu_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                   const torch::Tensor& rows, int64_t units,
                                                   const StageProblem& problem,
                                                   bool project_output) {
  // Float32 features are multiplied in float32 (twice the lanes and half the bytes of float64:
  // a Satellite stage's evaluation 11.6 -> 10.4 us) and the activations computed in float32;
  // the outputs, the gradients and the sums are float64, except with one hidden unit and float32
  // residuals, where the per-row work stays in float32 until the sums over groups of rows
  // (one_unit_float_groups: 7.2 -> 6.0 us).
  if (x.scalar_type() == torch::kDouble) {
    return std::make_unique<CpuEvaluator<double>>(x, r, rows, units, problem, project_output);
  }
  return std::make_unique<CpuEvaluator<float>>(x, r, rows, units, problem, project_output);
}

}  // namespace boosthead::detail
