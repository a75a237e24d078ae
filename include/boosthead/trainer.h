#pragma once
/// \file
/// The boosting trainer: grows a BoostedHead stage by stage on a feature matrix.

#include <boosthead/callbacks.h>
#include <boosthead/head.h>
#include <boosthead/split.h>
#include <boosthead/trainer_options.h>
#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace boosthead {

/// The outcome of a fit.
struct FitResult {
  /// The fused head (already truncated to best_stages when keep_best applies).
  BoostedHead head{nullptr};
  /// One record per trained stage.
  std::vector<StageRecord> history;
  /// Stages trained before stopping.
  int64_t stages_trained = 0;
  /// Stage count with the lowest validation loss (stages_trained without validation).
  int64_t best_stages = 0;
  /// Why training ended: "completed", "early_stopping", "callback" or "no_progress" (a stage
  /// that did not lower the training loss or was not finite, even after a retry).
  std::string stop_reason;
  /// Stages restored from a checkpoint or taken from init_head (0 for a fresh fit).
  int64_t stages_resumed = 0;
  /// Wall-clock seconds of the whole fit.
  double fit_seconds = 0.0;
  /// The targets were trained as (y - target_shift) / target_scale (shift undefined: as given).
  torch::Tensor target_shift;
  double target_scale = 1.0;
};

/// Trains boosted heads. Prints nothing; observe it through callbacks.
class Trainer {
 public:
  explicit Trainer(TrainerOptions options = {});

  /// Adds a per-stage callback, called in the order added.
  Trainer& add_callback(std::shared_ptr<Callback> callback);

  /// Fits on features (N x d) and targets: floating N or N x K for regression, integer labels N
  /// for classification. Splits off a validation set when valid_fraction > 0.
  FitResult fit(const torch::Tensor& features, const torch::Tensor& targets);
  /// Fits with an explicit validation set.
  FitResult fit(const torch::Tensor& features, const torch::Tensor& targets,
                const torch::Tensor& valid_features, const torch::Tensor& valid_targets);

  /// The options.
  const TrainerOptions& options() const { return options_; }

 private:
  FitResult run(const torch::Tensor& features, const torch::Tensor& targets,
                const torch::Tensor* valid_features, const torch::Tensor* valid_targets);

  TrainerOptions options_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
};

/// Accuracy for classification (labels N) or RMSE for regression, from scores and raw targets.
double score_metric(const std::string& loss, const torch::Tensor& scores,
                    const torch::Tensor& targets);

}  // namespace boosthead
