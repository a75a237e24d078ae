// The device layer (src/stage/): the ATen evaluator and the L-BFGS with its vectors on the device
// are what CUDA runs; here they run on CPU tensors against the CPU kernels and the host L-BFGS.
// The CUDA tests compare the GPU with the CPU on the same data and skip without a GPU.

#include <boosthead/trainer.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/types.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "lbfgs.h"
#include "stage/aten_evaluator.h"
#include "stage/device_lbfgs.h"
#include "stage/evaluator.h"

using namespace boosthead;
using boosthead::detail::StageEvaluator;

namespace {

StageParams random_params(int64_t d, int64_t j, int64_t k, const torch::TensorOptions& opt) {
  return {0.5 * torch::randn({j, d}, opt), 0.1 * torch::randn({j}, opt),
          0.5 * torch::randn({k, j}, opt), 0.1 * torch::randn({k}, opt)};
}

std::vector<double> random_theta(size_t size, uint64_t seed) {
  torch::manual_seed(seed);
  auto t = 0.5 * torch::randn({static_cast<int64_t>(size)}, torch::kDouble);
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

// The objective and gradient of two evaluators at the same point agree to `rel`.
void expect_same_objective(StageEvaluator& a, StageEvaluator& b, const std::vector<double>& theta,
                           double rel, const std::string& what) {
  std::vector<double> ga, gb;
  const double fa = a.evaluate(theta, &ga), fb = b.evaluate(theta, &gb);
  EXPECT_NEAR(fa, fb, rel * std::abs(fb)) << what;
  ASSERT_EQ(ga.size(), gb.size()) << what;
  double scale = 0.0;
  for (double v : gb) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < ga.size(); ++i) {
    ASSERT_NEAR(ga[i], gb[i], rel * std::max(scale, 1e-12)) << what << ", gradient entry " << i;
  }
  EXPECT_EQ(a.evaluate(theta, nullptr), fa) << what << ": the value without the gradient";
}

std::string fmt_what(torch::ScalarType dtype, Activation act, int64_t j, int64_t k, bool project) {
  std::ostringstream s;
  s << dtype << " " << activation_name(act) << " J=" << j << " K=" << k
    << (project ? " varpro" : " full");
  return s.str();
}

double rosenbrock(const torch::Tensor& x, torch::Tensor& g) {
  auto a = x.narrow(0, 0, x.numel() - 1), b = x.narrow(0, 1, x.numel() - 1);
  auto t = b - a * a;
  g.zero_();
  g.narrow(0, 0, x.numel() - 1).add_(-400.0 * a * t - 2.0 * (1.0 - a));
  g.narrow(0, 1, x.numel() - 1).add_(200.0 * t);
  return (100.0 * t * t + (1.0 - a).square()).sum().item<double>();
}

}  // namespace

// Every layout (full, variable projection), activation and unit count: the ATen evaluator that
// CUDA tensors use gives the CPU kernels' objective and gradient.
TEST(DeviceLayer, AtenEvaluatorMatchesTheCpuKernels) {
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    const double rel = dtype == torch::kDouble ? 1e-10 : 2e-4;
    for (Activation act : {Activation::Sigmoid, Activation::Tanh, Activation::Relu}) {
      for (int64_t j : {1, 3}) {
        for (int64_t k : {1, 4}) {
          for (bool project : {false, true}) {
            torch::manual_seed(7 + j + k);
            auto x = torch::randn({150, 6}, dtype), r = torch::randn({150, k}, dtype);
            auto problem = StageProblem().activation(act).l2(0.2);
            auto cpu =
                boosthead::detail::make_cpu_evaluator(x, r, torch::Tensor(), j, problem, project);
            auto aten = boosthead::detail::make_aten_evaluator(x, r, j, problem, project);
            const size_t size = j * 6 + j + (project ? 0 : k * j + k);
            expect_same_objective(*aten, *cpu, random_theta(size, j * 10 + k), rel,
                                  fmt_what(dtype, act, j, k, project));
          }
        }
      }
    }
  }
}

// The L-BFGS that keeps its vectors on the device takes the host version's steps.
TEST(DeviceLayer, DeviceLbfgsFollowsTheHostLbfgs) {
  for (int64_t n : {2, 6}) {
    std::vector<double> host(n, -1.2);
    auto fg_host = [&](const std::vector<double>& x, std::vector<double>& g) {
      auto t = torch::tensor(x, torch::kDouble), gt = torch::empty_like(t);
      const double f = rosenbrock(t, gt);
      g.assign(gt.data_ptr<double>(), gt.data_ptr<double>() + n);
      return f;
    };
    boosthead::detail::LbfgsSettings settings;
    settings.max_iter = 500;
    const auto host_out = boosthead::detail::minimize_lbfgs(fg_host, host, settings);

    auto x = torch::full({n}, -1.2, torch::kDouble);
    auto fg = [&](const torch::Tensor& t, torch::Tensor& g) {
      return torch::tensor(rosenbrock(t, g), torch::kDouble);
    };
    const auto out = boosthead::detail::minimize_lbfgs_on_device(fg, x, settings);
    EXPECT_EQ(out.iterations, host_out.iterations) << n << " variables";
    EXPECT_EQ(out.evaluations, host_out.evaluations) << n << " variables";
    EXPECT_NEAR(out.value, host_out.value, 1e-12) << n << " variables";
    EXPECT_LT(out.value, 1e-10) << n << " variables: Rosenbrock's minimum is 0 at (1, ..., 1)";
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(x[i].item<double>(), host[i], 1e-7);
  }
}

