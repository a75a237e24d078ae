#include "fit_inputs.h"

#include <boosthead/split.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace boosthead::detail {
namespace {

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

torch::Tensor uniform_tensor(std::mt19937_64& rng, std::vector<int64_t> shape, double bound) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  auto t = torch::empty(shape, torch::kDouble);
  auto* p = t.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = (2.0 * uniform01(rng) - 1.0) * bound;
  return t;
}

void check_features(const torch::Tensor& x, const char* what) {
  if (!x.defined()) throw std::invalid_argument(fmt::format("{} are undefined", what));
  if (x.dim() != 2) {
    throw std::invalid_argument(
        fmt::format("expected 2-D {} (rows x columns), got {}-D", what, x.dim()));
  }
  if (x.size(0) == 0) throw std::invalid_argument(fmt::format("{} have no rows", what));
  if (x.size(1) == 0) throw std::invalid_argument(fmt::format("{} have no columns", what));
  if (x.is_floating_point() && !all_finite(x)) {
    auto bad = (~torch::isfinite(x)).nonzero()[0];
    throw std::invalid_argument(fmt::format("{} contain NaN or Inf (first at row {}, column {})",
                                            what, bad[0].item<int64_t>(), bad[1].item<int64_t>()));
  }
}

void check_targets(const torch::Tensor& y, const torch::Tensor& x, const char* what) {
  if (!y.defined()) throw std::invalid_argument(fmt::format("{} are undefined", what));
  if (y.dim() < 1 || y.size(0) != x.size(0)) {
    throw std::invalid_argument(fmt::format("{} have {} rows but the features have {}", what,
                                            y.dim() < 1 ? 0 : y.size(0), x.size(0)));
  }
  if (y.is_floating_point() && !all_finite(y)) {
    throw std::invalid_argument(fmt::format("{} contain NaN or Inf", what));
  }
}

std::string resolve_loss(const std::string& name, const torch::Tensor& y, int64_t num_classes) {
  if (name != "auto") return name;
  if (y.is_floating_point()) return "squared";
  const int64_t k = num_classes > 0 ? num_classes : y.max().item<int64_t>() + 1;
  if (k < 2) {
    throw std::invalid_argument(
        fmt::format("classification needs at least two classes, got {}", k));
  }
  return k == 2 ? "binary_logistic" : "multinomial";
}

}  // namespace

// Partial Fisher-Yates. The bounded draws multiply and shift (Lemire; the bias is below
// (n - i) / 2^64) instead of a 64-bit modulo, and the marks are read without a branch: together
// 42 -> 20 us for 2,145 of 4,290 rows.
StageParams glorot_init(std::mt19937_64& rng, int64_t d, int64_t j, int64_t k, Activation act,
                        const torch::TensorOptions& options) {
  const double factor = act == Activation::Sigmoid ? 2.0 : 6.0;
  const double b1 = std::sqrt(factor / static_cast<double>(d + j));
  const double b2 = std::sqrt(factor / static_cast<double>(j + k));
  StageParams p;
  p.w1 = uniform_tensor(rng, {j, d}, b1).to(options);
  p.b1 = uniform_tensor(rng, {j}, b1).to(options);
  p.w2 = uniform_tensor(rng, {k, j}, b2).to(options);
  p.b2 = uniform_tensor(rng, {k}, b2).to(options);
  return p;
}

FitInputs prepare_fit_inputs(const torch::Tensor& features, const torch::Tensor& targets,
                             const torch::Tensor* valid_features,
                             const torch::Tensor* valid_targets, const FitSettings& s) {
  check_features(features, "features");
  check_targets(targets, features, "targets");
  const torch::Device device = s.device.value_or(features.device());
  if (device.is_cuda() && !torch::cuda::is_available()) {
    throw std::invalid_argument("device cuda was requested but no CUDA device is available");
  }
  const torch::ScalarType dtype =
      s.dtype.value_or(features.is_floating_point() ? features.scalar_type() : torch::kFloat);
  if (!c10::isFloatingType(dtype)) {
    throw std::invalid_argument(
        fmt::format("dtype must be floating, got {}", c10::toString(dtype)));
  }
  FitInputs in;
  in.loss_name = resolve_loss(s.loss, targets, s.num_classes);
  in.loss = make_loss(in.loss_name);
  if (in.loss->is_classification() && targets.is_floating_point() &&
      !torch::equal(targets, targets.round())) {
    throw std::invalid_argument(
        fmt::format("loss {} needs integer class labels, got fractional targets", in.loss_name));
  }

  torch::Tensor x_train = features, y_train = targets, x_valid, y_valid;
  if (valid_features != nullptr) {
    check_features(*valid_features, "validation features");
    check_targets(*valid_targets, *valid_features, "validation targets");
    if (valid_features->size(1) != features.size(1)) {
      throw std::invalid_argument(
          fmt::format("validation features have {} columns but the training features have {}",
                      valid_features->size(1), features.size(1)));
    }
    x_valid = *valid_features;
    y_valid = *valid_targets;
  } else if (s.valid_fraction > 0.0) {
    auto split =
        split_indices(features.size(0), s.valid_fraction, s.seed,
                      in.loss->is_classification() ? targets.to(torch::kLong) : torch::Tensor());
    x_valid = features.index_select(0, split.second.to(features.device()));
    y_valid = targets.index_select(0, split.second.to(targets.device()));
    x_train = features.index_select(0, split.first.to(features.device()));
    y_train = targets.index_select(0, split.first.to(targets.device()));
  }

  in.options = torch::TensorOptions().device(device).dtype(dtype);
  in.outputs = in.loss->num_outputs(targets, s.num_classes);
  in.x = x_train.to(in.options).contiguous();
  in.y = in.loss->prepare_targets(y_train.to(device), in.outputs, dtype);
  if (x_valid.defined()) {
    in.x_valid = x_valid.to(in.options).contiguous();
    in.y_valid = in.loss->prepare_targets(y_valid.to(device), in.outputs, dtype);
  }
  return in;
}

}  // namespace boosthead::detail
