#include <boosthead/baselines.h>
#include <boosthead/loss.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>
#include <torch/optim/lbfgs.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>

namespace boosthead {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The draws below mirror the boosting trainer's (raw 64-bit engine, Glorot-uniform bounds as in
// scikit-learn's MLP), so that a seed means the same thing for both.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

torch::Tensor uniform_tensor(std::mt19937_64& rng, std::vector<int64_t> shape, double bound) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  auto t = torch::empty(shape, torch::kDouble);
  auto* p = t.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = (2.0 * uniform01(rng) - 1.0) * bound;
  return t;
}

StageParams init_network(std::mt19937_64& rng, int64_t d, int64_t h, int64_t k, Activation act,
                         const torch::TensorOptions& opt) {
  const double factor = act == Activation::Sigmoid ? 2.0 : 6.0;
  const double b1 = std::sqrt(factor / static_cast<double>(d + h));
  const double b2 = std::sqrt(factor / static_cast<double>(h + k));
  StageParams p;
  p.w1 = uniform_tensor(rng, {h, d}, b1).to(opt);
  p.b1 = uniform_tensor(rng, {h}, b1).to(opt);
  p.w2 = uniform_tensor(rng, {k, h}, b2).to(opt);
  p.b2 = uniform_tensor(rng, {k}, b2).to(opt);
  return p;
}

void shuffle(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

// Same rule as the boosting trainer's loss "auto".
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

void check_features(const torch::Tensor& x, const char* what) {
  if (!x.defined()) throw std::invalid_argument(fmt::format("{} are undefined", what));
  if (x.dim() != 2 || x.size(0) == 0 || x.size(1) == 0) {
    throw std::invalid_argument(
        fmt::format("expected non-empty 2-D {} (rows x columns), got shape {}", what,
                    fmt::join(x.sizes(), " x ")));
  }
  if (x.is_floating_point() && !torch::isfinite(x).all().item<bool>()) {
    throw std::invalid_argument(fmt::format("{} contain NaN or Inf", what));
  }
}

void check_targets(const torch::Tensor& y, const torch::Tensor& x, const char* what) {
  if (!y.defined()) throw std::invalid_argument(fmt::format("{} are undefined", what));
  if (y.dim() < 1 || y.size(0) != x.size(0)) {
    throw std::invalid_argument(fmt::format("{} have {} rows but the features have {}", what,
                                            y.dim() < 1 ? 0 : y.size(0), x.size(0)));
  }
  if (y.is_floating_point() && !torch::isfinite(y).all().item<bool>()) {
    throw std::invalid_argument(fmt::format("{} contain NaN or Inf", what));
  }
}

StageParams snapshot(const StageParams& p) {
  torch::NoGradGuard no_grad;
  return {p.w1.detach().clone(), p.b1.detach().clone(), p.w2.detach().clone(),
          p.b2.detach().clone()};
}

double default_lr(const std::string& method) {
  if (method == "adam") return 1e-3;
  if (method == "sgd") return 1e-2;
  return 1.0;
}

}  // namespace

std::vector<std::string> baseline_methods() { return {"adam", "lbfgs", "sgd"}; }

