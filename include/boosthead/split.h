#pragma once
/// \file
/// The train/validation split every trainer in the library uses, so that a seed and a fraction
/// hold out the same rows for boosting and for the baselines.

#include <torch/types.h>

#include <cstdint>
#include <utility>

namespace boosthead {

/// Row indices for a train/validation split of `n` rows: a stratified split when `labels`
/// (int64, N) is defined, else a plain shuffle. Returns {train, valid} as int64 tensors.
std::pair<torch::Tensor, torch::Tensor> split_indices(int64_t n, double valid_fraction,
                                                      uint64_t seed,
                                                      const torch::Tensor& labels = {});

}  // namespace boosthead
