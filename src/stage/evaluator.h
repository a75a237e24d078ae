#pragma once
// Internal: the device layer of a stage fit. An evaluator computes the stage objective and its
// gradient on the data's device and runs the solver's loop where its vectors belong; the solvers
// and the trainer get one from make_evaluator() and never look at the device themselves.
//
//   make_evaluator(x, ...) ── CPU float32/float64 ──> cpu/    SIMD kernels, host L-BFGS
//                          ├─ CUDA (kernels built) ──> cuda/  fused pass, L-BFGS on the GPU
//                          └─ anything else ───────> aten_evaluator (ATen ops, L-BFGS on the
//                                                   device): the reference the others are
//                                                   tested against
//
// Parameters travel as one flat vector in float64, [w1, b1, w2, b2] row-major, or [w1, b1] with
// variable projection (the output layer is then solved exactly for each input layer).

#include <boosthead/stage_problem.h>

#include <functional>
#include <memory>
#include <vector>

#include "../lbfgs.h"

namespace boosthead::detail {

class StageEvaluator {
 public:
  explicit StageEvaluator(bool project_output) : project_output_(project_output) {}
  virtual ~StageEvaluator() = default;
  // Objective at theta (host); writes the gradient into `grad` when not null.
  virtual double evaluate(const std::vector<double>& theta, std::vector<double>* grad) = 0;
  // Writes the stage weights that theta stands for into `params` (keeping their dtype/device).
  virtual void finish(const std::vector<double>& theta, StageParams& params) = 0;
  // L-BFGS from the weights `params` holds; leaves the minimiser in them. By default on the
  // host through evaluate(); device evaluators keep the loop's vectors on their device.
  virtual LbfgsOutcome minimize(const LbfgsSettings& settings, StageParams& params);

 protected:
  bool project_output_;
};

// The output of a stage on every row of a fixed feature matrix: the features are laid out for a
// device's kernels once (the trainer evaluates every new stage on all its rows).
class StageForward {
 public:
  virtual ~StageForward() = default;
  // N x K in the features' dtype.
  virtual torch::Tensor operator()(const StageParams& params) = 0;
};

// The evaluator for the rows of x and r listed in `rows` (int64 on x's device, checked by the
// caller), or all of them when it is undefined.
std::unique_ptr<StageEvaluator> make_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                               const torch::Tensor& rows, int64_t units,
                                               const StageProblem& problem, bool project_output);

// The stage's output on every row of x for the given weights: a kernel's layout where one
// exists for x's device and dtype, else the stage's ATen forward.
std::unique_ptr<StageForward> make_stage_forward(const torch::Tensor& x, int64_t units,
                                                 int64_t outputs, Activation act);

// The evaluators of each device, for tests that compare them. The CPU's takes CPU float32/float64
// data and selects `rows` itself while laying them out; the others take all rows of x and r. The
// CUDA one returns null where its kernels do not apply (not float32, more than 8 units, variable
// projection) or were not built.
std::unique_ptr<StageEvaluator> make_cpu_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                   const torch::Tensor& rows, int64_t units,
                                                   const StageProblem& problem,
                                                   bool project_output);
std::unique_ptr<StageEvaluator> make_cuda_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                    int64_t units, const StageProblem& problem,
                                                    bool project_output);
std::unique_ptr<StageEvaluator> make_aten_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                    int64_t units, const StageProblem& problem,
                                                    bool project_output);
std::unique_ptr<StageForward> make_cpu_stage_forward(const torch::Tensor& x, int64_t units,
                                                     int64_t outputs, Activation act);
std::unique_ptr<StageForward> make_aten_stage_forward(const torch::Tensor& x, Activation act);

// Whether this build has the CUDA kernels (BOOSTHEAD_CUDA).
bool cuda_kernels_built();

// Distinct threads that ran a part of one evaluation of the CPU kernel on this stage: at most
// at::get_num_threads(), and 1 for stages too small to split.
int kernel_threads_used(const torch::Tensor& x, const torch::Tensor& r, int64_t units);

}  // namespace boosthead::detail
