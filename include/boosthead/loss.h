#pragma once
/// \file
/// Loss functions for boosting and their registry by name.
///
/// Scores F are N x K tensors. Targets are given to the loss already prepared as N x K tensors of
/// the scores' dtype (see Loss::prepare_targets): values for `squared`, 0/1 for
/// `binary_logistic` (K = 1) and one-hot rows for `multinomial`.

#include <torch/types.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace boosthead {

/// A differentiable loss for gradient boosting.
class Loss {
 public:
  virtual ~Loss() = default;

  /// Registry name ("squared", "binary_logistic", "multinomial").
  virtual std::string name() const = 0;
  /// Whether targets are class labels.
  virtual bool is_classification() const = 0;

  /// Number of score columns K for raw targets `y` (N labels or N x K values) and the number of
  /// classes (0 when unknown: taken from the labels).
  virtual int64_t num_outputs(const torch::Tensor& y, int64_t num_classes) const = 0;
  /// Turns raw targets into the N x K float tensor of `dtype` the other methods take; checks
  /// labels and values and throws std::invalid_argument naming what is wrong.
  virtual torch::Tensor prepare_targets(const torch::Tensor& y, int64_t num_outputs,
                                        torch::ScalarType dtype) const = 0;

  /// The constant score F0 (shape K) minimising the mean loss over `targets`.
  virtual torch::Tensor initial_score(const torch::Tensor& targets) const = 0;
  /// Pseudo-residuals -dL/dF at scores F, N x K, with L the per-row loss.
  virtual torch::Tensor pseudo_residuals(const torch::Tensor& scores,
                                         const torch::Tensor& targets) const = 0;
  /// The Newton step rho for moving the scores along direction h (N x K):
  /// rho = sum(r * h) / sum(h^T H h), with H the per-row Hessian of the loss at F.
  virtual double newton_step(const torch::Tensor& scores, const torch::Tensor& targets,
                             const torch::Tensor& direction) const = 0;
  /// The same Newton step given the pseudo-residuals at these scores, which the built-in losses
  /// use instead of recomputing them. By default newton_ratio of newton_sums(), or the
  /// three-argument form where newton_sums() is not overridden.
  virtual double newton_step(const torch::Tensor& scores, const torch::Tensor& targets,
                             const torch::Tensor& direction, const torch::Tensor& residuals) const;
  /// The two sums of the Newton step, sum(r * h) and sum(h^T H h), which a data-parallel fit
  /// adds up across processes. By default throws NewtonSumsMissing: a loss that only gives the
  /// ratio trains on one process.
  virtual std::pair<double, double> newton_sums(const torch::Tensor& scores,
                                                const torch::Tensor& targets,
                                                const torch::Tensor& direction,
                                                const torch::Tensor& residuals) const;
  /// The loss of each row (N), differentiable with autograd.
  virtual torch::Tensor row_loss(const torch::Tensor& scores,
                                 const torch::Tensor& targets) const = 0;
  /// The mean loss over rows (not differentiable). By default the mean of row_loss.
  virtual double value(const torch::Tensor& scores, const torch::Tensor& targets) const;
  /// The mean loss and the pseudo-residuals at the same scores, which a loss may compute in one
  /// pass (the built-in multinomial loss does). By default value() and pseudo_residuals().
  virtual std::pair<double, torch::Tensor> value_and_residuals(const torch::Tensor& scores,
                                                               const torch::Tensor& targets) const;
  /// Maps scores to outputs: identity, sigmoid (N x 1) or softmax (N x K).
  virtual torch::Tensor link(const torch::Tensor& scores) const = 0;

  /// The classes a head with `num_outputs` score columns tells apart: 0 for regression, 2 for one
  /// column, else one per column.
  virtual int64_t num_classes(int64_t num_outputs) const;
  /// Class probabilities, N x classes (a one-column link completed by its complement), or the
  /// predicted values for regression: link(scores).
  virtual torch::Tensor probabilities(const torch::Tensor& scores) const;
  /// Predicted class indices (int64, N), or the predicted values for regression. By default the
  /// most probable class; the built-in losses decide on the scores themselves.
  virtual torch::Tensor predictions(const torch::Tensor& scores) const;
};

/// Thrown by Loss::newton_sums() for losses that do not provide it.
class NewtonSumsMissing : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// The Newton step from its two sums: num / den, or 0 when den is not positive or either sum is
/// not finite (a flat or unstable direction is not taken).
double newton_ratio(double num, double den);

/// Creates a loss.
using LossFactory = std::function<std::unique_ptr<Loss>()>;

/// Adds (or replaces) a loss under `name`.
void register_loss(const std::string& name, LossFactory factory);
/// Creates the loss registered under `name`; throws std::invalid_argument listing known names.
std::unique_ptr<Loss> make_loss(const std::string& name);
/// Names of the registered losses, sorted.
std::vector<std::string> loss_names();

}  // namespace boosthead
