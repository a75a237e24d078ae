#pragma once
// Internal: the per-stage metric (accuracy or RMSE) as sums over rows, so that processes holding
// shares of the rows can add them up.

#include <torch/types.h>

#include <cmath>
#include <string>
#include <vector>

#include "data_parallel.h"

namespace boosthead::detail {

// The metric's numerator and denominator over some rows: correct rows and rows for
// classification, squared errors and entries for regression (RMSE).
struct MetricSums {
  double sum = 0.0, count = 0.0;
  bool root = false;  // RMSE: the root of the mean
  double value() const { return root ? std::sqrt(sum / count) : sum / count; }
};

// From scores and prepared (N x K) targets of the loss `loss`.
MetricSums metric_sums(const std::string& loss, const torch::Tensor& f, const torch::Tensor& y);

// metric_sums() for one set of targets and many scores (each row's class is worked out once),
// added up over the processes of `share`.
class StageMetric {
 public:
  StageMetric(std::string loss, torch::Tensor y, const RowShare* share);
  double operator()(const torch::Tensor& f) const;

 private:
  std::string loss_;
  torch::Tensor y_;
  const RowShare* share_;
  std::vector<int64_t> labels_;
};

}  // namespace boosthead::detail
