#pragma once
// Internal: regression targets trained at mean 0 and unit scale, with the head kept in the
// targets' own units. Shared by the boosting and the baseline trainers.
//
// One scale for all columns (the root of the mean column variance), not one per column: the
// squared loss of a multi-output target then changes by a constant factor only, so the
// weighting of the columns that the user's units imply is kept, while the step sizes, the L2
// penalty and the initialisation meet the same magnitudes whether a target is in thousands or
// in [0, 1].

#include <boosthead/stage_solver.h>
#include <torch/types.h>

#include <cmath>

#include "data_parallel.h"

namespace boosthead::detail {

struct TargetScale {
  torch::Tensor shift;  // K, the training targets' column means; undefined: identity
  double scale = 1.0;

  bool identity() const { return !shift.defined(); }

  // Learns the statistics from training targets y (N x K) and returns them.
  static TargetScale fit(const torch::Tensor& y) {
    TargetScale s;
    s.shift = y.mean(0);
    const double v = y.var(0, /*unbiased=*/false).mean().item<double>();
    // A constant target has nothing to scale; keep its units.
    s.scale = (std::isfinite(v) && v > 0.0) ? std::sqrt(v) : 1.0;
    return s;
  }
  // The same statistics over the rows of every process holding a share of them.
  static TargetScale fit(const torch::Tensor& y, const RowShare& share) {
    if (!share.shared()) return fit(y);
    TargetScale s;
    auto mean = share.column_means(y);
    s.shift = mean.to(y.scalar_type());
    const double squares = share.sum((y.to(torch::kDouble) - mean).square().sum().item<double>());
    const double v = squares / static_cast<double>(share.total_rows() * y.size(1));
    s.scale = (std::isfinite(v) && v > 0.0) ? std::sqrt(v) : 1.0;
    return s;
  }
  // Targets or scores in the trained units.
  torch::Tensor to_trained(const torch::Tensor& t) const {
    return identity() ? t : (t - shift) / scale;
  }
  // A constant score (K) in the targets' units.
  torch::Tensor bias_to_original(const torch::Tensor& b) const {
    return identity() ? b : shift + b * scale;
  }
  // A stage (or network) in the targets' units: the output layer scaled. The shift lives once,
  // in the head's initial score.
  StageParams stage_to_original(const StageParams& p) const {
    if (identity()) return p;
    return {p.w1, p.b1, p.w2 * scale, p.b2 * scale};
  }
  // A mean squared-type loss and an RMSE in the targets' units.
  double loss_to_original(double v) const { return v * scale * scale; }
  double rmse_to_original(double v) const { return v * scale; }
};

}  // namespace boosthead::detail
