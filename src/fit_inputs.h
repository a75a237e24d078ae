#pragma once
// Internal: what the boosting trainer and the baseline trainers share before training starts:
// input checks, the "auto" loss rule, the validation split, target preparation and the seeded
// initialisation, so that a seed and a split mean the same thing for every method.

#include <boosthead/activation.h>
#include <boosthead/loss.h>
#include <boosthead/stage_solver.h>
#include <torch/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "util/finite.h"
#include "util/random.h"

namespace boosthead::detail {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Settings that decide how raw inputs become training tensors.
struct FitSettings {
  std::string loss = "auto";
  int64_t num_classes = 0;
  double valid_fraction = 0.0;
  uint64_t seed = 0;
  std::optional<torch::Device> device;
  std::optional<torch::ScalarType> dtype;
};

// The fields above taken from TrainerOptions or BaselineOptions, which name them alike.
template <typename Options>
FitSettings fit_settings(const Options& o) {
  FitSettings s;
  s.loss = o.loss();
  s.num_classes = o.num_classes();
  s.valid_fraction = o.valid_fraction();
  s.seed = o.seed();
  s.device = o.device();
  s.dtype = o.dtype();
  return s;
}

// Training (and validation) data on the training device and dtype, targets prepared N x K.
struct FitInputs {
  std::string loss_name;
  std::unique_ptr<Loss> loss;
  torch::TensorOptions options;
  int64_t outputs = 0;
  torch::Tensor x, y, x_valid, y_valid;
  bool has_valid() const { return x_valid.defined(); }
};

// Checks features and targets (throwing std::invalid_argument that names the problem), resolves
// the loss, splits off validation rows when asked (stratified for classes) and moves everything
// to the training device and dtype.
FitInputs prepare_fit_inputs(const torch::Tensor& features, const torch::Tensor& targets,
                             const torch::Tensor* valid_features,
                             const torch::Tensor* valid_targets, const FitSettings& settings);

// Glorot-uniform weights for Linear(d, j) -> act -> Linear(j, k), drawn from a raw 64-bit engine
// (bounds as in scikit-learn's MLP), so a seed gives the same network with any standard library.
StageParams glorot_init(std::mt19937_64& rng, int64_t d, int64_t j, int64_t k, Activation act,
                        const torch::TensorOptions& options);

}  // namespace boosthead::detail
