#include <ATen/Parallel.h>
#include <boosthead/loss.h>
#include <gtest/gtest.h>

#include "test_util.h"

using namespace boosthead;

namespace {

struct Case {
  std::string loss;
  int64_t k;
};

const std::vector<Case> kCases{
    {"squared", 1}, {"squared", 3}, {"binary_logistic", 1}, {"multinomial", 4}};

torch::Tensor targets_for(const Loss& loss, int64_t n, int64_t k) {
  torch::manual_seed(3);
  torch::Tensor raw;
  if (loss.name() == "squared")
    raw = torch::randn({n, k}, torch::kDouble) * 2 + 1;
  else
    raw = torch::randint(0, loss.name() == "binary_logistic" ? 2 : k, {n}, torch::kLong);
  return loss.prepare_targets(raw, k, torch::kDouble);
}

}  // namespace

TEST(Loss, RegistryListsBuiltinsAndRejectsUnknown) {
  auto names = loss_names();
  for (const char* n : {"squared", "binary_logistic", "multinomial"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  try {
    make_loss("hinge");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown loss 'hinge'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("multinomial"), std::string::npos);
  }
}

TEST(Loss, PseudoResidualsAreMinusTheAutogradGradient) {
  for (const auto& c : kCases) {
    auto loss = make_loss(c.loss);
    const int64_t n = 50;
    auto y = targets_for(*loss, n, c.k);
    auto f = (torch::randn({n, c.k}, torch::kDouble) * 2).requires_grad_(true);
    loss->row_loss(f, y).sum().backward();
    auto r = loss->pseudo_residuals(f.detach(), y);
    EXPECT_TRUE(torch::allclose(r, -f.grad(), 1e-10, 1e-12)) << c.loss;
  }
}

TEST(Loss, InitialScoreMinimisesTheMeanLoss) {
  for (const auto& c : kCases) {
    auto loss = make_loss(c.loss);
    auto y = targets_for(*loss, 200, c.k);
    auto f0 = loss->initial_score(y);
    ASSERT_EQ(f0.sizes(), torch::IntArrayRef({c.k}));
    auto f = f0.unsqueeze(0).expand({200, c.k}).contiguous();
    const double best = loss->value(f, y);
    // The gradient of the mean loss vanishes at F0 ...
    EXPECT_LT(loss->pseudo_residuals(f, y).mean(0).abs().max().item<double>(), 1e-9) << c.loss;
    // ... and no nearby constant does better.
    for (int trial = 0; trial < 20; ++trial) {
      auto g = f + 0.05 * torch::randn({1, c.k}, torch::kDouble);
      EXPECT_GE(loss->value(g, y), best - 1e-12) << c.loss;
    }
  }
}

TEST(Loss, NewtonStepDoesNotIncreaseTheLoss) {
  for (const auto& c : kCases) {
    auto loss = make_loss(c.loss);
    auto y = targets_for(*loss, 300, c.k);
    for (int trial = 0; trial < 10; ++trial) {
      auto f = torch::randn({300, c.k}, torch::kDouble);
      // A direction like a fitted stage: the residuals plus noise.
      auto h = loss->pseudo_residuals(f, y) + 0.3 * torch::randn({300, c.k}, torch::kDouble);
      const double rho = loss->newton_step(f, y, h);
      EXPECT_TRUE(std::isfinite(rho));
      EXPECT_LE(loss->value(f + rho * h, y), loss->value(f, y) + 1e-12) << c.loss;
    }
  }
}

TEST(Loss, SquaredNewtonStepIsTheExactLineMinimum) {
  auto loss = make_loss("squared");
  auto y = targets_for(*loss, 100, 2);
  auto f = torch::randn({100, 2}, torch::kDouble);
  auto h = torch::randn({100, 2}, torch::kDouble);
  const double rho = loss->newton_step(f, y, h);
  const double at = loss->value(f + rho * h, y);
  EXPECT_LT(at, loss->value(f + (rho + 1e-3) * h, y));
  EXPECT_LT(at, loss->value(f + (rho - 1e-3) * h, y));
}

TEST(Loss, LinksGiveProbabilities) {
  auto f = torch::randn({10, 3}, torch::kDouble) * 5;
  auto p = make_loss("multinomial")->link(f);
  EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({10}, torch::kDouble)));
  auto b = make_loss("binary_logistic")->link(f.narrow(1, 0, 1));
  EXPECT_TRUE((b > 0).all().item<bool>() && (b < 1).all().item<bool>());
  EXPECT_TRUE(torch::equal(make_loss("squared")->link(f), f));
}

TEST(Loss, PrepareTargetsRejectsBadLabels) {
  EXPECT_THROW(
      make_loss("binary_logistic")->prepare_targets(torch::tensor({0, 1, 2}), 1, torch::kFloat),
      std::invalid_argument);
  EXPECT_THROW(make_loss("multinomial")->prepare_targets(torch::tensor({0, 5}), 3, torch::kFloat),
               std::invalid_argument);
  EXPECT_THROW(
      make_loss("multinomial")->prepare_targets(torch::tensor({0.5, 1.0}), 3, torch::kFloat),
      std::invalid_argument);
  EXPECT_THROW(
      make_loss("squared")->prepare_targets(torch::tensor({0.5, std::nan("")}), 1, torch::kFloat),
      std::invalid_argument);
  auto oh = make_loss("multinomial")->prepare_targets(torch::tensor({2, 0}), 3, torch::kFloat);
  EXPECT_TRUE(torch::equal(oh, torch::tensor({{0.f, 0.f, 1.f}, {1.f, 0.f, 0.f}})));
}

