#include <boosthead/stage_solver.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/optim/lbfgs.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>

#include "lbfgs.h"
#include "stage_evaluator.h"

namespace boosthead {

torch::Tensor StageParams::forward(const torch::Tensor& x, Activation activation) const {
  return torch::addmm(b2, activate(activation, torch::addmm(b1, x, w1.t())), w2.t());
}

StageParams StageParams::clone() const { return {w1.clone(), b1.clone(), w2.clone(), b2.clone()}; }

namespace {

void check_problem(const torch::Tensor& x, const torch::Tensor& r, const StageParams& p) {
  TORCH_CHECK(x.dim() == 2, "expected 2-D stage inputs, got ", x.dim(), "-D");
  TORCH_CHECK(r.dim() == 2, "expected 2-D residuals, got ", r.dim(), "-D");
  TORCH_CHECK(x.size(0) == r.size(0), "stage inputs have ", x.size(0), " rows but residuals have ",
              r.size(0));
  TORCH_CHECK(x.size(0) > 0, "cannot fit a stage on zero rows");
  TORCH_CHECK(p.w1.dim() == 2 && p.w1.size(1) == x.size(1), "stage input weights of shape ",
              p.w1.sizes(), " do not match ", x.size(1), " features");
  TORCH_CHECK(p.w2.dim() == 2 && p.w2.size(0) == r.size(1) && p.w2.size(1) == p.w1.size(0),
              "stage output weights of shape ", p.w2.sizes(), " do not match ", r.size(1),
              " outputs and ", p.w1.size(0), " units");
  TORCH_CHECK(x.device() == r.device(), "stage inputs on ", x.device(), " but residuals on ",
              r.device());
}

void check_rows(const torch::Tensor& x, const torch::Tensor& rows) {
  TORCH_CHECK(rows.dim() == 1, "expected 1-D row indices, got ", rows.dim(), "-D");
  TORCH_CHECK(rows.scalar_type() == torch::kLong, "expected int64 row indices, got ",
              rows.scalar_type());
  TORCH_CHECK(rows.device() == x.device(), "row indices on ", rows.device(),
              " but stage inputs on ", x.device());
  TORCH_CHECK(rows.numel() > 0, "cannot fit a stage on zero rows");
  int64_t lo = 0, hi = 0;
  if (rows.device().is_cpu()) {
    auto c = rows.contiguous();
    const int64_t* p = c.data_ptr<int64_t>();
    lo = hi = p[0];
    for (int64_t i = 1; i < c.numel(); ++i) {
      lo = std::min(lo, p[i]);
      hi = std::max(hi, p[i]);
    }
  } else {
    lo = rows.min().item<int64_t>();
    hi = rows.max().item<int64_t>();
  }
  TORCH_CHECK(lo >= 0 && hi < x.size(0), "row indices must be in [0, ", x.size(0),
              "), got values in [", lo, ", ", hi, "]");
}

// The stage objective with torch ops on preallocated buffers, for any device. The L-BFGS
// bookkeeping stays in double on the host whatever the device.
class TorchEvaluator final : public detail::StageEvaluator {
 public:
  TorchEvaluator(const torch::Tensor& x, const torch::Tensor& r, int64_t units,
            const StageProblem& problem, bool project_output)
      : x_(x.contiguous()),
        n_(x.size(0)),
        d_(x.size(1)),
        j_(units),
        k_(r.size(1)),
        act_(problem.activation()),
        l2_(problem.l2()),
        project_(project_output) {
    auto opt = x.options();
    const int64_t p = project_ ? j_ * d_ + j_ : j_ * d_ + j_ + k_ * j_ + k_;
    flat_ = torch::empty({p}, opt);
    grad_ = torch::empty({p}, opt);
    z_ = torch::empty({n_, j_}, opt);
    p_ = torch::empty({n_, k_}, opt);
    e_ = torch::empty({n_, k_}, opt);
    dh_ = torch::empty({n_, j_}, opt);
    if (project_) {
      // [H, 1, R]: one product gives both the normal matrix and the right-hand side.
      a_ = torch::empty({n_, j_ + 1 + k_}, opt);
      a_.select(1, j_).fill_(1);
      a_.narrow(1, j_ + 1, k_).copy_(r);
      h_ = a_.narrow(1, 0, j_);
      r_ = a_.narrow(1, j_ + 1, k_);
      w2_ = torch::empty({k_, j_}, opt);
      b2_ = torch::empty({k_}, opt);
      host_w2b2_ = std::vector<double>((j_ + 1) * k_);
    } else {
      h_ = torch::empty({n_, j_}, opt);
      r_ = r.contiguous();
      w2_ = flat_.narrow(0, j_ * d_ + j_, k_ * j_).view({k_, j_});
      b2_ = flat_.narrow(0, j_ * d_ + j_ + k_ * j_, k_);
      gw2_ = grad_.narrow(0, j_ * d_ + j_, k_ * j_).view({k_, j_});
      gb2_ = grad_.narrow(0, j_ * d_ + j_ + k_ * j_, k_);
    }
    w1_ = flat_.narrow(0, 0, j_ * d_).view({j_, d_});
    b1_ = flat_.narrow(0, j_ * d_, j_);
    gw1_ = grad_.narrow(0, 0, j_ * d_).view({j_, d_});
    gb1_ = grad_.narrow(0, j_ * d_, j_);
  }

