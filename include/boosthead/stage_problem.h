#pragma once
/// \file
/// What fitting one stage is about: the stage's weights, the objective a solver minimises and
/// what it reports. The solvers (stage_solver.h) and the devices' evaluators share these.

#include <boosthead/activation.h>
#include <boosthead/collective.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>

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

}  // namespace boosthead
