#include <ATen/Parallel.h>
#include <boosthead/stage_solver.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "isa_util.h"
#include "stage/evaluator.h"
#include "test_util.h"

using namespace boosthead;

namespace {

StageParams random_params(int64_t d, int64_t j, int64_t k, const torch::TensorOptions& opt) {
  return {0.5 * torch::randn({j, d}, opt), 0.1 * torch::randn({j}, opt),
          0.5 * torch::randn({k, j}, opt), 0.1 * torch::randn({k}, opt)};
}

// stage_objective's value and gradient against autograd on the same weights.
void expect_matches_autograd(const torch::Tensor& x, const torch::Tensor& r,
                             const StageProblem& problem, const StageParams& p,
                             const std::string& what) {
  const double n = static_cast<double>(x.size(0)), k = static_cast<double>(r.size(1));
  StageParams g;
  const double f = stage_objective(x, r, problem, p, &g);
  std::vector<torch::Tensor> v{p.w1.clone().requires_grad_(true), p.b1.clone().requires_grad_(true),
                               p.w2.clone().requires_grad_(true),
                               p.b2.clone().requires_grad_(true)};
  auto out =
      torch::addmm(v[3], activate(problem.activation(), torch::addmm(v[1], x, v[0].t())), v[2].t());
  auto obj = 0.5 * (out - r).pow(2).sum() / (n * k) +
             0.5 * problem.l2() / n * (v[0].pow(2).sum() + v[2].pow(2).sum());
  obj.backward();
  EXPECT_NEAR(f, obj.item<double>(), 1e-12) << what;
  EXPECT_TRUE(torch::allclose(g.w1, v[0].grad(), 1e-9, 1e-12)) << what;
  EXPECT_TRUE(torch::allclose(g.b1, v[1].grad(), 1e-9, 1e-12)) << what;
  EXPECT_TRUE(torch::allclose(g.w2, v[2].grad(), 1e-9, 1e-12)) << what;
  EXPECT_TRUE(torch::allclose(g.b2, v[3].grad(), 1e-9, 1e-12)) << what;
}

}  // namespace

TEST(StageSolver, ObjectiveGradientMatchesAutograd) {
  torch::manual_seed(1);
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  for (const auto& name : activation_names()) {
    auto problem = StageProblem().activation(activation_from_name(name)).l2(0.3);
    auto x = torch::randn({40, 5}, opt), r = torch::randn({40, 3}, opt);
    expect_matches_autograd(x, r, problem, random_params(5, 2, 3, opt), name);
  }
}

// The CPU kernels come in builds for three instruction sets and process rows in groups of 16 or
// 64 with zero padding; every build and every row count around a group boundary must give the
// autograd objective and gradient.
TEST(StageSolver, CpuKernelsMatchAutogradForEveryInstructionSetAndRowCount) {
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  auto fit_varpro = [&] {
    torch::manual_seed(3);
    auto x = torch::randn({100, 4}, opt);
    auto r = torch::tanh(x.narrow(1, 0, 2));
    auto params = random_params(4, 2, 2, opt);
    return make_stage_solver("varpro")->fit(x, r, StageProblem().max_iter(50), params).objective;
  };
  // The reference on the best instruction set this CPU has.
  const double reference = [&] {
    test::ScopedIsa best(test::runnable_isas().back());
    return fit_varpro();
  }();
  for (const char* isa : test::runnable_isas()) {
    test::ScopedIsa scoped(isa);
    for (int64_t n : {1, 15, 16, 17, 63, 64, 65, 130}) {
      for (const auto& name : activation_names()) {
        torch::manual_seed(n);
        auto problem = StageProblem().activation(activation_from_name(name)).l2(0.1);
        auto x = 2 * torch::randn({n, 7}, opt), r = torch::randn({n, 3}, opt);
        // One hidden unit has its own code path (sufficient statistics), one output too.
        for (int64_t j : {1, 3}) {
          expect_matches_autograd(x, r, problem, random_params(7, j, 3, opt),
                                  std::string(isa) + " " + name + " n=" + std::to_string(n) +
                                      " j=" + std::to_string(j));
        }
        expect_matches_autograd(x, r.narrow(1, 0, 1).contiguous(), problem,
                                random_params(7, 1, 1, opt),
                                std::string(isa) + " " + name + " n=" + std::to_string(n) + " k=1");
      }
    }
    // Variable projection runs the hidden-layer kernel as well: same fit on every build.
    EXPECT_NEAR(fit_varpro(), reference, 1e-9) << isa;
  }
}

