#include "device_lbfgs.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <deque>

namespace boosthead::detail {
namespace {

// The curvature pairs. A pair that fails s.y > 1e-12 max(1, y.y) gets rho = 0, which makes it a
// no-op in the two-loop recursion; deciding that on the device spares a transfer per iteration.
class DeviceMemory {
 public:
  DeviceMemory(const at::Tensor& like, int history)
      : history_(history), gamma_(at::ones({}, like.options())) {}

  size_t size() const { return s_.size(); }

  void clear() {
    s_.clear();
    y_.clear();
    rho_.clear();
    gamma_.fill_(1.0);
  }

  // d = -H g.
  void direction(const at::Tensor& g, at::Tensor& d) {
    if (s_.empty()) {
      at::neg_out(d, g);
      return;
    }
    const size_t m = s_.size();
    std::vector<at::Tensor> alpha(m);
    at::Tensor q = g.clone();
    for (size_t i = m; i-- > 0;) {
      alpha[i] = rho_[i] * at::dot(s_[i], q);
      q.sub_(y_[i] * alpha[i]);
    }
    q.mul_(gamma_);
    for (size_t i = 0; i < m; ++i) {
      const at::Tensor beta = rho_[i] * at::dot(y_[i], q);
      q.add_(s_[i] * (alpha[i] - beta));
    }
    at::neg_out(d, q);
  }

  void push(const at::Tensor& s, const at::Tensor& y) {
    const at::Tensor sy = at::dot(s, y);
    const at::Tensor yy = at::dot(y, y);
    const at::Tensor kept = sy > 1e-12 * at::clamp_min(yy, 1.0);
    if (s_.size() == static_cast<size_t>(history_)) {
      s_.pop_front();
      y_.pop_front();
      rho_.pop_front();
    }
    s_.push_back(s);
    y_.push_back(y);
    rho_.push_back(at::where(kept, sy.reciprocal(), at::zeros_like(sy)));
    gamma_ = at::where(kept, sy / yy, gamma_);
  }

 private:
  int history_;
  std::deque<at::Tensor> s_, y_, rho_;
  at::Tensor gamma_;
};

// What the host needs after an evaluation, in one transfer.
struct Scalars {
  double f, gtd, gmax, gl1, gg;
};

Scalars fetch(const at::Tensor& f, const at::Tensor& gtd, const at::Tensor& g) {
  auto host =
      at::stack({f.reshape({}), gtd.reshape({}), g.abs().max(), g.abs().sum(), at::dot(g, g)})
          .to(at::kCPU);
  const double* v = host.data_ptr<double>();
  return {v[0], v[1], v[2], v[3], v[4]};
}

}  // namespace

LbfgsOutcome minimize_lbfgs_on_device(const DeviceValueAndGradient& fg, at::Tensor& x,
                                      const LbfgsSettings& settings) {
  TORCH_CHECK(x.dim() == 1 && x.scalar_type() == at::kDouble,
              "minimize_lbfgs_on_device: expected a 1-D float64 vector, got ", x.dim(), "-D ",
              x.scalar_type());
  LbfgsOutcome out;
  at::Tensor g = at::empty_like(x), d = at::empty_like(x), g_new = at::empty_like(x);
  const at::Tensor zero = at::zeros({}, x.options());
  Scalars now = fetch(fg(x, g), zero, g);
  out.evaluations = 1;
  out.value = now.f;
  if (!std::isfinite(now.f) || now.gmax <= settings.gtol) return out;

  DeviceMemory memory(x, settings.history);
  // The step of the first iteration, and after a restart, as in the host version.
  auto first_step = [&] { return std::min(1.0, 1.0 / std::max(now.gl1, 1e-300)); };
  for (int64_t iter = 0; iter < settings.max_iter; ++iter) {
    memory.direction(g, d);
    at::Tensor gtd_t = at::dot(g, d);
    double t = memory.size() == 0 ? first_step() : 1.0;
    double gtd = 0.0;
    bool gtd_known = false;

    // Backtracking line search (Armijo) with quadratic interpolation.
    Scalars trial{};
    at::Tensor x_new;
    bool accepted = false;
    for (int ls = 0; ls < 30; ++ls) {
      x_new = at::add(x, d, t);
      trial = fetch(fg(x_new, g_new), gtd_t, g_new);
      ++out.evaluations;
      if (!gtd_known) {
        gtd_known = true;
        gtd = trial.gtd;
        if (!(gtd < 0.0)) {  // not a descent direction: restart from steepest descent
          memory.clear();
          at::neg_out(d, g);
          gtd = -now.gg;
          t = first_step();
          --ls;
          continue;
        }
      }
      if (std::isfinite(trial.f) && trial.f <= now.f + 1e-4 * t * gtd) {
        accepted = true;
        break;
      }
      double t_next = 0.5 * t;
      if (std::isfinite(trial.f)) {
        const double denom = 2.0 * (trial.f - now.f - gtd * t);
        if (denom > 0.0) t_next = std::clamp(-gtd * t * t / denom, 0.1 * t, 0.5 * t);
      }
      t = t_next;
    }
    if (!accepted) break;
    ++out.iterations;

    memory.push(x_new - x, g_new - g);
    const double f_old = now.f;
    x = x_new;
    std::swap(g, g_new);
    now = trial;
    out.value = now.f;
    if ((f_old - now.f) <= settings.ftol * std::max({std::abs(f_old), std::abs(now.f), 1.0})) break;
    if (now.gmax <= settings.gtol) break;
  }
  return out;
}

}  // namespace boosthead::detail
