#pragma once
// Internal: the L-BFGS of lbfgs.h with its vectors on the tensors' device (CUDA, or CPU in the
// tests), for evaluators whose objective lives there. The same steps, tests and constants as
// minimize_lbfgs; the host learns only what steers the loop: one transfer of five float64 scalars
// per objective evaluation (the value, g.d, and max |g|, sum |g|, g.g of the new gradient).
//
// Differences from the host version, both rare: a pair rejected by the curvature test still takes
// a slot of the memory (with weight zero, so it changes no direction), and when the direction is
// not one of descent, the evaluation already made along it is counted and thrown away.

#include <ATen/core/Tensor.h>

#include <functional>

#include "../lbfgs.h"

namespace boosthead::detail {

// fg(x, g) returns f(x), a 0-dim float64 tensor on x's device, and writes the gradient into g.
using DeviceValueAndGradient = std::function<at::Tensor(const at::Tensor&, at::Tensor&)>;

// Minimises from x (1-D float64) in place.
LbfgsOutcome minimize_lbfgs_on_device(const DeviceValueAndGradient& fg, at::Tensor& x,
                                      const LbfgsSettings& settings);

}  // namespace boosthead::detail