BaselineTrainer::BaselineTrainer(BaselineOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  const auto methods = baseline_methods();
  if (std::find(methods.begin(), methods.end(), o.method()) == methods.end()) {
    throw std::invalid_argument(fmt::format("unknown baseline method '{}'; known methods: {}",
                                            o.method(), fmt::join(methods, ", ")));
  }
  if (o.hidden_units() < 1) {
    throw std::invalid_argument(
        fmt::format("hidden_units must be at least 1, got {}", o.hidden_units()));
  }
  if (o.epochs() < 1)
    throw std::invalid_argument(fmt::format("epochs must be at least 1, got {}", o.epochs()));
  if (o.batch_size() < 1) {
    throw std::invalid_argument(
        fmt::format("batch_size must be at least 1, got {}", o.batch_size()));
  }
  if (!(o.lr() >= 0.0) || !std::isfinite(o.lr())) {
    throw std::invalid_argument(
        fmt::format("lr must be positive (or 0 for the method's default), got {}", o.lr()));
  }
  if (!(o.momentum() >= 0.0 && o.momentum() < 1.0))
    throw std::invalid_argument(fmt::format("momentum must be in [0, 1), got {}", o.momentum()));
  if (!(o.l2() >= 0.0))
    throw std::invalid_argument(fmt::format("l2 must be non-negative, got {}", o.l2()));
  if (o.lbfgs_iterations() < 1) {
    throw std::invalid_argument(
        fmt::format("lbfgs_iterations must be at least 1, got {}", o.lbfgs_iterations()));
  }
  if (!(o.valid_fraction() >= 0.0 && o.valid_fraction() < 1.0)) {
    throw std::invalid_argument(
        fmt::format("valid_fraction must be in [0, 1), got {}", o.valid_fraction()));
  }
  if (o.patience() < 0)
    throw std::invalid_argument(fmt::format("patience must be non-negative, got {}", o.patience()));
  activation_from_name(o.activation());
}

BaselineResult BaselineTrainer::fit(const torch::Tensor& features, const torch::Tensor& targets) {
  return run(features, targets, nullptr, nullptr);
}

BaselineResult BaselineTrainer::fit(const torch::Tensor& features, const torch::Tensor& targets,
                                    const torch::Tensor& valid_features,
                                    const torch::Tensor& valid_targets) {
  return run(features, targets, &valid_features, &valid_targets);
}

