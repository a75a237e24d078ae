#pragma once
// Internal: a stage's weights as the flat float64 vector the solvers search, [w1, b1, w2, b2]
// row-major, or [w1, b1] with variable projection.

#include <boosthead/stage_problem.h>

#include <vector>

namespace boosthead::detail {

// On the host.
std::vector<double> pack_params(const StageParams& p, bool project_output);

// Writes theta (and, with variable projection, the solved output layer w2b2 = [w2 (k x j), b2])
// into the stage's tensors.
void write_params(const std::vector<double>& theta, const std::vector<double>* w2b2,
                  StageParams& params);

// On the weights' device, 1-D float64.
torch::Tensor pack_params_tensor(const StageParams& p, bool project_output);

// Writes a flat vector on any device (the full [w1, b1, w2, b2]) into the stage's tensors.
void write_params_tensor(const torch::Tensor& flat, StageParams& params);

}  // namespace boosthead::detail
