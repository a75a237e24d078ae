#pragma once
/// \file
/// Baseline trainers: the network a boosted head fuses into, Linear(d, H) -> activation ->
/// Linear(H, K), trained end to end by a torch::optim optimiser ("adam", "sgd" with Nesterov
/// momentum and a step-down schedule, or full-batch "lbfgs" with a strong Wolfe line search).
///
/// The baselines share with the boosting trainer the loss (Loss::row_loss through autograd), the
/// resolution of loss "auto", the initial score F0 in the output bias, the Glorot-uniform
/// initialisation drawn from a std::mt19937_64 seeded with `seed`, and the validation split
/// (split_indices with the same seed and fraction, stratified for classes). The result is a
/// BoostedHead with one stage of H units, so evaluation, anytime metrics and the model file work
/// for it exactly as for a boosted head.

#include <boosthead/head.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace boosthead {

/// Options of a baseline trainer. The defaults are what a practitioner starts from (scikit-learn's
/// MLP: 100 relu units, Adam at 1e-3 on mini-batches of 200, L2 1e-4, at most 200 epochs), with
/// 10 % of the training rows held out to stop after 10 epochs without validation improvement,
/// as the boosting defaults do.
struct BaselineOptions {
  /// Optimiser: "adam", "sgd" (Nesterov momentum, step-down schedule) or "lbfgs" (full batch,
  /// strong Wolfe line search).
  TORCH_ARG(std::string, method) = "adam";
  /// Hidden units H.
  TORCH_ARG(int64_t, hidden_units) = 100;
  /// Hidden activation: "sigmoid", "tanh" or "relu".
  TORCH_ARG(std::string, activation) = "relu";
  /// Loss name from the registry, or "auto" (resolved as the boosting trainer does).
  TORCH_ARG(std::string, loss) = "auto";
  /// Maximum epochs. For lbfgs an epoch is one optimiser step of `lbfgs_iterations` iterations.
  TORCH_ARG(int64_t, epochs) = 200;
  /// Mini-batch size for adam and sgd (the whole training set when larger); lbfgs is full batch.
  TORCH_ARG(int64_t, batch_size) = 200;
  /// Learning rate; 0 picks the method's default: adam 1e-3, sgd 0.1 (of 0.01, 0.03 and 0.1 the
  /// best on development folds, docs/BENCHMARKS.md), lbfgs 1.
  TORCH_ARG(double, lr) = 0.0;
  /// Momentum of sgd (Nesterov's).
  TORCH_ARG(double, momentum) = 0.9;
  /// Divide the learning rate by 5 after this many epochs without a lower validation (or, with
  /// none, training) loss; -1 picks the method's default: sgd 3, adam and lbfgs never (0).
  TORCH_ARG(int64_t, lr_patience) = -1;
  /// Train squared loss on targets moved to mean 0 and unit scale, as the boosting trainer does;
  /// the head predicts in the targets' units.
  TORCH_ARG(bool, standardize_targets) = true;
  /// L2 penalty 0.5 * l2 * (||W1||^2 + ||W2||^2) added to the mean loss, i.e. weight decay l2 on
  /// the weights (not the biases).
  TORCH_ARG(double, l2) = 1e-4;
  /// L-BFGS iterations per epoch (lbfgs only).
  TORCH_ARG(int64_t, lbfgs_iterations) = 20;
  /// Fraction of training rows split off for validation when no validation set is given
  /// (stratified for classification); 0 for none.
  TORCH_ARG(double, valid_fraction) = 0.1;
  /// Stop after this many epochs without validation improvement (0: never).
  TORCH_ARG(int64_t, patience) = 10;
  /// With a validation set, return the weights of the epoch with the lowest validation loss.
  TORCH_ARG(bool, keep_best) = true;
  /// Number of classes; 0 to take max(label) + 1.
  TORCH_ARG(int64_t, num_classes) = 0;
  /// Seed for weight initialisation, mini-batch order and the validation split.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Device to train on; unset: the features' device.
  TORCH_ARG(std::optional<torch::Device>, device) = std::nullopt;
  /// Floating dtype to train in; unset: the features' dtype if floating, else float32.
  TORCH_ARG(std::optional<torch::ScalarType>, dtype) = std::nullopt;
};

/// What happened in one epoch.
struct EpochRecord {
  /// 1-based epoch number.
  int64_t epoch = 0;
  /// Mean training loss (without the L2 penalty) over all training rows after the epoch.
  double train_loss = 0.0;
  /// Mean validation loss after the epoch, when there is a validation set.
  std::optional<double> valid_loss;
  /// Seconds since the fit began, at the end of this epoch (the time spent in epoch callbacks
  /// not counted).
  double seconds = 0.0;
};

/// Called after every epoch with its record (already in the history) and a head holding the
/// network as it is after that epoch (one stage of `hidden_units` units, the form the result
/// has). Return false to stop training (stop reason "callback"). The time spent in callbacks,
/// including building the head they see, is left out of every `seconds` and of fit_seconds, so
/// a callback may score the network on held-out data without adding to the method's time.
using EpochCallback = std::function<bool(const EpochRecord& record, const BoostedHeadImpl& head)>;

/// The outcome of a baseline fit.
struct BaselineResult {
  /// The trained network as a head with one stage of `hidden_units` units.
  BoostedHead head{nullptr};
  /// One record per epoch trained.
  std::vector<EpochRecord> history;
  /// Epochs trained before stopping.
  int64_t epochs_trained = 0;
  /// Epoch whose weights the head holds (the best validation epoch with keep_best, else the
  /// last finite one).
  int64_t best_epoch = 0;
  /// Why training ended: "completed", "early_stopping", "callback" (an epoch callback returned
  /// false) or "diverged" (a non-finite loss; the head then holds the last finite weights).
  std::string stop_reason;
  /// Wall-clock seconds of the whole fit, less the time spent in epoch callbacks.
  double fit_seconds = 0.0;
};

/// Trains the fused network end to end with a torch::optim optimiser. Prints nothing.
class BaselineTrainer {
 public:
  /// Throws std::invalid_argument for an unknown method (listing the known ones) or an invalid
  /// option value.
  explicit BaselineTrainer(BaselineOptions options = {});

  /// Adds a per-epoch callback, called in the order added (all of them every epoch, even after
  /// one has returned false). Throws std::invalid_argument for an empty function.
  BaselineTrainer& add_callback(EpochCallback callback);

  /// Fits on features (N x d) and targets: floating N or N x K for regression, integer labels N
  /// for classification. Splits off a validation set when valid_fraction > 0.
  BaselineResult fit(const torch::Tensor& features, const torch::Tensor& targets);
  /// Fits with an explicit validation set.
  BaselineResult fit(const torch::Tensor& features, const torch::Tensor& targets,
                     const torch::Tensor& valid_features, const torch::Tensor& valid_targets);

  /// The options.
  const BaselineOptions& options() const { return options_; }

 private:
  BaselineResult run(const torch::Tensor& features, const torch::Tensor& targets,
                     const torch::Tensor* valid_features, const torch::Tensor* valid_targets);

  BaselineOptions options_;
  std::vector<EpochCallback> callbacks_;
};

/// Names of the baseline methods: "adam", "lbfgs", "sgd".
std::vector<std::string> baseline_methods();

}  // namespace boosthead
