#pragma once
// Internal: evaluators of the stage objective for the built-in solvers. Parameters travel as one
// flat host vector in double, [w1, b1, w2, b2] row-major, or [w1, b1] with variable projection
// (the output layer is then solved exactly for each input layer).

#include <boosthead/stage_solver.h>

#include <functional>
#include <memory>
#include <vector>

namespace boosthead::detail {

class StageEvaluator {
 public:
  virtual ~StageEvaluator() = default;
  // Objective at theta; writes the gradient into `grad` when not null.
  virtual double evaluate(const std::vector<double>& theta, std::vector<double>* grad) = 0;
  // Writes the stage weights that theta stands for into `params` (keeping their dtype/device).
  virtual void finish(const std::vector<double>& theta, StageParams& params) = 0;
  // Runs `solve`, which calls evaluate() many times, on the calling thread. An evaluator may
  // keep helper threads ready for the whole call.
  virtual void session(const std::function<void()>& solve) { solve(); }
};

// The output of a stage on every row of a fixed feature matrix, from the CPU kernels: the
// features are laid out for them once (the trainer evaluates every new stage on all its rows).
class StageForward {
 public:
  virtual ~StageForward() = default;
  // N x K in the features' dtype.
  virtual torch::Tensor operator()(const StageParams& params) = 0;
};

// For CPU float32/float64 features; null otherwise.
std::unique_ptr<StageForward> make_cpu_stage_forward(const torch::Tensor& x, int64_t units,
                                                     int64_t outputs, Activation act);

// Plain loops over the rows of CPU float32/float64 data: one pass for the forward and backward of
// every row, threaded over row blocks. Per-op dispatch dominates the torch path on small stages.
// The rows of x and r listed in `rows` (CPU int64, checked by the caller), or all of them when
// it is undefined: the evaluator copies the rows it uses into its own layout anyway.
std::unique_ptr<StageEvaluator> make_cpu_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                   const torch::Tensor& rows, int64_t units,
                                                   const StageProblem& problem,
                                                   bool project_output);

// Distinct threads that ran a part of one evaluation of the CPU kernel on this stage: at most
// at::get_num_threads(), and 1 for stages too small to split.
int kernel_threads_used(const torch::Tensor& x, const torch::Tensor& r, int64_t units);

// Solves (A + ridge * D) B = C for the output layer, where `normal` holds [A | C] row-major with
// A = [H, 1]^T [H, 1] (m x m) and C = [H, 1]^T R (m x k), and D masks the last (bias) row.
// Writes B (m x k, row-major) into `b`. Adds jitter when A is numerically singular.
void solve_output_ridge(const std::vector<double>& normal, int64_t m, int64_t k, double ridge,
                        std::vector<double>& b);

// The stage weights as one flat host vector in double: [w1, b1, w2, b2], or [w1, b1] with
// variable projection.
std::vector<double> pack_params(const StageParams& p, bool project_output);

// Writes theta (and, with variable projection, the solved output layer w2b2 = [w2 (k x j), b2])
// into the stage's tensors.
void write_params(const std::vector<double>& theta, const std::vector<double>* w2b2,
                  StageParams& params);

}  // namespace boosthead::detail
