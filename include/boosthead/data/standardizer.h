#pragma once
/// \file
/// Per-column standardisation of a feature matrix.

#include <torch/types.h>

namespace boosthead::data {

/// (x - mean) / scale per column, with statistics from training rows. A constant column gets
/// scale 1 so it maps to zero rather than to NaN.
struct Standardizer {
  /// Column means, float64, length d.
  torch::Tensor mean;
  /// Column standard deviations (population), float64, length d.
  torch::Tensor scale;

  /// Learns mean and scale from an N x d matrix (N >= 1).
  static Standardizer fit(const torch::Tensor& x);
  /// Standardises in float64 and returns the result in `dtype`.
  torch::Tensor transform(const torch::Tensor& x, torch::ScalarType dtype = torch::kFloat) const;
};

}  // namespace boosthead::data
