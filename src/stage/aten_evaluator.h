#pragma once
// Internal: the stage objective in ATen ops on any device, with the solver's vectors on that
// device too. The reference the device kernels are tested against, and the path for devices and
// dtypes without kernels of their own.

#include "evaluator.h"

namespace boosthead::detail {

class AtenEvaluator : public StageEvaluator {
 public:
  // All rows of x (n x d) and r (n x K); rows are selected by the caller.
  AtenEvaluator(const torch::Tensor& x, const torch::Tensor& r, int64_t units,
                const StageProblem& problem, bool project_output);

  double evaluate(const std::vector<double>& theta, std::vector<double>* grad) override;
  void finish(const std::vector<double>& theta, StageParams& params) override;
  LbfgsOutcome minimize(const LbfgsSettings& settings, StageParams& params) override;

  // The objective at theta (1-D float64 on the data's device) as a 0-dim float64 tensor there,
  // with no transfer to the host; its gradient into *grad (theta's shape) when not null.
  torch::Tensor objective(const torch::Tensor& theta, torch::Tensor* grad);

 protected:
  // The pass over the rows for the weights loaded in w1_, b1_, w2_, b2_: returns the sum of
  // squared errors (0-dim float64) and, when grad_sums is not null, writes the gradient of half
  // of it, float64, [w1, b1, w2, b2] (or [w1, b1] with projection), into *grad_sums.
  virtual torch::Tensor data_term(torch::Tensor* grad_sums);

  torch::Tensor x_, r_;
  int64_t n_, d_, j_, k_;
  Activation act_;
  double l2_;
  // The weights in the data's dtype: views of flat_, or with projection w2_ and b2_ solved.
  torch::Tensor flat_, w1_, b1_, w2_, b2_;

 private:
  void load(const torch::Tensor& theta);
  void solve_output_layer();
  // theta with the solved output layer appended (projection), or theta.
  torch::Tensor full_params(const torch::Tensor& theta) const;

  // t (float64) summed over the processes of a data-parallel fit; t itself without one.
  torch::Tensor sum_across_processes(const torch::Tensor& t) const;

  Collective* collective_;
  double total_rows_;           // over all processes
  torch::Tensor h_, a_, w2b2_;  // with projection: a_ = [H, 1, R], h_ a view of it
};

}  // namespace boosthead::detail