  int64_t size() const { return flat_.numel(); }

  void finish(const std::vector<double>& theta, StageParams& p) override {
    if (project_) {
      evaluate(theta, nullptr);  // recomputes H and the output layer for these input weights
      detail::write_params(theta, &host_w2b2_, p);
    } else {
      detail::write_params(theta, nullptr, p);
    }
  }

  // Objective value; writes its gradient into `grad` when not null.
  double evaluate(const std::vector<double>& theta, std::vector<double>* grad) override {
    load(theta);
    at::addmm_out(z_, b1_, x_, w1_.t());
    activate_out(act_, z_, h_);
    if (project_) solve_output_layer();
    at::addmm_out(p_, b2_, h_, w2_.t());
    at::sub_out(e_, p_, r_);
    auto flat_e = e_.view({-1});
    const double sse = at::dot(flat_e, flat_e).item<double>();
    const double nk = static_cast<double>(n_ * k_);
    double penalty = squared_norm(theta, 0, j_ * d_);
    if (project_) {
      for (int64_t i = 0; i < k_ * j_; ++i) penalty += host_w2_[i] * host_w2_[i];
    } else {
      penalty += squared_norm(theta, j_ * d_ + j_, k_ * j_);
    }
    const double f = 0.5 * sse / nk + 0.5 * l2_ / n_ * penalty;
    if (grad == nullptr) return f;

    e_.mul_(1.0 / nk);
    if (!project_) {
      at::mm_out(gw2_, e_.t(), h_);
      at::sum_out(gb2_, e_, at::IntArrayRef{0});
    }
    at::mm_out(dh_, e_, w2_);
    mul_activation_grad_(act_, z_, h_, dh_);
    at::mm_out(gw1_, dh_.t(), x_);
    at::sum_out(gb1_, dh_, at::IntArrayRef{0});

    grad->resize(theta.size());
    torch::from_blob(grad->data(), {size()}, torch::kDouble).copy_(grad_);
    const double c = l2_ / n_;
    for (int64_t i = 0; i < j_ * d_; ++i) (*grad)[i] += c * theta[i];
    if (!project_) {
      const int64_t o = j_ * d_ + j_;
      for (int64_t i = o; i < o + k_ * j_; ++i) (*grad)[i] += c * theta[i];
    }
    return f;
  }

 private:
  static double squared_norm(const std::vector<double>& v, int64_t from, int64_t count) {
    double s = 0.0;
    for (int64_t i = from; i < from + count; ++i) s += v[i] * v[i];
    return s;
  }

  void load(const std::vector<double>& theta) {
    flat_.copy_(torch::from_blob(const_cast<double*>(theta.data()), {size()}, torch::kDouble));
  }

  // Given H (in a_), the output layer minimising the objective is a ridge regression of R on
  // [H, 1]: (A^T A + l2 K D) B = A^T R, with D masking the bias row.
  void solve_output_layer() {
    const int64_t m = j_ + 1;
    auto normal =
        torch::mm(a_.narrow(1, 0, m).t(), a_).to(torch::kCPU, torch::kDouble).contiguous();
    std::vector<double> nm(normal.data_ptr<double>(), normal.data_ptr<double>() + normal.numel());
    std::vector<double> b;
    detail::solve_output_ridge(nm, m, k_, l2_ * static_cast<double>(k_), b);
    host_w2_.resize(k_ * j_);
    for (int64_t c = 0; c < k_; ++c) {
      for (int64_t i = 0; i < j_; ++i) host_w2_[c * j_ + i] = b[i * k_ + c];
      host_w2b2_[k_ * j_ + c] = b[j_ * k_ + c];
    }
    std::copy(host_w2_.begin(), host_w2_.end(), host_w2b2_.begin());
    auto host = torch::from_blob(host_w2b2_.data(), {(j_ + 1) * k_}, torch::kDouble);
    w2_.view({-1}).copy_(host.narrow(0, 0, k_ * j_));
    b2_.copy_(host.narrow(0, k_ * j_, k_));
  }

