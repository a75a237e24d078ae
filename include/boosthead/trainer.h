#pragma once
/// \file
/// The boosting trainer: grows a BoostedHead stage by stage on a feature matrix.

#include <boosthead/callbacks.h>
#include <boosthead/collective.h>
#include <boosthead/head.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace boosthead {

/// Options of the boosting trainer. The defaults were chosen by cross-validation inside the
/// training part of twelve data sets (docs/DEFAULTS.md): 200 stages of 2 relu units per output,
/// each fitted by 25 variable-projection iterations on 80 % of the rows, shrinkage 0.2,
/// regression targets standardised. trainer_preset("paper") gives the published reference's
/// settings.
struct TrainerOptions {
  /// Number of stages T.
  TORCH_ARG(int64_t, stages) = 200;
  /// Hidden units per stage J; 0 for auto_units_per_stage (kAutoUnitsPerOutput per output).
  TORCH_ARG(int64_t, units_per_stage) = 0;
  /// Shrinkage eta applied to every stage's Newton step.
  TORCH_ARG(double, shrinkage) = 0.2;
  /// Fraction of training rows each stage is fitted on: each row is in a stage's subsample with
  /// this probability, drawn from (seed, stage, row), whatever process holds the row.
  TORCH_ARG(double, subsample) = 0.8;
  /// Maximum solver iterations per stage.
  TORCH_ARG(int64_t, max_iter) = 25;
  /// Hidden activation: "sigmoid", "tanh" or "relu".
  TORCH_ARG(std::string, activation) = "relu";
  /// Loss name from the registry, or "auto": squared for floating targets, binary_logistic for
  /// two classes, multinomial for more.
  TORCH_ARG(std::string, loss) = "auto";
  /// Stage solver name from the registry.
  TORCH_ARG(std::string, solver) = "varpro";
  /// Train squared loss on targets moved to mean 0 and unit scale (one scale for all columns);
  /// the head still predicts, and the history reports, in the targets' own units.
  TORCH_ARG(bool, standardize_targets) = true;
  /// L2 penalty on stage weights (scikit-learn's alpha).
  TORCH_ARG(double, l2) = 1e-4;
  /// Fraction of training rows split off for validation when no validation set is given
  /// (stratified for classification); 0 for none.
  TORCH_ARG(double, valid_fraction) = 0.0;
  /// Stop after this many stages without validation improvement (0: never). Needs a validation
  /// set; fit throws without one.
  TORCH_ARG(int64_t, patience) = 0;
  /// With a validation set, truncate the result to the stage count with the best validation loss.
  TORCH_ARG(bool, keep_best) = true;
  /// Number of classes; 0 to take max(label) + 1.
  TORCH_ARG(int64_t, num_classes) = 0;
  /// Seed for weight initialisation, subsampling and the validation split.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Device to train on; unset: the features' device.
  TORCH_ARG(std::optional<torch::Device>, device) = std::nullopt;
  /// Floating dtype to train in; unset: the features' dtype if floating, else float32.
  TORCH_ARG(std::optional<torch::ScalarType>, dtype) = std::nullopt;
  /// File to save the training state to after every stage (atomically); empty: none.
  TORCH_ARG(std::string, checkpoint) = "";
  /// Continue from `checkpoint` when it exists: the result equals an uninterrupted fit.
  TORCH_ARG(bool, resume) = false;
  /// Warm start: add `stages` new stages to a copy of this head instead of starting from F0.
  TORCH_ARG(BoostedHead, init_head) = nullptr;
  /// Data-parallel fit: the processes that each hold a share of the rows (in rank order, one
  /// after the other) and call fit() together with the same options; null: this process alone.
  /// Every process ends with the same head; only the process of rank 0 writes the checkpoint.
  TORCH_ARG(std::shared_ptr<Collective>, collective) = nullptr;
};

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

/// Hidden units per stage of units_per_stage 0 (auto): this many per output of the head (one
/// output for regression of one target and for two classes, K for K classes).
inline constexpr int64_t kAutoUnitsPerOutput = 2;

/// The stage width that units_per_stage 0 gives a head with `outputs` outputs.
int64_t auto_units_per_stage(int64_t outputs);

/// Named starting points: "default" (TrainerOptions{}) and "paper" (the published reference's
/// settings: 200 stages of one sigmoid unit, shrinkage 0.1, subsample 0.5, L-BFGS, no early
/// stopping, targets as given). Options set on the result win over the preset's. Throws
/// std::invalid_argument for an unknown name, listing the known ones.
TrainerOptions trainer_preset(const std::string& name);

/// The preset names trainer_preset knows.
std::vector<std::string> trainer_presets();

/// Throws std::invalid_argument naming the first option out of range (stages, units_per_stage,
/// shrinkage, subsample, max_iter, l2, patience, valid_fraction) or an unknown activation or
/// solver name. Trainer::fit checks the same before any work.
void validate_options(const TrainerOptions& options);

/// Row indices for a train/validation split of `n` rows: a stratified split when `labels`
/// (int64, N) is defined, else a plain shuffle. Returns {train, valid} as int64 tensors.
std::pair<torch::Tensor, torch::Tensor> split_indices(int64_t n, double valid_fraction,
                                                      uint64_t seed,
                                                      const torch::Tensor& labels = {});

/// Accuracy for classification (labels N) or RMSE for regression, from scores and raw targets.
double score_metric(const std::string& loss, const torch::Tensor& scores,
                    const torch::Tensor& targets);

}  // namespace boosthead
