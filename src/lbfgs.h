#pragma once
// Host-side L-BFGS in double precision for the small parameter vectors of a stage.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace boosthead::detail {

struct LbfgsSettings {
  int64_t max_iter = 200;
  double ftol = 2.220446049250313e-09;
  double gtol = 1e-9;
  int history = 10;
  // The first step is min(1, 1/||g||_1) as in torch.optim.LBFGS; true: 1/||g||_2 as in scipy
  // and LBFGSpp. For comparisons (examples/bench_lbfgspp.cpp); see minimize_lbfgs.
  bool first_step_l2 = false;
};

struct LbfgsOutcome {
  int64_t iterations = 0;
  int64_t evaluations = 0;
  double value = 0.0;
};

// The L-BFGS approximation of the inverse Hessian from the last `history` steps s and gradient
// changes y, kept with the inner products s_i.y_k (i older than k) and y_i.y_k. The two-loop
// recursion then runs on those numbers: a direction costs 2m independent dot products with the
// gradient and one pass over the pairs, in vectors of the CPU's width, instead of 2m dot
// products and 2m vector updates that each wait for the one before.
class LbfgsMemory {
 public:
  LbfgsMemory(size_t n, int history);
  // Number of pairs held.
  size_t size() const { return count_; }
  void clear();
  // d = -H g (d = -g without pairs). Keeps the products with g: when the next pair pushed has
  // y = g_next - g, its inner products with the older pairs follow from them at the next call.
  void direction(const std::vector<double>& g, std::vector<double>& d);
  // Adds the pair (s, y), dropping the oldest when full; keeps nothing (returns false) unless
  // s.y > 1e-12 max(1, y.y). y must be the change of the gradient from the one last passed to
  // direction() (the products of a pair pushed without a direction() in between are computed
  // directly).
  bool push(const std::vector<double>& s, const std::vector<double>& y);

 private:
  friend struct LbfgsKernels;
  // Storage of the i-th oldest pair, i < m_ (no division: this is in the recursions' loops).
  size_t slot(size_t i) const { return first_ + i < m_ ? first_ + i : first_ + i - m_; }
  void cross_products_directly(size_t slot);

  size_t n_, np_, m_, count_ = 0, first_ = 0;    // np_: n rounded up to whole vectors
  std::vector<double> s_, y_;                    // pairs by slot, m x np, zero past n
  std::vector<double> rho_, sy_, yy_;            // 1 / s.y; m x m by slot: s_i.y_k, y_i.y_k
  std::vector<double> a_, b_, a_prev_, b_prev_;  // s_i.g, y_i.g now and at the last call
  std::vector<double> alpha_, coef_s_, coef_y_, part_;
  std::vector<size_t> order_;                          // slots, oldest first
  std::vector<double> g_pad_, d_pad_, s_pad_, y_pad_;  // np each
  double gamma_ = 1.0;                                 // s.y / y.y of the newest pair
  bool pending_ = false;    // the newest pair's products with older pairs are still to come
  bool have_prev_ = false;  // a_prev_, b_prev_ hold the products with the step's start
  double (*dot_)(const double*, const double*, size_t) = nullptr;  // for the CPU's vectors
  void (*direction_)(LbfgsMemory&) = nullptr;
};

// fg(x, g) returns f(x) and writes the gradient into g.
using ValueAndGradient = std::function<double(const std::vector<double>&, std::vector<double>&)>;

// L-BFGS with a backtracking (Armijo) line search. Measured against Debian's LBFGSpp on the
// same stage objectives (examples/bench_lbfgspp.cpp, docs/BENCHMARKS.md): from the same first
// step both take the same iterates, and this one spends less time of its own per iteration (2.6
// against 5.5 us on a default stage, 16.5 against 22.2 on a large one), so it stays, without the
// dependency. Its shorter first
// step fits a 25-iteration stage less tightly, and the defaults, tuned with it, score better on 5
// of the 8 benchmark sets with it than with LBFGSpp's first step.
LbfgsOutcome minimize_lbfgs(const ValueAndGradient& fg, std::vector<double>& x,
                            const LbfgsSettings& settings);

}  // namespace boosthead::detail