  torch::Tensor x_;
  int64_t n_, d_, j_, k_;
  Activation act_;
  double l2_;
  bool project_;
  torch::Tensor flat_, grad_, z_, h_, p_, e_, dh_, a_, r_;
  torch::Tensor w1_, b1_, w2_, b2_, gw1_, gb1_, gw2_, gb2_;
  std::vector<double> host_w2_, host_w2b2_;
};

// Host loops for the common case of CPU float/double weights: a stage's weights are copied in
// and out once per stage, and the equivalent tensor ops cost more than the small copies.
bool host_floating(const torch::Tensor& t) {
  return t.device().is_cpu() && t.is_contiguous() &&
         (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble);
}

}  // namespace

std::vector<double> detail::pack_params(const StageParams& p, bool project_output) {
  std::vector<const torch::Tensor*> parts{&p.w1, &p.b1};
  if (!project_output) {
    parts.push_back(&p.w2);
    parts.push_back(&p.b2);
  }
  if (std::all_of(parts.begin(), parts.end(),
                  [](const torch::Tensor* t) { return host_floating(*t); })) {
    std::vector<double> out;
    for (const auto* t : parts) {
      if (t->scalar_type() == torch::kFloat) {
        out.insert(out.end(), t->data_ptr<float>(), t->data_ptr<float>() + t->numel());
      } else {
        out.insert(out.end(), t->data_ptr<double>(), t->data_ptr<double>() + t->numel());
      }
    }
    return out;
  }
  std::vector<torch::Tensor> flat_parts;
  for (const auto* t : parts) flat_parts.push_back(t->reshape(-1));
  auto flat = torch::cat(flat_parts).to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

namespace {

// For the rows of x and r listed in `rows`, or all of them when it is undefined.
std::unique_ptr<detail::StageEvaluator> make_evaluator(const torch::Tensor& x,
                                                       const torch::Tensor& r,
                                                       const torch::Tensor& rows, int64_t units,
                                                       const StageProblem& problem, bool project) {
  if (x.device().is_cpu() &&
      (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble)) {
    return detail::make_cpu_evaluator(x, r, rows, units, problem, project);
  }
  if (rows.defined()) {
    return std::make_unique<TorchEvaluator>(x.index_select(0, rows), r.index_select(0, rows), units,
                                            problem, project);
  }
  return std::make_unique<TorchEvaluator>(x, r, units, problem, project);
}

detail::LbfgsSettings settings_for(const StageProblem& problem) {
  detail::LbfgsSettings s;
  s.max_iter = problem.max_iter();
  s.ftol = problem.ftol();
  s.gtol = problem.gtol();
  return s;
}

// L-BFGS on the stage objective from the weights `params` holds.
SolverReport minimize_stage(const torch::Tensor& x, const torch::Tensor& r,
                            const torch::Tensor& rows, const StageProblem& problem,
                            StageParams& params, bool project) {
  check_problem(x, r, params);
  if (rows.defined()) check_rows(x, rows);
  torch::NoGradGuard no_grad;
  auto evaluator = make_evaluator(x, r, rows, params.w1.size(0), problem, project);
  auto theta = detail::pack_params(params, project);
  detail::LbfgsOutcome out;
  evaluator->session([&] {
    out = detail::minimize_lbfgs(
        [&](const std::vector<double>& t, std::vector<double>& g) {
          return evaluator->evaluate(t, &g);
        },
        theta, settings_for(problem));
  });
  evaluator->finish(theta, params);
  return {out.iterations, out.evaluations, out.value};
}

// L-BFGS over all stage weights with analytic gradients.
class LbfgsSolver final : public StageSolver {
 public:
  std::string name() const override { return "lbfgs"; }
  SolverReport fit(const torch::Tensor& x, const torch::Tensor& r, const StageProblem& problem,
                   StageParams& params) override {
    return minimize_stage(x, r, torch::Tensor(), problem, params, /*project=*/false);
  }
  SolverReport fit_rows(const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& rows,
                        const StageProblem& problem, StageParams& params) override {
    return minimize_stage(x, r, rows, problem, params, /*project=*/false);
  }
};

// Variable projection: L-BFGS searches only the input layer; for each candidate the output
// layer is the exact ridge solution, so every iteration starts from the best output weights.
class VarproSolver final : public StageSolver {
 public:
  std::string name() const override { return "varpro"; }
  SolverReport fit(const torch::Tensor& x, const torch::Tensor& r, const StageProblem& problem,
                   StageParams& params) override {
    return minimize_stage(x, r, torch::Tensor(), problem, params, /*project=*/true);
  }
  SolverReport fit_rows(const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& rows,
                        const StageProblem& problem, StageParams& params) override {
    return minimize_stage(x, r, rows, problem, params, /*project=*/true);
  }
};

// torch::optim::LBFGS with autograd and strong Wolfe line search: the straightforward way,
// kept as a reference point for speed and accuracy.
class TorchLbfgsSolver final : public StageSolver {
 public:
  std::string name() const override { return "torch_lbfgs"; }
  SolverReport fit(const torch::Tensor& x, const torch::Tensor& r, const StageProblem& problem,
                   StageParams& params) override {
    check_problem(x, r, params);
    std::vector<torch::Tensor> vars{params.w1.detach().clone().requires_grad_(true),
                                    params.b1.detach().clone().requires_grad_(true),
                                    params.w2.detach().clone().requires_grad_(true),
                                    params.b2.detach().clone().requires_grad_(true)};
    const double nk = static_cast<double>(x.size(0) * r.size(1));
    const double c = 0.5 * problem.l2() / x.size(0);
    torch::optim::LBFGS opt(vars, torch::optim::LBFGSOptions(1.0)
                                      .max_iter(problem.max_iter())
                                      .max_eval(problem.max_iter() * 5 / 4 + 1)
                                      .tolerance_grad(problem.gtol())
                                      .tolerance_change(1e-12)
                                      .history_size(10)
                                      .line_search_fn("strong_wolfe"));
    int64_t evals = 0;
    double last = 0.0;
    auto closure = [&]() -> torch::Tensor {
      opt.zero_grad();
      auto h = activate(problem.activation(), torch::addmm(vars[1], x, vars[0].t()));
      auto e = torch::addmm(vars[3], h, vars[2].t()) - r;
      auto loss = 0.5 * e.pow(2).sum() / nk + c * (vars[0].pow(2).sum() + vars[2].pow(2).sum());
      loss.backward();
      ++evals;
      last = loss.item<double>();
      return loss;
    };
    opt.step(closure);
    torch::NoGradGuard no_grad;
    params.w1.copy_(vars[0]);
    params.b1.copy_(vars[1]);
    params.w2.copy_(vars[2]);
    params.b2.copy_(vars[3]);
    return {evals, evals, last};
  }
};

struct Registry {
  std::mutex mutex;
  std::map<std::string, StageSolverFactory> factories{
      {"lbfgs", [] { return std::make_unique<LbfgsSolver>(); }},
      {"varpro", [] { return std::make_unique<VarproSolver>(); }},
      {"torch_lbfgs", [] { return std::make_unique<TorchLbfgsSolver>(); }},
  };
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

SolverReport StageSolver::fit_rows(const torch::Tensor& x, const torch::Tensor& r,
                                   const torch::Tensor& rows, const StageProblem& problem,
                                   StageParams& params) {
  check_problem(x, r, params);
  check_rows(x, rows);
  return fit(x.index_select(0, rows), r.index_select(0, rows), problem, params);
}

void register_stage_solver(const std::string& name, StageSolverFactory factory) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.factories[name] = std::move(factory);
}

std::unique_ptr<StageSolver> make_stage_solver(const std::string& name) {
  auto& r = registry();
  StageSolverFactory factory;
  {
    // Call the factory outside the lock: it may itself create registered objects.
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.factories.find(name);
    if (it == r.factories.end()) {
      std::vector<std::string> names;
      for (const auto& kv : r.factories) names.push_back(kv.first);
      throw std::invalid_argument(fmt::format("unknown stage solver '{}'; known solvers: {}", name,
                                              fmt::join(names, ", ")));
    }
    factory = it->second;
  }
  return factory();
}

std::vector<std::string> stage_solver_names() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& kv : r.factories) names.push_back(kv.first);
  return names;
}

double stage_objective(const torch::Tensor& x, const torch::Tensor& r, const StageProblem& problem,
                       const StageParams& params, StageParams* grad) {
  check_problem(x, r, params);
  torch::NoGradGuard no_grad;
  auto evaluator =
      make_evaluator(x, r, torch::Tensor(), params.w1.size(0), problem, /*project=*/false);
  auto theta = detail::pack_params(params, /*project_output=*/false);
  std::vector<double> g;
  const double f = evaluator->evaluate(theta, grad ? &g : nullptr);
  if (grad) {
    auto flat = torch::from_blob(g.data(), {static_cast<int64_t>(g.size())}, torch::kDouble)
                    .to(params.w1.options());
    int64_t o = 0;
    auto take = [&](const torch::Tensor& like) {
      auto t = flat.narrow(0, o, like.numel()).view(like.sizes()).clone();
      o += like.numel();
      return t;
    };
    grad->w1 = take(params.w1);
    grad->b1 = take(params.b1);
    grad->w2 = take(params.w2);
    grad->b2 = take(params.b2);
  }
  return f;
}

namespace detail {
namespace {

bool cholesky(const std::vector<double>& a, int64_t m, double jitter,
                       std::vector<double>& l) {
    std::fill(l.begin(), l.end(), 0.0);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        double s = a[i * m + j] + (i == j ? jitter : 0.0);
        for (int64_t q = 0; q < j; ++q) s -= l[i * m + q] * l[j * m + q];
        if (i == j) {
          if (!(s > 0.0) || !std::isfinite(s)) return false;
          l[i * m + i] = std::sqrt(s);
        } else {
          l[i * m + j] = s / l[j * m + j];
        }
      }
    }
    return true;
  }

}  // namespace

