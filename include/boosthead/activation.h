#pragma once
/// \file
/// Hidden-unit activations shared by the stages, the fused head and the exported model.

#include <torch/types.h>

#include <string>
#include <vector>

namespace boosthead {

/// The activation of the hidden units.
enum class Activation { Sigmoid, Tanh, Relu };

/// Parses "sigmoid" (also "logistic"), "tanh" or "relu"; throws std::invalid_argument otherwise.
Activation activation_from_name(const std::string& name);

/// The canonical name: "sigmoid", "tanh" or "relu".
std::string activation_name(Activation activation);

/// Names accepted by activation_from_name, for help texts.
std::vector<std::string> activation_names();

/// Applies the activation elementwise.
torch::Tensor activate(Activation activation, const torch::Tensor& z);

/// Writes act(z) into `out` (same shape) without allocating.
void activate_out(Activation activation, const torch::Tensor& z, torch::Tensor& out);

/// Multiplies `grad` in place by act'(z), given h = act(z) (all three have the same shape).
void mul_activation_grad_(Activation activation, const torch::Tensor& z, const torch::Tensor& h,
                          torch::Tensor& grad);

}  // namespace boosthead
