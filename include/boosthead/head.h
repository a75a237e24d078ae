#pragma once
/// \file
/// The fused boosted head: all stages as one two-layer network.

#include <boosthead/activation.h>
#include <boosthead/stage_solver.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <array>
#include <memory>
#include <string>

namespace boosthead {

class Loss;

/// The tensors that define a head's weights, by the names model files, checkpoints and the
/// plugin use. Every copy, save and load of a head goes through this one struct.
struct HeadTensors {
  torch::Tensor hidden_weight, hidden_bias, output_weight, output_bias, stage_output_bias,
      initial_score;

  /// The names, in the order for_each visits them.
  static constexpr std::array<const char*, 6> kNames = {"hidden_weight",     "hidden_bias",
                                                        "output_weight",     "output_bias",
                                                        "stage_output_bias", "initial_score"};
  /// Calls f(name, tensor) for every tensor, in kNames' order.
  template <typename F>
  void for_each(F&& f) {
    torch::Tensor* all[] = {&hidden_weight, &hidden_bias,       &output_weight,
                            &output_bias,   &stage_output_bias, &initial_score};
    for (size_t i = 0; i < kNames.size(); ++i) f(kNames[i], *all[i]);
  }
  template <typename F>
  void for_each(F&& f) const {
    const torch::Tensor* all[] = {&hidden_weight, &hidden_bias,       &output_weight,
                                  &output_bias,   &stage_output_bias, &initial_score};
    for (size_t i = 0; i < kNames.size(); ++i) f(kNames[i], *all[i]);
  }
};

/// Linear(d, T*J) -> activation -> Linear(T*J, K), with F0 in the output bias and each stage's
/// eta * rho folded into its output weights, so that the output equals
/// F0 + sum_t eta * rho_t * stage_t(x) exactly. Stages occupy consecutive blocks of J hidden
/// units, so running only the first t stages is a slice of the weights ("anytime" inference).
class BoostedHeadImpl : public torch::nn::Module {
 public:
  /// An empty head (zero stages) whose output is `initial_score` (shape K) for every row.
  BoostedHeadImpl(int64_t num_features, int64_t units_per_stage, Activation activation,
                  std::string loss, const torch::Tensor& initial_score);

  /// The head's tensors, detached (they share storage with the head).
  HeadTensors tensors() const;
  /// Replaces the head's tensors with copies of `t` converted to `options`. Throws
  /// std::invalid_argument, naming the shapes, unless they make a head of this one's input
  /// width, units per stage and outputs.
  void set_tensors(const HeadTensors& t, const torch::TensorOptions& options);

  /// Appends a stage: its weights as fitted and the factor scale = eta * rho folded into w2, b2.
  void append_stage(const StageParams& stage, double scale);
  /// Drops every stage after the first `stages`.
  void truncate(int64_t stages);

  /// Raw scores F (N x K) of the first `stages` stages (all when negative).
  torch::Tensor forward(const torch::Tensor& x, int64_t stages = -1) const;
  /// Scores of the first `stages` stages; same as forward.
  torch::Tensor scores(const torch::Tensor& x, int64_t stages = -1) const;
  /// Outputs through the loss's link: values for regression, class probabilities (N x 2 for
  /// binary, N x K for multinomial) for classification.
  torch::Tensor predict_proba(const torch::Tensor& x, int64_t stages = -1) const;
  /// Class indices (int64, N) for classification, values (N x K) for regression.
  torch::Tensor predict(const torch::Tensor& x, int64_t stages = -1) const;
  /// Scores after each of the stages first+1 .. first+count, as a count x N x K tensor, from one
  /// pass over the hidden layer (anytime inference without recomputing the earlier stages).
  /// Each equals forward(x, stage) up to rounding: the stage biases are added one at a time.
  torch::Tensor staged_scores(const torch::Tensor& x, int64_t first, int64_t count) const;
  /// predict_proba's output computed from raw scores (any leading dimensions, K last).
  torch::Tensor proba_from_scores(const torch::Tensor& scores) const;
  /// predict's output computed from raw scores (any leading dimensions, K last).
  torch::Tensor predict_from_scores(const torch::Tensor& scores) const;

  /// Number of stages T.
  int64_t num_stages() const;
  /// Hidden units per stage J.
  int64_t units_per_stage() const { return units_per_stage_; }
  /// Input width d.
  int64_t num_features() const { return hidden_weight.size(1); }
  /// Output width K.
  int64_t num_outputs() const { return output_bias.size(0); }
  /// Number of classes for classification (2 for binary), else 0.
  int64_t num_classes() const;
  /// The hidden activation.
  Activation activation() const { return activation_; }
  /// The loss name the head was trained with (decides the link).
  const std::string& loss() const { return loss_; }

  /// Hidden weights, (T*J) x d.
  torch::Tensor hidden_weight;
  /// Hidden biases, T*J.
  torch::Tensor hidden_bias;
  /// Output weights with eta * rho folded in, K x (T*J).
  torch::Tensor output_weight;
  /// Output bias: F0 plus every stage's scaled output bias, K. Stage biases are kept apart in
  /// `stage_output_bias` so that truncation stays exact.
  torch::Tensor output_bias;
  /// Each stage's scaled output bias, T x K (row t belongs to stage t).
  torch::Tensor stage_output_bias;
  /// F0, K.
  torch::Tensor initial_score;

 private:
  void check_input(const torch::Tensor& x) const;
  int64_t resolve_stages(int64_t stages) const;

  int64_t units_per_stage_;
  Activation activation_;
  std::string loss_;
  // The loss decides the classes, probabilities and predictions.
  std::shared_ptr<const Loss> loss_fn_;
};
TORCH_MODULE(BoostedHead);

}  // namespace boosthead