BaselineResult BaselineTrainer::run(const torch::Tensor& features, const torch::Tensor& targets,
                                    const torch::Tensor* valid_features,
                                    const torch::Tensor* valid_targets) {
  const auto start = Clock::now();
  const auto& o = options_;
  const Activation act = activation_from_name(o.activation());
  check_features(features, "features");
  check_targets(targets, features, "targets");
  const torch::Device device = o.device().value_or(features.device());
  if (device.is_cuda() && !torch::cuda::is_available()) {
    throw std::invalid_argument("device cuda was requested but no CUDA device is available");
  }
  const torch::ScalarType dtype =
      o.dtype().value_or(features.is_floating_point() ? features.scalar_type() : torch::kFloat);
  if (!c10::isFloatingType(dtype)) {
    throw std::invalid_argument(
        fmt::format("dtype must be floating, got {}", c10::toString(dtype)));
  }
  const std::string loss_name = resolve_loss(o.loss(), targets, o.num_classes());
  auto loss = make_loss(loss_name);
  if (loss->is_classification() && targets.is_floating_point() &&
      !torch::equal(targets, targets.round())) {
    throw std::invalid_argument(
        fmt::format("loss {} needs integer class labels, got fractional targets", loss_name));
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
  } else if (o.valid_fraction() > 0.0) {
    auto split =
        split_indices(features.size(0), o.valid_fraction(), o.seed(),
                      loss->is_classification() ? targets.to(torch::kLong) : torch::Tensor());
    x_valid = features.index_select(0, split.second.to(features.device()));
    y_valid = targets.index_select(0, split.second.to(targets.device()));
    x_train = features.index_select(0, split.first.to(features.device()));
    y_train = targets.index_select(0, split.first.to(targets.device()));
  }
  const bool has_valid = x_valid.defined();

  // The caller may be inside a NoGradGuard; training needs autograd.
  torch::AutoGradMode grad_mode(true);
  const auto opt = torch::TensorOptions().device(device).dtype(dtype);
  const int64_t k = loss->num_outputs(targets, o.num_classes());
  const auto x = x_train.to(opt).contiguous();
  const auto y = loss->prepare_targets(y_train.to(device), k, dtype);
  torch::Tensor xv, yv;
  if (has_valid) {
    xv = x_valid.to(opt).contiguous();
    yv = loss->prepare_targets(y_valid.to(device), k, dtype);
  }
  const int64_t n = x.size(0), d = x.size(1), h = o.hidden_units();

  const torch::Tensor f0 = loss->initial_score(y).detach();
  std::mt19937_64 rng(o.seed());
  StageParams net = init_network(rng, d, h, k, act, opt);
  std::vector<torch::Tensor> params = {net.w1, net.b1, net.w2, net.b2};
  for (auto& p : params) p.requires_grad_(true);

  // F0 stays a constant outside the trained bias, as in the fused head's output bias.
  auto forward = [&](const torch::Tensor& xb) {
    auto hidden = activate(act, torch::addmm(net.b1, xb, net.w1.t()));
    return torch::addmm(net.b2 + f0, hidden, net.w2.t());
  };
  auto objective = [&](const torch::Tensor& xb, const torch::Tensor& yb) {
    auto value = loss->row_loss(forward(xb), yb).mean();
    if (o.l2() > 0.0) value = value + 0.5 * o.l2() * (net.w1.pow(2).sum() + net.w2.pow(2).sum());
    return value;
  };
  auto mean_loss = [&](const torch::Tensor& xb, const torch::Tensor& yb) {
    torch::NoGradGuard no_grad;
    return loss->row_loss(forward(xb), yb).mean().item<double>();
  };

  const double lr = o.lr() > 0.0 ? o.lr() : default_lr(o.method());
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (o.method() == "adam") {
    optimizer = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(lr));
  } else if (o.method() == "sgd") {
    optimizer = std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(lr).momentum(o.momentum()));
  } else {
    optimizer = std::make_unique<torch::optim::LBFGS>(
        params, torch::optim::LBFGSOptions(lr)
                    .max_iter(o.lbfgs_iterations())
                    .line_search_fn(std::string("strong_wolfe")));
  }
  const bool full_batch = o.method() == "lbfgs";
  const int64_t batch = std::min(o.batch_size(), n);
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;

  BaselineResult result;
  StageParams best = snapshot(net), last = best;
  double best_valid = INFINITY;
  int64_t best_epoch = 0, last_epoch = 0, since_best = 0;
  std::string reason = "completed";
  for (int64_t epoch = 1; epoch <= o.epochs(); ++epoch) {
    if (full_batch) {
      optimizer->step([&] {
        optimizer->zero_grad();
        auto value = objective(x, y);
        value.backward();
        return value;
      });
    } else {
      shuffle(order, rng);
      const auto perm = torch::tensor(order, torch::kLong).to(device);
      for (int64_t begin = 0; begin < n; begin += batch) {
        const auto idx = perm.narrow(0, begin, std::min(batch, n - begin));
        optimizer->zero_grad();
        objective(x.index_select(0, idx), y.index_select(0, idx)).backward();
        optimizer->step();
      }
    }

    EpochRecord rec;
    rec.epoch = epoch;
    rec.train_loss = mean_loss(x, y);
    if (has_valid) rec.valid_loss = mean_loss(xv, yv);
    if (!std::isfinite(rec.train_loss) || (has_valid && !std::isfinite(*rec.valid_loss))) {
      reason = "diverged";
      break;
    }
    rec.seconds = seconds_since(start);
    result.history.push_back(rec);
    last = snapshot(net);
    last_epoch = epoch;
    if (has_valid) {
      if (*rec.valid_loss < best_valid) {
        best_valid = *rec.valid_loss;
        best = last;
        best_epoch = epoch;
        since_best = 0;
      } else if (o.patience() > 0 && ++since_best >= o.patience()) {
        reason = "early_stopping";
        break;
      }
    }
  }

  const bool use_best = has_valid && o.keep_best() && best_epoch > 0;
  const StageParams& final_params = use_best ? best : last;
  result.best_epoch = use_best ? best_epoch : last_epoch;
  result.epochs_trained = static_cast<int64_t>(result.history.size());
  result.stop_reason = reason;

  torch::NoGradGuard no_grad;
  result.head = BoostedHead(d, h, act, loss_name, f0);
  result.head->append_stage(final_params, 1.0);
  result.fit_seconds = seconds_since(start);
  return result;
}

}  // namespace boosthead
