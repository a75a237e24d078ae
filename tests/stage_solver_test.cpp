#include <boosthead/stage_solver.h>
#include <gtest/gtest.h>

#include "test_util.h"

using namespace boosthead;

namespace {

StageParams random_params(int64_t d, int64_t j, int64_t k, const torch::TensorOptions& opt) {
  return {0.5 * torch::randn({j, d}, opt), 0.1 * torch::randn({j}, opt),
          0.5 * torch::randn({k, j}, opt), 0.1 * torch::randn({k}, opt)};
}

}  // namespace

TEST(StageSolver, ObjectiveGradientMatchesAutograd) {
  torch::manual_seed(1);
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  for (const auto& name : activation_names()) {
    auto problem = StageProblem().activation(activation_from_name(name)).l2(0.3);
    auto x = torch::randn({40, 5}, opt), r = torch::randn({40, 3}, opt);
    auto p = random_params(5, 2, 3, opt);
    StageParams g;
    const double f = stage_objective(x, r, problem, p, &g);

    std::vector<torch::Tensor> v{
        p.w1.clone().requires_grad_(true), p.b1.clone().requires_grad_(true),
        p.w2.clone().requires_grad_(true), p.b2.clone().requires_grad_(true)};
    auto out = torch::addmm(v[3], activate(problem.activation(), torch::addmm(v[1], x, v[0].t())),
                            v[2].t());
    auto obj = 0.5 * (out - r).pow(2).sum() / (40.0 * 3) +
               0.5 * 0.3 / 40 * (v[0].pow(2).sum() + v[2].pow(2).sum());
    obj.backward();
    EXPECT_NEAR(f, obj.item<double>(), 1e-12) << name;
    EXPECT_TRUE(torch::allclose(g.w1, v[0].grad(), 1e-9, 1e-12)) << name;
    EXPECT_TRUE(torch::allclose(g.b1, v[1].grad(), 1e-9, 1e-12)) << name;
    EXPECT_TRUE(torch::allclose(g.w2, v[2].grad(), 1e-9, 1e-12)) << name;
    EXPECT_TRUE(torch::allclose(g.b2, v[3].grad(), 1e-9, 1e-12)) << name;
  }
}

TEST(StageSolver, EverySolverFitsAStageAndTheyAgree) {
  for (auto device : test::devices()) {
    for (auto dtype : {torch::kFloat, torch::kDouble}) {
      const auto opt = torch::TensorOptions().dtype(dtype).device(device);
      torch::manual_seed(2);
      auto x = torch::randn({300, 6}, opt);
      // Residuals a two-unit stage can represent, plus noise.
      auto r = torch::cat({torch::tanh(x.narrow(1, 0, 1) * 2),
                           torch::sigmoid(x.narrow(1, 1, 1) - x.narrow(1, 2, 1))},
                          1) +
               0.05 * torch::randn({300, 2}, opt);
      auto problem = StageProblem().activation(Activation::Tanh).max_iter(300);
      torch::manual_seed(7);
      const auto init = random_params(6, 2, 2, opt);
      const double start = stage_objective(x, r, problem, init, nullptr);
      std::map<std::string, double> finals;
      for (const auto& name : stage_solver_names()) {
        auto params = init.clone();
        auto report = make_stage_solver(name)->fit(x, r, problem, params);
        const double end = stage_objective(x, r, problem, params, nullptr);
        EXPECT_GT(report.iterations, 0) << name;
        EXPECT_NEAR(report.objective, end, 1e-4 * std::max(1.0, end)) << name;
        EXPECT_LT(end, 0.2 * start) << name;
        EXPECT_EQ(params.w1.device(), device);
        finals[name] = end;
      }
      // The residual noise floor is 0.5 * 0.05^2 = 1.25e-3; all solvers should get close to it.
      for (const auto& kv : finals) EXPECT_LT(kv.second, 6e-3) << kv.first << " on " << device;
    }
  }
}

TEST(StageSolver, RejectsBadShapesAndUnknownNames) {
  auto problem = StageProblem();
  auto p = random_params(3, 1, 2, torch::kFloat);
  auto solver = make_stage_solver("lbfgs");
  EXPECT_THROW(solver->fit(torch::randn({10, 4}), torch::randn({10, 2}), problem, p), c10::Error);
  EXPECT_THROW(solver->fit(torch::randn({10, 3}), torch::randn({9, 2}), problem, p), c10::Error);
  EXPECT_THROW(solver->fit(torch::randn({0, 3}), torch::randn({0, 2}), problem, p), c10::Error);
  try {
    make_stage_solver("adamw");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("varpro"), std::string::npos);
  }
}
