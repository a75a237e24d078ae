#include <boosthead/activation.h>
#include <fmt/format.h>

#include <stdexcept>

namespace boosthead {

Activation activation_from_name(const std::string& name) {
  if (name == "sigmoid" || name == "logistic") return Activation::Sigmoid;
  if (name == "tanh") return Activation::Tanh;
  if (name == "relu") return Activation::Relu;
  throw std::invalid_argument(
      fmt::format("unknown activation '{}'; expected one of: sigmoid, tanh, relu", name));
}

std::string activation_name(Activation activation) {
  switch (activation) {
    case Activation::Sigmoid:
      return "sigmoid";
    case Activation::Tanh:
      return "tanh";
    case Activation::Relu:
      return "relu";
  }
  return "sigmoid";
}

std::vector<std::string> activation_names() { return {"sigmoid", "tanh", "relu"}; }

torch::Tensor activate(Activation activation, const torch::Tensor& z) {
  switch (activation) {
    case Activation::Sigmoid:
      return torch::sigmoid(z);
    case Activation::Tanh:
      return torch::tanh(z);
    case Activation::Relu:
      return torch::relu(z);
  }
  return z;
}

void activate_out(Activation activation, const torch::Tensor& z, torch::Tensor& out) {
  switch (activation) {
    case Activation::Sigmoid:
      at::sigmoid_out(out, z);
      return;
    case Activation::Tanh:
      at::tanh_out(out, z);
      return;
    case Activation::Relu:
      at::clamp_min_out(out, z, 0);
      return;
  }
}

void mul_activation_grad_(Activation activation, const torch::Tensor& z, const torch::Tensor& h,
                          torch::Tensor& grad) {
  switch (activation) {
    case Activation::Sigmoid:
      // h (1 - h) without a temporary: grad *= h - h^2
      grad.mul_(h).sub_(grad * h);
      return;
    case Activation::Tanh:
      grad.addcmul_(grad, h * h, -1);
      return;
    case Activation::Relu:
      grad.mul_(z > 0);
      return;
  }
}

}  // namespace boosthead
