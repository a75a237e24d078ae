#include "params.h"

#include <torch/types.h>

#include <algorithm>

namespace boosthead {

torch::Tensor StageParams::forward(const torch::Tensor& x, Activation activation) const {
  return torch::addmm(b2, activate(activation, torch::addmm(b1, x, w1.t())), w2.t());
}

StageParams StageParams::clone() const { return {w1.clone(), b1.clone(), w2.clone(), b2.clone()}; }

}  // namespace boosthead

namespace boosthead::detail {
namespace {

// Host loops for the common case of CPU float/double weights: a stage's weights are copied in
// and out once per stage, and the equivalent tensor ops cost more than the small copies.
bool host_floating(const torch::Tensor& t) {
  return t.device().is_cpu() && t.is_contiguous() &&
         (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble);
}

std::vector<const torch::Tensor*> parts_of(const StageParams& p, bool project_output) {
  std::vector<const torch::Tensor*> parts{&p.w1, &p.b1};
  if (!project_output) {
    parts.push_back(&p.w2);
    parts.push_back(&p.b2);
  }
  return parts;
}

}  // namespace

std::vector<double> pack_params(const StageParams& p, bool project_output) {
  const auto parts = parts_of(p, project_output);
  if (std::all_of(parts.begin(), parts.end(),
                  [](const torch::Tensor* t) { return host_floating(*t); })) {
    std::vector<double> out;
    for (const auto* t : parts) {
      if (t->scalar_type() == torch::kFloat) {
        out.insert(out.end(), t->data_ptr<float>(), t->data_ptr<float>() + t->numel());
      } else {
        out.insert(out.end(), t->data_ptr<double>(), t->data_ptr<double>() + t->numel());
      }
    }
    return out;
  }
  auto flat = pack_params_tensor(p, project_output).to(torch::kCPU).contiguous();
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

torch::Tensor pack_params_tensor(const StageParams& p, bool project_output) {
  std::vector<torch::Tensor> flat_parts;
  for (const auto* t : parts_of(p, project_output)) flat_parts.push_back(t->reshape(-1));
  return torch::cat(flat_parts).to(torch::kDouble);
}

void write_params(const std::vector<double>& theta, const std::vector<double>* w2b2,
                  StageParams& p) {
  torch::NoGradGuard no_grad;
  std::vector<double> all(theta);
  if (w2b2 != nullptr) all.insert(all.end(), w2b2->begin(), w2b2->end());
  int64_t o = 0;
  for (torch::Tensor* t : {&p.w1, &p.b1, &p.w2, &p.b2}) {
    const int64_t n = t->numel();
    if (host_floating(*t) && t->scalar_type() == torch::kFloat) {
      std::copy(all.begin() + o, all.begin() + o + n, t->data_ptr<float>());
    } else if (host_floating(*t)) {
      std::copy(all.begin() + o, all.begin() + o + n, t->data_ptr<double>());
    } else {
      t->copy_(torch::from_blob(all.data() + o, {n}, torch::kDouble).view(t->sizes()));
    }
    o += n;
  }
}

void write_params_tensor(const torch::Tensor& flat, StageParams& p) {
  torch::NoGradGuard no_grad;
  int64_t o = 0;
  for (torch::Tensor* t : {&p.w1, &p.b1, &p.w2, &p.b2}) {
    const int64_t n = t->numel();
    t->copy_(flat.narrow(0, o, n).view(t->sizes()));
    o += n;
  }
}

}  // namespace boosthead::detail
