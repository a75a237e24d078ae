#pragma once
/// \file
/// Per-stage callbacks for the trainer: progress, early stopping, user hooks.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace boosthead {

class BoostedHeadImpl;

/// What happened in one stage.
struct StageRecord {
  /// 1-based stage number.
  int64_t stage = 0;
  /// Mean training loss after the stage.
  double train_loss = 0.0;
  /// Mean validation loss after the stage, when there is a validation set.
  std::optional<double> valid_loss;
  /// Training metric after the stage: accuracy (classification) or RMSE (regression).
  double train_metric = 0.0;
  /// Validation metric, when there is a validation set.
  std::optional<double> valid_metric;
  /// The Newton step rho (before shrinkage).
  double rho = 0.0;
  /// Solver iterations spent on the stage.
  int64_t solver_iterations = 0;
  /// Seconds since the fit began, at the end of this stage.
  double seconds = 0.0;
};

/// Called by the trainer around each stage. Returning false from on_stage_end stops training.
class Callback {
 public:
  virtual ~Callback() = default;
  /// Before the first stage; `planned_stages` is the trainer's stage budget.
  virtual void on_train_begin(int64_t planned_stages) {}
  /// After each accepted stage; `head` already holds it. Return false to stop.
  virtual bool on_stage_end(const StageRecord& record, const BoostedHeadImpl& head) { return true; }
  /// After training, with the reason it ended ("completed", "early_stopping", "callback",
  /// "no_progress").
  virtual void on_train_end(const std::string& reason) {}
};

/// Writes one line per stage (stage, losses, metrics, seconds) to a stream every `every` stages.
class ProgressCallback : public Callback {
 public:
  explicit ProgressCallback(std::ostream& out, int64_t every = 1);
  void on_train_begin(int64_t planned_stages) override;
  bool on_stage_end(const StageRecord& record, const BoostedHeadImpl& head) override;

 private:
  std::ostream& out_;
  int64_t every_;
  int64_t planned_ = 0;
};

/// Stops when the validation loss has not improved by more than `min_delta` for `patience`
/// stages. Needs a validation set (it does nothing without one).
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(int64_t patience, double min_delta = 0.0);
  bool on_stage_end(const StageRecord& record, const BoostedHeadImpl& head) override;
  /// Stage with the lowest validation loss seen so far (0 before any).
  int64_t best_stage() const { return best_stage_; }
  /// Whether this callback asked training to stop.
  bool stopped() const { return stopped_; }

 private:
  int64_t patience_;
  double min_delta_;
  int64_t best_stage_ = 0;
  double best_loss_ = 0.0;
  bool stopped_ = false;
};

/// Wraps a function as a callback: return false to stop.
class LambdaCallback : public Callback {
 public:
  explicit LambdaCallback(std::function<bool(const StageRecord&, const BoostedHeadImpl&)> fn);
  bool on_stage_end(const StageRecord& record, const BoostedHeadImpl& head) override;

 private:
  std::function<bool(const StageRecord&, const BoostedHeadImpl&)> fn_;
};

}  // namespace boosthead