TEST(Loss, CustomLossCanBeRegistered) {
  register_loss("my_squared", [] { return make_loss("squared"); });
  EXPECT_EQ(make_loss("my_squared")->name(), "squared");
}

// On contiguous CPU float/double tensors the multinomial loss runs host loops; they must give
// what the tensor formulas give (and what a non-contiguous view, which takes the tensor path,
// gives). Class counts with unrolled loops (3, 6) and without (9, 40); 40 classes with equal
// scores make every row's sum of exponentials 40, the most the product of row sums grows by;
// 2,600 rows are three chunks of the row loops.
TEST(Loss, MultinomialHostLoopsMatchTensorFormulas) {
  auto loss = make_loss("multinomial");
  const int64_t rows = 2600;
  for (int64_t k : {3, 6, 9, 40}) {
    for (auto dtype : {torch::kFloat, torch::kDouble}) {
      SCOPED_TRACE(testing::Message() << k << " classes");
      const double tol = dtype == torch::kFloat ? 1e-5 : 1e-12;
      torch::manual_seed(5);
      auto f = k == 40 ? torch::zeros({rows, k}, dtype) : 3 * torch::randn({rows, k}, dtype);
      auto y = loss->prepare_targets(torch::randint(0, k, {rows}, torch::kLong), k, dtype);
      auto h = torch::randn({rows, k}, dtype);
      auto p = torch::softmax(f.to(torch::kDouble), 1);
      auto yd = y.to(torch::kDouble), hd = h.to(torch::kDouble);

      auto r = loss->pseudo_residuals(f, y);
      EXPECT_TRUE(torch::allclose(r.to(torch::kDouble), yd - p, tol, tol)) << dtype;
      auto f_view = f.t().contiguous().t();  // same values, not contiguous
      EXPECT_TRUE(torch::allclose(loss->pseudo_residuals(f_view, y), r, tol, tol)) << dtype;

      const double value =
          (torch::logsumexp(f.to(torch::kDouble), 1) - (yd * f.to(torch::kDouble)).sum(1))
              .mean()
              .item<double>();
      EXPECT_NEAR(loss->value(f, y), value, tol * std::abs(value)) << dtype;
      EXPECT_NEAR(loss->value(f_view, y), value, tol * std::abs(value)) << dtype;

      auto ph = p * hd;
      const double rho = ((yd - p) * hd).sum().item<double>() /
                         ((ph * hd).sum().item<double>() - ph.sum(1).pow(2).sum().item<double>());
      EXPECT_NEAR(loss->newton_step(f, y, h, r), rho, 1e2 * tol * std::abs(rho)) << dtype;
      EXPECT_NEAR(loss->newton_step(f, y, h), rho, 1e2 * tol * std::abs(rho)) << dtype;
      EXPECT_NEAR(loss->newton_step(f_view, y, h, r.t().contiguous().t()), rho,
                  1e2 * tol * std::abs(rho))
          << dtype;
    }
  }
}

TEST(Loss, NewtonStepRejectsMismatchedDirectionOrResiduals) {
  for (const auto& c : kCases) {
    auto loss = make_loss(c.loss);
    auto y = targets_for(*loss, 20, c.k);
    auto f = torch::zeros({20, c.k}, torch::kDouble);
    auto r = loss->pseudo_residuals(f, y);
    EXPECT_THROW(loss->newton_step(f, y, torch::ones({19, c.k}, torch::kDouble), r), c10::Error)
        << c.loss;
    EXPECT_THROW(loss->newton_step(f, y, r, r.narrow(0, 0, 19)), c10::Error) << c.loss;
  }
}

// value_and_residuals gives what value() and pseudo_residuals() give; the residuals bit for bit
// (a fit resumed from a checkpoint takes them from pseudo_residuals).
TEST(Loss, ValueAndResidualsEqualTheSeparateCalls) {
  for (const auto& c : kCases) {
    auto loss = make_loss(c.loss);
    for (auto dtype : {torch::kFloat, torch::kDouble}) {
      torch::manual_seed(6);
      auto y = targets_for(*loss, 131, c.k).to(dtype);
      auto f = 2 * torch::randn({131, c.k}, dtype);
      const auto both = loss->value_and_residuals(f, y);
      EXPECT_NEAR(both.first, loss->value(f, y), 1e-12 * std::abs(both.first)) << c.loss;
      EXPECT_TRUE(torch::equal(both.second, loss->pseudo_residuals(f, y))) << c.loss << dtype;
    }
  }
}

// The multinomial row loops run in chunks spread over threads; the values are the same, bit for
// bit, with one thread or two, and a fit resumed on another thread count gets the residuals the
// uninterrupted fit would have.
TEST(Loss, MultinomialValuesDoNotDependOnTheThreadCount) {
  auto loss = make_loss("multinomial");
  const int before = at::get_num_threads();
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    torch::manual_seed(7);
    auto f = 2 * torch::randn({3000, 6}, dtype);
    auto y = loss->prepare_targets(torch::randint(0, 6, {3000}, torch::kLong), 6, dtype);
    auto h = torch::randn({3000, 6}, dtype);
    at::set_num_threads(1);
    const auto one = loss->value_and_residuals(f, y);
    const double step_one = loss->newton_step(f, y, h, one.second);
    at::set_num_threads(2);
    const auto two = loss->value_and_residuals(f, y);
    EXPECT_EQ(one.first, two.first) << dtype;
    EXPECT_TRUE(torch::equal(one.second, two.second)) << dtype;
    EXPECT_TRUE(torch::equal(one.second, loss->pseudo_residuals(f, y))) << dtype;
    EXPECT_EQ(step_one, loss->newton_step(f, y, h, one.second)) << dtype;
  }
  at::set_num_threads(before);
}
