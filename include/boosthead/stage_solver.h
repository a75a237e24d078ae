#pragma once
/// \file
/// Fitting one boosting stage, Linear(d, J) -> activation -> Linear(J, K), to pseudo-residuals by
/// least squares. Solvers are chosen by name from a registry.

#include <boosthead/activation.h>
#include <boosthead/collective.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boosthead {

/// The weights of one stage, on the data's device and dtype.
struct StageParams {
  /// Input weights, J x d.
  torch::Tensor w1;
  /// Input biases, J.
  torch::Tensor b1;
  /// Output weights, K x J.
  torch::Tensor w2;
  /// Output biases, K.
  torch::Tensor b2;

  /// The stage's output for rows `x` (N x d): act(x w1^T + b1) w2^T + b2, N x K.
  torch::Tensor forward(const torch::Tensor& x, Activation activation) const;
  /// A deep copy.
  StageParams clone() const;
};

/// What a solver minimises and how hard it tries.
///
/// Objective: 0.5/(n K) * ||stage(x) - r||^2 + 0.5 * l2 / n * (||w1||^2 + ||w2||^2), the least
/// squares objective of scikit-learn's MLPRegressor with alpha = l2.
struct StageProblem {
  /// Hidden-unit activation.
  TORCH_ARG(Activation, activation) = Activation::Sigmoid;
  /// Maximum solver iterations.
  TORCH_ARG(int64_t, max_iter) = 200;
  /// L2 penalty on the weights (not the biases).
  TORCH_ARG(double, l2) = 1e-4;
  /// Stop when the relative decrease of the objective falls below this.
  TORCH_ARG(double, ftol) = 2.220446049250313e-09;
  /// Stop when the largest gradient entry falls below this.
  TORCH_ARG(double, gtol) = 1e-9;
  /// The processes holding the other shares of the rows (null: this process has them all). The
  /// objective is then the one over all processes' rows: the built-in solvers add their sums
  /// up across the processes and normalise by the total row count; every process must call the
  /// solver together with the same starting weights.
  TORCH_ARG(std::shared_ptr<Collective>, collective) = nullptr;
};

/// What a solver did.
struct SolverReport {
  /// Iterations taken.
  int64_t iterations = 0;
  /// Objective (and gradient) evaluations.
  int64_t evaluations = 0;
  /// Final objective value.
  double objective = 0.0;
};

/// Fits a stage's weights in place, starting from the values `params` holds.
class StageSolver {
 public:
  virtual ~StageSolver() = default;
  /// Registry name.
  virtual std::string name() const = 0;
  /// Minimises the stage objective on rows `x` (n x d) against residuals `r` (n x K).
  virtual SolverReport fit(const torch::Tensor& x, const torch::Tensor& r,
                           const StageProblem& problem, StageParams& params) = 0;
  /// fit() on the rows `rows` (1-D int64 indices into x, on its device) of `x` (n x d) and
  /// `r` (n x K): a stage's subsample. The default selects the rows and calls fit(); the
  /// built-in solvers copy them straight into their own layout.
  virtual SolverReport fit_rows(const torch::Tensor& x, const torch::Tensor& r,
                                const torch::Tensor& rows, const StageProblem& problem,
                                StageParams& params);
};

/// Creates a solver.
using StageSolverFactory = std::function<std::unique_ptr<StageSolver>()>;

/// Adds (or replaces) a solver under `name`.
void register_stage_solver(const std::string& name, StageSolverFactory factory);
/// Creates the solver registered under `name`; throws std::invalid_argument listing known names.
std::unique_ptr<StageSolver> make_stage_solver(const std::string& name);
/// Names of the registered solvers, sorted.
std::vector<std::string> stage_solver_names();

/// The stage objective and its gradient for the flat parameter vector [w1, b1, w2, b2]
/// (row-major), as used by the built-in solvers; exposed for tests and custom solvers.
double stage_objective(const torch::Tensor& x, const torch::Tensor& r, const StageProblem& problem,
                       const StageParams& params, StageParams* grad);

}  // namespace boosthead
