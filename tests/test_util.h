#pragma once
// Shared helpers for the core tests: devices to run on and small synthetic problems.

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace boosthead::test {

// CPU always; CUDA too when a GPU is present.
inline std::vector<torch::Device> devices() {
  std::vector<torch::Device> out{torch::kCPU};
  if (torch::cuda::is_available()) out.emplace_back(torch::kCUDA);
  return out;
}

struct Problem {
  torch::Tensor x, y;
};

// A smooth nonlinear problem: regression (K outputs), or labels from the argmax of K scores.
inline Problem synthetic(const std::string& kind, int64_t n, int64_t d, int64_t k, uint64_t seed) {
  auto gen_opts = torch::TensorOptions().dtype(torch::kDouble);
  torch::manual_seed(seed);
  auto x = torch::randn({n, d}, gen_opts);
  auto w = torch::randn({d, std::max<int64_t>(k, 2)}, gen_opts);
  auto s = torch::tanh(x.mm(w)) + 0.3 * torch::sin(2 * x.narrow(1, 0, 1));
  if (kind == "squared")
    return {x.to(torch::kFloat), s.narrow(1, 0, k).to(torch::kFloat).contiguous()};
  if (kind == "binary_logistic")
    return {x.to(torch::kFloat), (s.select(1, 0) > s.select(1, 1)).to(torch::kLong)};
  return {x.to(torch::kFloat), s.argmax(1)};
}

}  // namespace boosthead::test
