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

#include "fit_inputs.h"
#include "target_scale.h"

namespace boosthead {
namespace {

StageParams snapshot(const StageParams& p) {
  torch::NoGradGuard no_grad;
  return {p.w1.detach().clone(), p.b1.detach().clone(), p.w2.detach().clone(),
          p.b2.detach().clone()};
}

double default_lr(const std::string& method) {
  if (method == "adam") return 1e-3;
  if (method == "sgd") return 0.1;
  return 1.0;
}

// A constant rate is what Adam is used with; SGD without a schedule stalls at its noise floor.
int64_t default_lr_patience(const std::string& method) { return method == "sgd" ? 3 : 0; }

// Factor of each step down of the learning rate (scikit-learn's "adaptive" uses the same).
constexpr double kLrStepDown = 0.2;

void scale_learning_rate(torch::optim::Optimizer& optimizer, double factor) {
  for (auto& group : optimizer.param_groups()) {
    group.options().set_lr(group.options().get_lr() * factor);
  }
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
  if (o.lr_patience() < -1) {
    throw std::invalid_argument(fmt::format(
        "lr_patience must be -1 (the method's default) or non-negative, got {}", o.lr_patience()));
  }
  activation_from_name(o.activation());
}

BaselineTrainer& BaselineTrainer::add_callback(EpochCallback callback) {
  if (!callback)
    throw std::invalid_argument("add_callback needs a callback, got an empty function");
  callbacks_.push_back(std::move(callback));
  return *this;
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
  const auto start = detail::Clock::now();
  const auto& o = options_;
  const Activation act = activation_from_name(o.activation());
  auto in = detail::prepare_fit_inputs(features, targets, valid_features, valid_targets,
                                       detail::fit_settings(o));
  const auto y_units = o.standardize_targets() && in.loss_name == "squared"
                           ? detail::TargetScale::fit(in.y)
                           : detail::TargetScale{};
  in.y = y_units.to_trained(in.y);
  if (in.has_valid()) in.y_valid = y_units.to_trained(in.y_valid);
  // The caller may be inside a NoGradGuard; training needs autograd.
  torch::AutoGradMode grad_mode(true);
  const std::string& loss_name = in.loss_name;
  const auto& loss = in.loss;
  const auto& opt = in.options;
  const torch::Device device = opt.device();
  const bool has_valid = in.has_valid();
  const int64_t k = in.outputs;
  const auto& x = in.x;
  const auto& y = in.y;
  const auto& xv = in.x_valid;
  const auto& yv = in.y_valid;
  const int64_t n = x.size(0), d = x.size(1), h = o.hidden_units();

  const torch::Tensor f0 = loss->initial_score(y).detach();
  std::mt19937_64 rng(o.seed());
  StageParams net = detail::glorot_init(rng, d, h, k, act, opt);
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
        params, torch::optim::SGDOptions(lr).momentum(o.momentum()).nesterov(o.momentum() > 0.0));
  } else {
    optimizer = std::make_unique<torch::optim::LBFGS>(
        params, torch::optim::LBFGSOptions(lr)
                    .max_iter(o.lbfgs_iterations())
                    .line_search_fn(std::string("strong_wolfe")));
  }
  const bool full_batch = o.method() == "lbfgs";
  const int64_t batch = std::min(o.batch_size(), n);
  const int64_t lr_patience =
      o.lr_patience() >= 0 ? o.lr_patience() : default_lr_patience(o.method());
  double watched_best = INFINITY;  // the loss the schedule watches
  int64_t since_watched = 0;
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;

  BaselineResult result;
  StageParams best = snapshot(net), last = best;
  double best_valid = INFINITY;
  int64_t best_epoch = 0, last_epoch = 0, since_best = 0;
  std::string reason = "completed";
  // The network as the result holds it: one stage of h units with unit scale.
  auto as_head = [&](const StageParams& params) {
    torch::NoGradGuard no_grad;
    BoostedHead head(d, h, act, loss_name, y_units.bias_to_original(f0));
    head->append_stage(y_units.stage_to_original(params), 1.0);
    return head;
  };
  // Seconds spent in epoch callbacks, left out of the fit's time.
  double paused = 0.0;
  auto elapsed = [&] { return detail::seconds_since(start) - paused; };
  for (int64_t epoch = 1; epoch <= o.epochs(); ++epoch) {
    if (full_batch) {
      optimizer->step([&] {
        optimizer->zero_grad();
        auto value = objective(x, y);
        value.backward();
        return value;
      });
    } else {
      detail::shuffle(order, rng);
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
    const double train_loss = mean_loss(x, y);
    const double valid_loss = has_valid ? mean_loss(xv, yv) : 0.0;
    if (!std::isfinite(train_loss) || !std::isfinite(valid_loss)) {
      reason = "diverged";
      break;
    }
    rec.train_loss = y_units.loss_to_original(train_loss);
    if (has_valid) rec.valid_loss = y_units.loss_to_original(valid_loss);
    if (lr_patience > 0) {
      const double watched = has_valid ? valid_loss : train_loss;
      if (watched < watched_best) {
        watched_best = watched;
        since_watched = 0;
      } else if (++since_watched >= lr_patience) {
        scale_learning_rate(*optimizer, kLrStepDown);
        since_watched = 0;
      }
    }
    rec.seconds = elapsed();
    result.history.push_back(rec);
    last = snapshot(net);
    last_epoch = epoch;
    bool stop_early = false;
    if (has_valid) {
      if (*rec.valid_loss < best_valid) {
        best_valid = *rec.valid_loss;
        best = last;
        best_epoch = epoch;
        since_best = 0;
      } else if (o.patience() > 0 && ++since_best >= o.patience()) {
        stop_early = true;
      }
    }
    bool stop_callback = false;
    if (!callbacks_.empty()) {
      const auto pause_start = detail::Clock::now();
      // The network of this epoch in the form of the result, so that a kept epoch's scores
      // equal the returned head's.
      const BoostedHead view = as_head(last);
      for (const auto& callback : callbacks_) {
        if (!callback(result.history.back(), *view)) stop_callback = true;
      }
      paused += detail::seconds_since(pause_start);
    }
    if (stop_early || stop_callback) {
      reason = stop_early ? "early_stopping" : "callback";
      break;
    }
  }

  const bool use_best = has_valid && o.keep_best() && best_epoch > 0;
  const StageParams& final_params = use_best ? best : last;
  result.best_epoch = use_best ? best_epoch : last_epoch;
  result.epochs_trained = static_cast<int64_t>(result.history.size());
  result.stop_reason = reason;

  result.head = as_head(final_params);
  result.fit_seconds = elapsed();
  return result;
}

}  // namespace boosthead