// With one hidden unit the squared error comes from sums of h, h^2 and h r, which cancel when the
// stage reproduces its residuals almost exactly; the objective must stay accurate there too.
TEST(StageSolver, OneUnitObjectiveStaysAccurateWhenTheStageFitsAlmostExactly) {
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  torch::manual_seed(8);
  auto x = torch::randn({3000, 6}, opt);
  auto p = random_params(6, 1, 4, opt);
  auto r = p.forward(x, Activation::Sigmoid) + 1e-6 * torch::randn({3000, 4}, opt);
  const double f = stage_objective(x, r, StageProblem().l2(0.0), p, nullptr);
  const double exact = 0.5 * (p.forward(x, Activation::Sigmoid) - r).pow(2).mean().item<double>();
  EXPECT_NEAR(f, exact, 1e-3 * exact);
}

// Large stages are split over threads (per-thread sums added afterwards); the split must neither
// change the objective beyond rounding nor fall back to one thread unnoticed.
TEST(StageSolver, CpuKernelsSplitLargeStagesOverThreads) {
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  const auto opt = torch::TensorOptions().dtype(torch::kDouble);
  torch::manual_seed(6);
  auto x = torch::randn({5000, 9}, opt), r = torch::randn({5000, 4}, opt);
  EXPECT_EQ(boosthead::detail::kernel_threads_used(x, r, 1), 2);
  EXPECT_EQ(boosthead::detail::kernel_threads_used(x.narrow(0, 0, 100), r.narrow(0, 0, 100), 1), 1);
  for (int64_t j : {1, 2}) {
    auto p = random_params(9, j, 4, opt);
    expect_matches_autograd(x, r, StageProblem(), p, "two threads j=" + std::to_string(j));
    StageParams g2, g1;
    const double f2 = stage_objective(x, r, StageProblem(), p, &g2);
    at::set_num_threads(1);
    const double f1 = stage_objective(x, r, StageProblem(), p, &g1);
    at::set_num_threads(2);
    EXPECT_NEAR(f2, f1, 1e-13 * f1);
    EXPECT_TRUE(torch::allclose(g2.w1, g1.w1, 1e-11, 1e-14));
  }
  // A whole solver run on two threads: the same fit as on one thread, up to rounding.
  auto fit = [&](int threads) {
    at::set_num_threads(threads);
    torch::manual_seed(7);
    auto p = random_params(9, 1, 4, opt);
    const auto report = make_stage_solver("lbfgs")->fit(x, r, StageProblem().max_iter(20), p);
    return std::make_pair(report.objective, p.w1);
  };
  const auto two = fit(2), one = fit(1);
  EXPECT_NEAR(two.first, one.first, 1e-10 * one.first);
  EXPECT_TRUE(torch::allclose(two.second, one.second, 1e-6, 1e-9));
  at::set_num_threads(before);
}

