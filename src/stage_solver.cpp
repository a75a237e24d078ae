#include <boosthead/stage_solver.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/optim/lbfgs.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "lbfgs.h"
#include "stage/evaluator.h"
#include "stage/params.h"
#include "util/registry.h"

namespace boosthead {

namespace {

void check_problem(const torch::Tensor& x, const torch::Tensor& r, const StageParams& p,
                   bool allow_empty = false) {
  TORCH_CHECK(x.dim() == 2, "expected 2-D stage inputs, got ", x.dim(), "-D");
  TORCH_CHECK(r.dim() == 2, "expected 2-D residuals, got ", r.dim(), "-D");
  TORCH_CHECK(x.size(0) == r.size(0), "stage inputs have ", x.size(0), " rows but residuals have ",
              r.size(0));
  TORCH_CHECK(allow_empty || x.size(0) > 0, "cannot fit a stage on zero rows");
  TORCH_CHECK(p.w1.dim() == 2 && p.w1.size(1) == x.size(1), "stage input weights of shape ",
              p.w1.sizes(), " do not match ", x.size(1), " features");
  TORCH_CHECK(p.w2.dim() == 2 && p.w2.size(0) == r.size(1) && p.w2.size(1) == p.w1.size(0),
              "stage output weights of shape ", p.w2.sizes(), " do not match ", r.size(1),
              " outputs and ", p.w1.size(0), " units");
  TORCH_CHECK(x.device() == r.device(), "stage inputs on ", x.device(), " but residuals on ",
              r.device());
}

// A process of a data-parallel fit may have none of a stage's rows (allow_empty).
void check_rows(const torch::Tensor& x, const torch::Tensor& rows, bool allow_empty = false) {
  TORCH_CHECK(rows.dim() == 1, "expected 1-D row indices, got ", rows.dim(), "-D");
  TORCH_CHECK(rows.scalar_type() == torch::kLong, "expected int64 row indices, got ",
              rows.scalar_type());
  TORCH_CHECK(rows.device() == x.device(), "row indices on ", rows.device(),
              " but stage inputs on ", x.device());
  if (allow_empty && rows.numel() == 0) return;
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

}  // namespace

namespace {

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
  check_problem(x, r, params, problem.collective() != nullptr);
  if (rows.defined()) check_rows(x, rows, problem.collective() != nullptr);
  torch::NoGradGuard no_grad;
  auto evaluator = detail::make_evaluator(x, r, rows, params.w1.size(0), problem, project);
  const auto out = evaluator->minimize(settings_for(problem), params);
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
    TORCH_CHECK(!problem.collective(),
                "the torch_lbfgs solver fits on one process only; use lbfgs or varpro for a "
                "data-parallel fit");
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

util::Registry<StageSolver>& registry() {
  static util::Registry<StageSolver> r(
      "stage solver", "solvers",
      {{"lbfgs", [] { return std::make_unique<LbfgsSolver>(); }},
       {"varpro", [] { return std::make_unique<VarproSolver>(); }},
       {"torch_lbfgs", [] { return std::make_unique<TorchLbfgsSolver>(); }}});
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
  registry().add(name, std::move(factory));
}

std::unique_ptr<StageSolver> make_stage_solver(const std::string& name) {
  return registry().make(name);
}

std::vector<std::string> stage_solver_names() { return registry().names(); }

double stage_objective(const torch::Tensor& x, const torch::Tensor& r, const StageProblem& problem,
                       const StageParams& params, StageParams* grad) {
  check_problem(x, r, params);
  torch::NoGradGuard no_grad;
  auto evaluator = detail::make_evaluator(x, r, torch::Tensor(), params.w1.size(0), problem,
                                          /*project_output=*/false);
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

}  // namespace boosthead
