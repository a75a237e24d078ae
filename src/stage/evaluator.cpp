// The device layer's one dispatch point (evaluator.h).

#include "evaluator.h"

#include <torch/types.h>

#include "params.h"

namespace boosthead::detail {
namespace {

bool cpu_floating(const torch::Tensor& t) {
  return t.device().is_cpu() &&
         (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble);
}

}  // namespace

LbfgsOutcome StageEvaluator::minimize(const LbfgsSettings& settings, StageParams& params) {
  auto theta = pack_params(params, project_output_);
  const LbfgsOutcome out = minimize_lbfgs(
      [&](const std::vector<double>& t, std::vector<double>& g) { return evaluate(t, &g); }, theta,
      settings);
  finish(theta, params);
  return out;
}

std::unique_ptr<StageEvaluator> make_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                               const torch::Tensor& rows, int64_t units,
                                               const StageProblem& problem, bool project_output) {
  if (cpu_floating(x)) return make_cpu_evaluator(x, r, rows, units, problem, project_output);
  auto xs = rows.defined() ? x.index_select(0, rows) : x;
  auto rs = rows.defined() ? r.index_select(0, rows) : r;
  // The fused CUDA pass keeps its sums on the device; a data-parallel fit takes the ATen one.
  if (x.is_cuda() && !problem.collective()) {
    if (auto ev = make_cuda_evaluator(xs, rs, units, problem, project_output)) return ev;
  }
  return make_aten_evaluator(xs, rs, units, problem, project_output);
}

std::unique_ptr<StageForward> make_stage_forward(const torch::Tensor& x, int64_t units,
                                                 int64_t outputs, Activation act) {
  if (cpu_floating(x) && x.dim() == 2 && x.size(0) > 0) {
    return make_cpu_stage_forward(x, units, outputs, act);
  }
  return make_aten_stage_forward(x, act);
}

}  // namespace boosthead::detail
