#include "aten_evaluator.h"

#include <torch/types.h>

#include "device_lbfgs.h"
#include "params.h"

namespace boosthead::detail {

AtenEvaluator::AtenEvaluator(const torch::Tensor& x, const torch::Tensor& r, int64_t units,
                             const StageProblem& problem, bool project_output)
    : StageEvaluator(project_output),
      x_(x.contiguous()),
      r_(r.contiguous()),
      n_(x.size(0)),
      d_(x.size(1)),
      j_(units),
      k_(r.size(1)),
      act_(problem.activation()),
      l2_(problem.l2()),
      collective_(problem.collective().get()),
      total_rows_(static_cast<double>(n_)) {
  if (collective_ != nullptr) total_rows_ = collective_->sum(total_rows_);
  auto opt = x.options();
  flat_ = torch::empty({j_ * d_ + j_ + k_ * j_ + k_}, opt);
  w1_ = flat_.narrow(0, 0, j_ * d_).view({j_, d_});
  b1_ = flat_.narrow(0, j_ * d_, j_);
  w2_ = flat_.narrow(0, j_ * d_ + j_, k_ * j_).view({k_, j_});
  b2_ = flat_.narrow(0, j_ * d_ + j_ + k_ * j_, k_);
  if (project_output_) {
    // [H, 1, R]: one product gives both the normal matrix and the right-hand side.
    a_ = torch::empty({n_, j_ + 1 + k_}, opt);
    a_.select(1, j_).fill_(1);
    a_.narrow(1, j_ + 1, k_).copy_(r_);
    h_ = a_.narrow(1, 0, j_);
  }
}

void AtenEvaluator::load(const torch::Tensor& theta) {
  flat_.narrow(0, 0, theta.numel()).copy_(theta);
}

torch::Tensor AtenEvaluator::data_term(torch::Tensor* grad_sums) {
  auto z = torch::addmm(b1_, x_, w1_.t());
  torch::Tensor h = project_output_ ? h_ : torch::empty_like(z);
  activate_out(act_, z, h);
  if (project_output_) solve_output_layer();
  auto e = torch::addmm(b2_, h, w2_.t()).sub_(r_);
  auto sse = e.square().sum(torch::kDouble);
  if (grad_sums == nullptr) return sse;
  auto dh = torch::mm(e, w2_);
  mul_activation_grad_(act_, z, h, dh);
  std::vector<torch::Tensor> parts{torch::mm(dh.t(), x_).view(-1),
                                   dh.sum(0, false, torch::kDouble)};
  if (!project_output_) {
    parts.push_back(torch::mm(e.t(), h).view(-1));
    parts.push_back(e.sum(0, false, torch::kDouble));
  }
  *grad_sums = torch::cat(parts).to(torch::kDouble);
  return sse;
}

// Given H (in a_), the output layer minimising the objective is a ridge regression of R on
// [H, 1]: (A^T A + l2 K D) B = A^T R, with D masking the bias row. Solved on the device without
// checking for failure (that would wait for the device): a singular system gives a non-finite
// objective, which the line search steps back from. (The host solver adds jitter instead.)
void AtenEvaluator::solve_output_layer() {
  const int64_t m = j_ + 1;
  auto normal = sum_across_processes(torch::mm(a_.narrow(1, 0, m).t(), a_).to(torch::kDouble));
  auto ridge = torch::full({m}, l2_ * static_cast<double>(k_), normal.options());
  ridge[j_] = 0.0;
  auto g = normal.narrow(1, 0, m) + torch::diag(ridge);
  auto b = std::get<0>(at::linalg_solve_ex(g, normal.narrow(1, m, k_), /*left=*/true,
                                           /*check_errors=*/false));  // m x k
  w2b2_ = torch::cat({b.narrow(0, 0, j_).t().reshape(-1), b.select(0, j_)});
  w2_.view(-1).copy_(w2b2_.narrow(0, 0, k_ * j_));
  b2_.copy_(w2b2_.narrow(0, k_ * j_, k_));
}

torch::Tensor AtenEvaluator::objective(const torch::Tensor& theta, torch::Tensor* grad) {
  load(theta);
  torch::Tensor sums;
  auto sse = data_term(grad != nullptr ? &sums : nullptr);
  if (collective_ != nullptr) {
    auto both =
        sum_across_processes(grad != nullptr ? torch::cat({sums, sse.view(1)}) : sse.view(1));
    sse = both[-1];
    if (grad != nullptr) sums = both.narrow(0, 0, sums.numel()).clone();
  }
  const double nk = total_rows_ * static_cast<double>(k_);
  const double c = l2_ / total_rows_;
  auto w1 = theta.narrow(0, 0, j_ * d_);
  auto w2 = project_output_ ? w2b2_.narrow(0, 0, k_ * j_) : theta.narrow(0, j_ * d_ + j_, k_ * j_);
  auto f = 0.5 / nk * sse + 0.5 * c * (w1.dot(w1) + w2.dot(w2));
  if (grad != nullptr) {
    auto g = sums.div_(nk);
    g.narrow(0, 0, j_ * d_).add_(w1, c);
    if (!project_output_) g.narrow(0, j_ * d_ + j_, k_ * j_).add_(w2, c);
    if (grad->defined()) {
      grad->copy_(g);
    } else {
      *grad = g;
    }
  }
  return f;
}

torch::Tensor AtenEvaluator::full_params(const torch::Tensor& theta) const {
  return project_output_ ? torch::cat({theta, w2b2_}) : theta;
}

double AtenEvaluator::evaluate(const std::vector<double>& theta, std::vector<double>* grad) {
  auto t = torch::from_blob(const_cast<double*>(theta.data()), {static_cast<int64_t>(theta.size())},
                            torch::kDouble)
               .to(x_.device());
  torch::Tensor g;
  const double f = objective(t, grad != nullptr ? &g : nullptr).item<double>();
  if (grad != nullptr) {
    auto host = g.to(torch::kCPU).contiguous();
    grad->assign(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
  }
  return f;
}

void AtenEvaluator::finish(const std::vector<double>& theta, StageParams& params) {
  auto t = torch::from_blob(const_cast<double*>(theta.data()), {static_cast<int64_t>(theta.size())},
                            torch::kDouble)
               .to(x_.device());
  if (project_output_) objective(t, nullptr);  // the output layer for these input weights
  write_params_tensor(full_params(t), params);
}

torch::Tensor AtenEvaluator::sum_across_processes(const torch::Tensor& t) const {
  if (collective_ == nullptr) return t;
  auto host = t.to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<double> v(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
  collective_->all_reduce_sum(v);
  return torch::tensor(v, torch::kDouble).view(t.sizes()).to(t.device());
}

LbfgsOutcome AtenEvaluator::minimize(const LbfgsSettings& settings, StageParams& params) {
  // Across processes every evaluation is a reduction on the host; the loop runs there too.
  if (collective_ != nullptr) return StageEvaluator::minimize(settings, params);
  auto theta = pack_params_tensor(params, project_output_).to(x_.device());
  auto out = minimize_lbfgs_on_device(
      [&](const torch::Tensor& t, torch::Tensor& g) { return objective(t, &g); }, theta, settings);
  if (project_output_) objective(theta, nullptr);
  write_params_tensor(full_params(theta), params);
  return out;
}

namespace {

class AtenStageForward final : public StageForward {
 public:
  AtenStageForward(const torch::Tensor& x, Activation act) : x_(x), act_(act) {}
  torch::Tensor operator()(const StageParams& params) override { return params.forward(x_, act_); }

 private:
  torch::Tensor x_;
  Activation act_;
};

}  // namespace

std::unique_ptr<StageEvaluator> make_aten_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                    int64_t units, const StageProblem& problem,
                                                    bool project_output) {
  return std::make_unique<AtenEvaluator>(x, r, units, problem, project_output);
}

std::unique_ptr<StageForward> make_aten_stage_forward(const torch::Tensor& x, Activation act) {
  return std::make_unique<AtenStageForward>(x, act);
}

}  // namespace boosthead::detail
