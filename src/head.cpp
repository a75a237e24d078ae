#include <boosthead/head.h>
#include <boosthead/loss.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>

#include "util/finite.h"

namespace boosthead {

BoostedHeadImpl::BoostedHeadImpl(int64_t num_features, int64_t units_per_stage,
                                 Activation activation, std::string loss,
                                 const torch::Tensor& initial)
    : units_per_stage_(units_per_stage),
      activation_(activation),
      loss_(std::move(loss)),
      loss_fn_(make_loss(loss_)) {
  TORCH_CHECK(num_features > 0, "a head needs at least one feature, got ", num_features);
  TORCH_CHECK(units_per_stage > 0, "units per stage must be positive, got ", units_per_stage);
  TORCH_CHECK(initial.dim() == 1 && initial.numel() > 0,
              "expected a 1-D initial score with one entry per output, got shape ",
              initial.sizes());
  auto opt = initial.options();
  const int64_t k = initial.numel();
  hidden_weight = register_parameter("hidden_weight", torch::empty({0, num_features}, opt));
  hidden_bias = register_parameter("hidden_bias", torch::empty({0}, opt));
  output_weight = register_parameter("output_weight", torch::empty({k, 0}, opt));
  output_bias = register_parameter("output_bias", initial.detach().clone());
  stage_output_bias = register_buffer("stage_output_bias", torch::empty({0, k}, opt));
  initial_score = register_buffer("initial_score", initial.detach().clone());
}

HeadTensors BoostedHeadImpl::tensors() const {
  return {hidden_weight.detach(), hidden_bias.detach(),       output_weight.detach(),
          output_bias.detach(),   stage_output_bias.detach(), initial_score.detach()};
}

void BoostedHeadImpl::set_tensors(const HeadTensors& t, const torch::TensorOptions& options) {
  const int64_t d = num_features(), j = units_per_stage_, k = num_outputs();
  bool defined = true;
  std::string shapes;
  t.for_each([&](const char* name, const torch::Tensor& x) {
    defined = defined && x.defined();
    shapes +=
        fmt::format("{}{} {}", shapes.empty() ? "" : ", ", name,
                    x.defined() ? fmt::format("[{}]", fmt::join(x.sizes(), ", ")) : "undefined");
  });
  const auto& sb = t.stage_output_bias;
  const int64_t units = defined && sb.dim() == 2 ? sb.size(0) * j : -1;
  auto is = [](const torch::Tensor& x, std::initializer_list<int64_t> shape) {
    return x.sizes() == c10::IntArrayRef(shape);
  };
  if (units < 0 || !is(t.hidden_weight, {units, d}) || !is(t.hidden_bias, {units}) ||
      !is(t.output_weight, {k, units}) || !is(t.output_bias, {k}) || !is(sb, {units / j, k}) ||
      !is(t.initial_score, {k})) {
    throw std::invalid_argument(fmt::format(
        "head tensors do not make a head of {} features, {} units per stage and {} outputs: {}", d,
        j, k, shapes));
  }
  torch::NoGradGuard no_grad;
  auto copy = [&](const torch::Tensor& x) { return x.detach().to(options).clone(); };
  hidden_weight.set_data(copy(t.hidden_weight));
  hidden_bias.set_data(copy(t.hidden_bias));
  output_weight.set_data(copy(t.output_weight));
  output_bias.set_data(copy(t.output_bias));
  stage_output_bias.set_data(copy(t.stage_output_bias));
  initial_score.set_data(copy(t.initial_score));
}

void BoostedHeadImpl::append_stage(const StageParams& stage, double scale) {
  TORCH_CHECK(stage.w1.dim() == 2 && stage.w1.size(0) == units_per_stage_ &&
                  stage.w1.size(1) == num_features(),
              "stage input weights must be ", units_per_stage_, " x ", num_features(), ", got ",
              stage.w1.sizes());
  TORCH_CHECK(stage.w2.dim() == 2 && stage.w2.size(0) == num_outputs() &&
                  stage.w2.size(1) == units_per_stage_,
              "stage output weights must be ", num_outputs(), " x ", units_per_stage_, ", got ",
              stage.w2.sizes());
  TORCH_CHECK(std::isfinite(scale), "stage scale must be finite, got ", scale);
  TORCH_CHECK(detail::all_finite(stage.w1) && detail::all_finite(stage.b1) &&
                  detail::all_finite(stage.w2) && detail::all_finite(stage.b2),
              "stage weights must be finite");
  torch::NoGradGuard no_grad;
  auto like = [&](const torch::Tensor& t) { return t.to(hidden_weight.options()); };
  auto b2 = like(stage.b2) * scale;
  hidden_weight.set_data(torch::cat({hidden_weight, like(stage.w1)}, 0));
  hidden_bias.set_data(torch::cat({hidden_bias, like(stage.b1)}, 0));
  output_weight.set_data(torch::cat({output_weight, like(stage.w2) * scale}, 1));
  stage_output_bias.set_data(torch::cat({stage_output_bias, b2.unsqueeze(0)}, 0));
  output_bias.add_(b2);
}

void BoostedHeadImpl::truncate(int64_t stages) {
  TORCH_CHECK(stages >= 0 && stages <= num_stages(), "cannot truncate a head of ", num_stages(),
              " stages to ", stages);
  torch::NoGradGuard no_grad;
  const int64_t units = stages * units_per_stage_;
  hidden_weight.set_data(hidden_weight.narrow(0, 0, units).clone());
  hidden_bias.set_data(hidden_bias.narrow(0, 0, units).clone());
  output_weight.set_data(output_weight.narrow(1, 0, units).clone());
  stage_output_bias.set_data(stage_output_bias.narrow(0, 0, stages).clone());
  output_bias.copy_(initial_score + stage_output_bias.sum(0));
}

int64_t BoostedHeadImpl::num_stages() const { return hidden_weight.size(0) / units_per_stage_; }

int64_t BoostedHeadImpl::num_classes() const { return loss_fn_->num_classes(num_outputs()); }

void BoostedHeadImpl::check_input(const torch::Tensor& x) const {
  TORCH_CHECK(x.defined(), "expected a feature tensor, got an undefined tensor");
  TORCH_CHECK(x.dim() == 2, "expected 2-D features (N x ", num_features(), "), got ", x.dim(),
              "-D of shape ", x.sizes());
  TORCH_CHECK(x.size(1) == num_features(), "expected ", num_features(), " feature columns, got ",
              x.size(1));
  TORCH_CHECK(x.device() == hidden_weight.device(), "features are on ", x.device(),
              " but the head is on ", hidden_weight.device());
}

int64_t BoostedHeadImpl::resolve_stages(int64_t stages) const {
  if (stages < 0) return num_stages();
  TORCH_CHECK(stages <= num_stages(), "asked for ", stages, " stages but the head has ",
              num_stages());
  return stages;
}

torch::Tensor BoostedHeadImpl::forward(const torch::Tensor& x, int64_t stages) const {
  check_input(x);
  const int64_t t = resolve_stages(stages);
  const int64_t units = t * units_per_stage_;
  auto xin = x.to(hidden_weight.scalar_type());
  auto bias =
      t == num_stages() ? output_bias : initial_score + stage_output_bias.narrow(0, 0, t).sum(0);
  if (units == 0) return bias.unsqueeze(0).expand({x.size(0), num_outputs()}).clone();
  auto h = activate(activation_, torch::addmm(hidden_bias.narrow(0, 0, units), xin,
                                              hidden_weight.narrow(0, 0, units).t()));
  return torch::addmm(bias, h, output_weight.narrow(1, 0, units).t());
}

torch::Tensor BoostedHeadImpl::scores(const torch::Tensor& x, int64_t stages) const {
  return forward(x, stages);
}

torch::Tensor BoostedHeadImpl::predict_proba(const torch::Tensor& x, int64_t stages) const {
  torch::NoGradGuard no_grad;
  return proba_from_scores(forward(x, stages));
}

torch::Tensor BoostedHeadImpl::predict(const torch::Tensor& x, int64_t stages) const {
  torch::NoGradGuard no_grad;
  return predict_from_scores(forward(x, stages));
}

torch::Tensor BoostedHeadImpl::proba_from_scores(const torch::Tensor& f) const {
  return loss_fn_->probabilities(f);
}

torch::Tensor BoostedHeadImpl::predict_from_scores(const torch::Tensor& f) const {
  return loss_fn_->predictions(f);
}

torch::Tensor BoostedHeadImpl::staged_scores(const torch::Tensor& x, int64_t first,
                                             int64_t count) const {
  check_input(x);
  TORCH_CHECK(first >= 0 && count >= 0 && first + count <= num_stages(), "staged scores of stages ",
              first + 1, " to ", first + count, " asked of a head of ", num_stages(), " stages");
  torch::NoGradGuard no_grad;
  const int64_t j = units_per_stage_;
  auto out = torch::empty({count, x.size(0), num_outputs()}, hidden_weight.options());
  if (count == 0) return out;
  // The stages before `first` enter as one product; each later stage adds its own block.
  auto f = forward(x, first);
  const int64_t units = count * j;
  auto h = activate(activation_, torch::addmm(hidden_bias.narrow(0, first * j, units),
                                              x.to(hidden_weight.scalar_type()),
                                              hidden_weight.narrow(0, first * j, units).t()));
  for (int64_t t = 0; t < count; ++t) {
    f.add_(stage_output_bias[first + t]);
    f.addmm_(h.narrow(1, t * j, j), output_weight.narrow(1, (first + t) * j, j).t());
    out[t].copy_(f);
  }
  return out;
}

}  // namespace boosthead