// A whole stage fit on the device path (ATen objective, device L-BFGS) on CPU tensors ends at
// the CPU path's weights.
TEST(DeviceLayer, StageFitOnTheDevicePathEqualsTheCpuFit) {
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  torch::manual_seed(11);
  auto x = torch::randn({300, 5}, opt);
  auto r = torch::tanh(x.narrow(1, 0, 3) * 1.5) + 0.1 * torch::randn({300, 3}, opt);
  for (bool project : {false, true}) {
    auto problem = StageProblem().activation(Activation::Tanh).max_iter(60);
    torch::manual_seed(12);
    auto start = random_params(5, 2, 3, opt);
    auto on_cpu = start.clone(), on_device = start.clone();
    boosthead::detail::LbfgsSettings settings;
    settings.max_iter = problem.max_iter();
    const auto a = boosthead::detail::make_cpu_evaluator(x, r, torch::Tensor(), 2, problem, project)
                       ->minimize(settings, on_cpu);
    const auto b = boosthead::detail::make_aten_evaluator(x, r, 2, problem, project)
                       ->minimize(settings, on_device);
    EXPECT_NEAR(b.value, a.value, 1e-9 * a.value) << "project " << project;
    EXPECT_EQ(b.iterations, a.iterations) << "project " << project;
    for (auto [p, q] : {std::pair{&on_device.w1, &on_cpu.w1}, {&on_device.w2, &on_cpu.w2}}) {
      EXPECT_TRUE(torch::allclose(*p, *q, 1e-5, 1e-7)) << "project " << project;
    }
  }
}

// make_evaluator's choice: the CPU kernels for CPU float32/float64, ATen for other dtypes; the
// CUDA evaluator never takes CPU tensors; the build has its kernels when CMake said so.
TEST(DeviceLayer, DispatchPicksTheDevicesEvaluator) {
  auto problem = StageProblem();
  for (auto dtype : {torch::kFloat, torch::kDouble, torch::kBFloat16}) {
    auto x = torch::randn({20, 3}).to(dtype), r = torch::randn({20, 2}).to(dtype);
    auto ev = boosthead::detail::make_evaluator(x, r, torch::Tensor(), 1, problem, false);
    const bool aten = dynamic_cast<boosthead::detail::AtenEvaluator*>(ev.get()) != nullptr;
    EXPECT_EQ(aten, dtype == torch::kBFloat16) << dtype;
    EXPECT_EQ(boosthead::detail::make_cuda_evaluator(x, r, 1, problem, false), nullptr) << dtype;
  }
  EXPECT_EQ(boosthead::detail::cuda_kernels_built(), BOOSTHEAD_EXPECT_CUDA_KERNELS != 0);
}

// --- CUDA: skipped with the reason when no GPU is visible ------------------------------------

#define REQUIRE_CUDA()                                                        \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible"; \
  if (!boosthead::detail::cuda_kernels_built()) GTEST_SKIP() << "built without the CUDA kernels"

// The fused pass (CUDA evaluator) against the ATen evaluator on the GPU and the CPU kernels,
// float32 data; more than 32 outputs take the shared-memory path.
TEST(Cuda, FusedPassMatchesAtenAndTheCpuKernels) {
  REQUIRE_CUDA();
  for (Activation act : {Activation::Sigmoid, Activation::Tanh, Activation::Relu}) {
    for (int64_t j : {1, 3, 8}) {
      for (int64_t k : {1, 10, 40}) {
        torch::manual_seed(j * 100 + k);
        auto x = torch::randn({3000, 37}), r = torch::randn({3000, k});
        auto problem = StageProblem().activation(act).l2(0.1);
        auto cuda = boosthead::detail::make_cuda_evaluator(x.cuda(), r.cuda(), j, problem, false);
        ASSERT_NE(cuda, nullptr);
        auto aten = boosthead::detail::make_aten_evaluator(x.cuda(), r.cuda(), j, problem, false);
        auto cpu = boosthead::detail::make_cpu_evaluator(x, r, torch::Tensor(), j, problem, false);
        const auto theta = random_theta(j * 37 + j + k * j + k, j + k);
        const auto what = fmt_what(torch::kFloat, act, j, k, false);
        expect_same_objective(*cuda, *cpu, theta, 2e-4, what + " cuda vs cpu");
        expect_same_objective(*aten, *cpu, theta, 2e-4, what + " aten on cuda vs cpu");
      }
    }
  }
}

// The same fit on the GPU and on the CPU: float64 to a tight tolerance, float32 to its
// precision (the stages' solutions drift apart by rounding over many iterations).
TEST(Cuda, TrainerOnTheGpuMatchesTheCpu) {
  REQUIRE_CUDA();
  auto p = test::synthetic("multinomial", 1200, 8, 4, 5);
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    for (const char* solver : {"lbfgs", "varpro"}) {
      auto fit_on = [&](torch::Device device) {
        auto o = TrainerOptions().stages(15).units_per_stage(3).loss("multinomial").solver(solver);
        o.device(device).dtype(dtype).seed(3);
        auto fit = Trainer(o).fit(p.x.to(device), p.y.to(device));
        return fit.head->predict_proba(p.x.to(device, dtype)).to(torch::kCPU, torch::kDouble);
      };
      auto cpu = fit_on(torch::kCPU), gpu = fit_on(torch::kCUDA);
      const double diff = (cpu - gpu).abs().max().item<double>();
      const double agree =
          (cpu.argmax(1) == gpu.argmax(1)).to(torch::kDouble).mean().item<double>();
      if (dtype == torch::kDouble) {
        EXPECT_LT(diff, 1e-6) << solver;
      } else {
        EXPECT_LT(diff, 0.05) << solver;
        EXPECT_GT(agree, 0.98) << solver;
      }
    }
  }
}
