#pragma once
/// \file
/// Fitting one boosting stage, Linear(d, J) -> activation -> Linear(J, K), to pseudo-residuals by
/// least squares. Solvers are chosen by name from a registry.

#include <boosthead/stage_problem.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boosthead {

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