// Float32 features are multiplied and activated in float32 (float64 after the activations, or,
// with one unit and float32 residuals, up to the sums over groups of rows): on every instruction
// set, row count and activation the objective and gradient stay within float32 rounding of the
// float64 evaluation of the same values.
TEST(StageSolver, FloatStagesMatchTheirFloat64Evaluation) {
  auto compare = [](int64_t n, int64_t d, int64_t j, int64_t k, const std::string& what,
                    torch::ScalarType residuals = torch::kFloat) {
    auto x = torch::randn({n, d}), r = torch::randn({n, k}).to(residuals);
    auto p = random_params(d, j, k, torch::kFloat);
    StageParams g32, g64;
    const auto& names = activation_names();
    auto problem = StageProblem().activation(activation_from_name(names[n % names.size()]));
    const double f32 = stage_objective(x, r, problem, p, &g32);
    StageParams p64{p.w1.to(torch::kDouble), p.b1.to(torch::kDouble), p.w2.to(torch::kDouble),
                    p.b2.to(torch::kDouble)};
    const double f64 =
        stage_objective(x.to(torch::kDouble), r.to(torch::kDouble), problem, p64, &g64);
    EXPECT_NEAR(f32, f64, 1e-6 * f64) << what;
    for (auto pair : {std::make_pair(g32.w1, g64.w1), std::make_pair(g32.b1, g64.b1),
                      std::make_pair(g32.w2, g64.w2), std::make_pair(g32.b2, g64.b2)}) {
      EXPECT_TRUE(torch::allclose(pair.first.to(torch::kDouble), pair.second, 1e-4, 1e-7)) << what;
    }
  };
  torch::manual_seed(4);
  for (const char* isa : test::runnable_isas()) {
    test::ScopedIsa scoped(isa);
    // 1,100 rows: more row groups than are summed in float32 before going into float64.
    for (int64_t n : {1, 63, 65, 200, 1100}) {
      for (int64_t j : {1, 3}) {
        compare(n, 7, j, 3,
                std::string(isa) + " n=" + std::to_string(n) + " j=" + std::to_string(j));
      }
      // One unit with float64 residuals takes the general path.
      compare(n, 7, 1, 3, std::string(isa) + " n=" + std::to_string(n) + " float64 residuals",
              torch::kDouble);
    }
  }
  compare(33000, 128, 2, 2, "large");
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

// fit_rows on a subsample is fit on the selected rows: the built-in solvers copy the rows into
// their layout themselves, bit for bit the same values. Row counts and feature counts that are
// not multiples of the four-row tiles, repeated and unsorted rows, every instruction set.
TEST(StageSolver, FitRowsEqualsFitOnTheSelectedRows) {
  for (const char* isa : test::runnable_isas()) {
    test::ScopedIsa scoped(isa);
    for (auto dtype : {torch::kFloat, torch::kDouble}) {
      for (int64_t d : {7, 8}) {
        torch::manual_seed(12);
        auto x = torch::randn({300, d}, dtype);
        auto r = torch::randn({300, 5}, dtype);
        auto rows = torch::randperm(300, torch::kLong).narrow(0, 0, 203);
        rows[5] = rows[9].item<int64_t>();  // a repeated row
        for (const std::string name : {"lbfgs", "varpro", "torch_lbfgs"}) {
          auto problem = StageProblem().max_iter(15);
          auto init = random_params(d, 2, 5, dtype);
          auto a = init.clone(), b = init.clone();
          auto solver = make_stage_solver(name);
          const auto ra = solver->fit_rows(x, r, rows, problem, a);
          const auto rb = solver->fit(x.index_select(0, rows), r.index_select(0, rows), problem, b);
          const std::string what = std::string(isa) + " " + name + " d=" + std::to_string(d);
          EXPECT_EQ(ra.evaluations, rb.evaluations) << what;
          EXPECT_DOUBLE_EQ(ra.objective, rb.objective) << what;
          EXPECT_TRUE(torch::equal(a.w1, b.w1)) << what;
          EXPECT_TRUE(torch::equal(a.w2, b.w2)) << what;
        }
      }
    }
  }
}

TEST(StageSolver, FitRowsRejectsBadRowIndices) {
  auto problem = StageProblem().max_iter(3);
  auto x = torch::randn({10, 3}), r = torch::randn({10, 2});
  for (const std::string name : {"lbfgs", "torch_lbfgs"}) {
    auto solver = make_stage_solver(name);
    auto p = random_params(3, 1, 2, torch::kFloat);
    auto expect_error = [&](const torch::Tensor& rows, const std::string& text) {
      try {
        solver->fit_rows(x, r, rows, problem, p);
        ADD_FAILURE() << name << ": no error for " << text;
      } catch (const c10::Error& e) {
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << name << ": " << e.what();
      }
    };
    expect_error(torch::tensor({0, 10}, torch::kLong), "must be in [0, 10), got values in [0, 10]");
    expect_error(torch::tensor({-1, 2}, torch::kLong), "got values in [-1, 2]");
    expect_error(torch::tensor({0, 1}, torch::kInt), "expected int64 row indices");
    expect_error(torch::zeros({2, 2}, torch::kLong), "expected 1-D row indices, got 2-D");
    expect_error(torch::zeros({0}, torch::kLong), "zero rows");
  }
}

// A stage's forward pass against the formula written out element by element, in float64:
// out[i][k] = b2[k] + sum_j w2[k][j] * act(b1[j] + sum_f w1[j][f] * x[i][f]).
TEST(StageSolver, ForwardPassIsTheTwoLayerFormula) {
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    torch::manual_seed(9);
    auto x = torch::randn({40, 5}, dtype);
    for (int64_t j : {1, 3}) {
      auto p = random_params(5, j, 2, dtype);
      for (const auto& name : activation_names()) {
        const auto act = activation_from_name(name);
        auto out = p.forward(x, act).to(torch::kDouble);
        auto x64 = x.to(torch::kDouble);
        auto xa = x64.accessor<double, 2>();
        auto w1 = p.w1.to(torch::kDouble), b1 = p.b1.to(torch::kDouble);
        auto w2 = p.w2.to(torch::kDouble), b2 = p.b2.to(torch::kDouble);
        auto w1a = w1.accessor<double, 2>(), w2a = w2.accessor<double, 2>();
        auto b1a = b1.accessor<double, 1>(), b2a = b2.accessor<double, 1>();
        for (int64_t i = 0; i < 40; ++i) {
          for (int64_t k = 0; k < 2; ++k) {
            double want = b2a[k];
            for (int64_t u = 0; u < j; ++u) {
              double z = b1a[u];
              for (int64_t f = 0; f < 5; ++f) z += w1a[u][f] * xa[i][f];
              const double h = name == "sigmoid" ? 1.0 / (1.0 + std::exp(-z))
                               : name == "tanh"  ? std::tanh(z)
                                                 : std::max(z, 0.0);
              want += w2a[k][u] * h;
            }
            EXPECT_NEAR(out[i][k].item<double>(), want, 1e-5 * (1.0 + std::abs(want)))
                << name << " j=" << j << " row " << i;
          }
        }
      }
    }
  }
}

// The trainer takes each new stage's output on all rows from the CPU kernels (features laid out
// once per fit); it must equal the stage's forward pass on every instruction set.
TEST(StageSolver, CpuStageForwardMatchesTheForwardPass) {
  for (const char* isa : test::runnable_isas()) {
    test::ScopedIsa scoped(isa);
    for (auto dtype : {torch::kFloat, torch::kDouble}) {
      torch::manual_seed(10);
      auto x = torch::randn({301, 7}, dtype);
      for (const auto& name : activation_names()) {
        const auto act = activation_from_name(name);
        for (int64_t j : {1, 3}) {
          auto forward = boosthead::detail::make_cpu_stage_forward(x, j, 4, act);
          ASSERT_TRUE(forward);
          auto p = random_params(7, j, 4, dtype);
          auto h = (*forward)(p);
          EXPECT_EQ(h.scalar_type(), dtype);
          EXPECT_TRUE(torch::allclose(h, p.forward(x, act), 1e-5, 1e-6))
              << isa << " " << name << " j=" << j;
        }
      }
    }
  }
  EXPECT_FALSE(boosthead::detail::make_cpu_stage_forward(torch::randn({3, 2}, torch::kHalf), 1, 1,
                                                         Activation::Sigmoid));
}