void solve_output_ridge(const std::vector<double>& normal, int64_t m, int64_t k, double ridge,
                        std::vector<double>& b) {
  const int64_t cols = m + k;
  std::vector<double> g(m * m), l(m * m);
  b.assign(m * k, 0.0);
  double trace = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) g[i * m + j] = normal[i * cols + j];
    for (int64_t c = 0; c < k; ++c) b[i * k + c] = normal[i * cols + m + c];
    trace += g[i * m + i];
  }
  for (int64_t i = 0; i + 1 < m; ++i) g[i * m + i] += ridge;
  // Growing jitter for the rare rank-deficient H (saturated or duplicate units).
  double jitter = 0.0;
  bool ok = false;
  for (int attempt = 0; attempt < 12 && !ok; ++attempt) {
    ok = cholesky(g, m, jitter, l);
    if (!ok) jitter = jitter == 0.0 ? 1e-12 * std::max(trace / m, 1e-300) : jitter * 100;
  }
  if (!ok) {
    std::fill(b.begin(), b.end(), 0.0);
    return;
  }
  for (int64_t c = 0; c < k; ++c) {
    std::vector<double> y(m);
    for (int64_t i = 0; i < m; ++i) {
      double s = b[i * k + c];
      for (int64_t q = 0; q < i; ++q) s -= l[i * m + q] * y[q];
      y[i] = s / l[i * m + i];
    }
    for (int64_t i = m - 1; i >= 0; --i) {
      double s = y[i];
      for (int64_t q = i + 1; q < m; ++q) s -= l[q * m + i] * b[q * k + c];
      b[i * k + c] = s / l[i * m + i];
    }
  }
}

void write_params(const std::vector<double>& theta, const std::vector<double>* w2b2,
                  StageParams& p) {
  torch::NoGradGuard no_grad;
  std::vector<double> all(theta);
  if (w2b2 != nullptr) all.insert(all.end(), w2b2->begin(), w2b2->end());
  int64_t o = 0;
  for (torch::Tensor* t : {&p.w1, &p.b1, &p.w2, &p.b2}) {
    const int64_t n = t->numel();
    if (host_floating(*t) && t->scalar_type() == torch::kFloat) {
      std::copy(all.begin() + o, all.begin() + o + n, t->data_ptr<float>());
    } else if (host_floating(*t)) {
      std::copy(all.begin() + o, all.begin() + o + n, t->data_ptr<double>());
    } else {
      t->copy_(torch::from_blob(all.data() + o, {n}, torch::kDouble).view(t->sizes()));
    }
    o += n;
  }
}

}  // namespace detail
}  // namespace boosthead
