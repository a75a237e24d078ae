#include <boosthead/baselines.h>
#include <boosthead/loss.h>
#include <boosthead/trainer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace boosthead;

namespace {

double mean_loss(const BoostedHeadImpl& head, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard ng;
  auto loss = make_loss(head.loss());
  auto f = head.forward(x);
  return loss->value(f, loss->prepare_targets(y, head.num_outputs(), f.scalar_type()));
}

// The loss of the constant score F0, the starting point both boosting and the baselines share.
double constant_loss(const std::string& loss_name, const torch::Tensor& y, int64_t k) {
  auto loss = make_loss(loss_name);
  auto t = loss->prepare_targets(y, k, torch::kFloat);
  auto f = loss->initial_score(t).unsqueeze(0).expand({t.size(0), k}).contiguous();
  return loss->value(f, t);
}

}  // namespace

TEST(Baselines, EveryMethodReducesTheTrainingLossSubstantially) {
  for (const std::string method : {"adam", "sgd", "lbfgs"}) {
    for (const std::string loss : {"squared", "binary_logistic", "multinomial"}) {
      SCOPED_TRACE(method + " " + loss);
      const int64_t k = loss == "multinomial" ? 3 : (loss == "squared" ? 2 : 1);
      auto p = test::synthetic(loss, 400, 5, loss == "multinomial" ? 3 : 2, 3);
      auto fit = BaselineTrainer(BaselineOptions()
                                     .method(method)
                                     .hidden_units(16)
                                     .lr(method == "adam" ? 0.01 : 0.0)
                                     .epochs(method == "lbfgs" ? 10 : 60)
                                     .valid_fraction(0.0))
                     .fit(p.x, p.y);
      EXPECT_EQ(fit.head->loss(), loss);
      ASSERT_EQ(fit.epochs_trained, static_cast<int64_t>(fit.history.size()));
      ASSERT_FALSE(fit.history.empty());
      const double before = constant_loss(loss, p.y, k);
      const double after = mean_loss(*fit.head, p.x, p.y);
      EXPECT_LT(after, 0.3 * before) << "constant " << before << ", trained " << after;
      // The returned head is the network of the last epoch.
      EXPECT_NEAR(after, fit.history.back().train_loss, 1e-5);
      EXPECT_EQ(fit.stop_reason, "completed");
    }
  }
}

TEST(Baselines, ReturnsTheFusedArchitectureAsOneStage) {
  auto p = test::synthetic("multinomial", 120, 7, 4, 5);
  auto fit =
      BaselineTrainer(BaselineOptions().method("sgd").hidden_units(12).epochs(2).activation("tanh"))
          .fit(p.x, p.y);
  const auto& head = *fit.head;
  EXPECT_EQ(head.num_stages(), 1);
  EXPECT_EQ(head.units_per_stage(), 12);
  EXPECT_EQ(head.num_features(), 7);
  EXPECT_EQ(head.num_outputs(), 4);
  EXPECT_EQ(head.num_classes(), 4);
  EXPECT_EQ(head.activation(), Activation::Tanh);
  EXPECT_EQ(head.hidden_weight.sizes(), torch::IntArrayRef({12, 7}));
  EXPECT_EQ(head.output_weight.sizes(), torch::IntArrayRef({4, 12}));
  // F0 stays separate from the trained bias, as for boosted stages.
  auto loss = make_loss("multinomial");
  auto split = split_indices(120, 0.1, 0, p.y);
  auto f0 = loss->initial_score(
      loss->prepare_targets(p.y.index_select(0, split.first), 4, torch::kFloat));
  EXPECT_TRUE(torch::allclose(head.initial_score, f0));
  EXPECT_TRUE(torch::allclose(head.output_bias, f0 + head.stage_output_bias[0]));
}

TEST(Baselines, SameSeedSameModelOtherSeedOtherModel) {
  auto p = test::synthetic("binary_logistic", 200, 4, 2, 7);
  for (const std::string method : {"adam", "sgd", "lbfgs"}) {
    SCOPED_TRACE(method);
    auto opts = BaselineOptions().method(method).hidden_units(8).epochs(5).seed(11);
    auto a = BaselineTrainer(opts).fit(p.x, p.y);
    auto b = BaselineTrainer(opts).fit(p.x, p.y);
    auto c = BaselineTrainer(opts.seed(12)).fit(p.x, p.y);
    EXPECT_TRUE(torch::equal(a.head->hidden_weight, b.head->hidden_weight));
    EXPECT_TRUE(torch::equal(a.head->output_weight, b.head->output_weight));
    EXPECT_TRUE(torch::equal(a.head->output_bias, b.head->output_bias));
    EXPECT_FALSE(torch::equal(a.head->hidden_weight, c.head->hidden_weight));
    ASSERT_EQ(a.history.size(), b.history.size());
    for (size_t i = 0; i < a.history.size(); ++i)
      EXPECT_EQ(a.history[i].train_loss, b.history[i].train_loss);
  }
}

TEST(Baselines, EarlyStoppingKeepsTheBestEpoch) {
  // Labels independent of the features: the network can only overfit, so the validation loss
  // turns up early and training must stop there.
  torch::manual_seed(0);
  auto x = torch::randn({150, 10});
  auto y = torch::randint(0, 2, {150}, torch::kLong);
  auto opts = BaselineOptions()
                  .method("adam")
                  .hidden_units(64)
                  .lr(0.02)
                  .batch_size(16)
                  .epochs(300)
                  .valid_fraction(0.3)
                  .patience(5)
                  .seed(1);
  auto fit = BaselineTrainer(opts).fit(x, y);
  EXPECT_EQ(fit.stop_reason, "early_stopping");
  ASSERT_LT(fit.epochs_trained, 300);
  EXPECT_EQ(fit.epochs_trained, fit.best_epoch + 5);
  auto best = std::min_element(
      fit.history.begin(), fit.history.end(),
      [](const EpochRecord& a, const EpochRecord& b) { return *a.valid_loss < *b.valid_loss; });
  EXPECT_EQ(best->epoch, fit.best_epoch);
  // The head holds the best epoch's weights, not the last epoch's: its losses on the same split
  // are the best epoch's recorded ones.
  auto split = split_indices(150, 0.3, 1, y);
  const auto xv = x.index_select(0, split.second), yv = y.index_select(0, split.second);
  const auto xt = x.index_select(0, split.first), yt = y.index_select(0, split.first);
  EXPECT_NEAR(mean_loss(*fit.head, xv, yv), *best->valid_loss, 1e-5);
  EXPECT_NEAR(mean_loss(*fit.head, xt, yt), best->train_loss, 1e-5);
  EXPECT_GT(std::abs(fit.history.back().train_loss - best->train_loss), 1e-4);

  // Without keep_best the last epoch's weights come back.
  auto last = BaselineTrainer(opts.keep_best(false)).fit(x, y);
  EXPECT_EQ(last.best_epoch, last.epochs_trained);
  EXPECT_NEAR(mean_loss(*last.head, xt, yt), last.history.back().train_loss, 1e-5);
}

TEST(Baselines, ExplicitValidationSetAndRecordsGrowInTime) {
  auto p = test::synthetic("squared", 200, 3, 1, 2);
  auto v = test::synthetic("squared", 50, 3, 1, 9);
  auto fit = BaselineTrainer(BaselineOptions().method("lbfgs").hidden_units(6).epochs(4))
                 .fit(p.x, p.y, v.x, v.y);
  ASSERT_EQ(fit.history.size(), 4u);
  for (size_t i = 0; i < fit.history.size(); ++i) {
    EXPECT_EQ(fit.history[i].epoch, static_cast<int64_t>(i) + 1);
    ASSERT_TRUE(fit.history[i].valid_loss.has_value());
    if (i > 0) EXPECT_GE(fit.history[i].seconds, fit.history[i - 1].seconds);
  }
  EXPECT_NEAR(mean_loss(*fit.head, v.x, v.y), *fit.history[fit.best_epoch - 1].valid_loss, 1e-5);
}

TEST(Baselines, EpochCallbackSeesEveryEpochsNetworkOutsideTheFitsTime) {
  auto p = test::synthetic("multinomial", 300, 5, 3, 6);
  auto split = split_indices(300, 0.2, 3, p.y);
  const auto xt = p.x.index_select(0, split.first), yt = p.y.index_select(0, split.first);
  constexpr double kSleep = 0.25;
  std::vector<EpochRecord> seen;
  std::vector<torch::Tensor> scores;
  // Wall-clock seconds since the fit's start at each callback's entry: the bounds below compare
  // the recorded times with the wall time, so they hold however loaded the machine is, and fail
  // by kSleep per epoch if a callback's time were counted.
  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  std::vector<double> entered;
  Clock::time_point start;
  BaselineTrainer trainer(BaselineOptions()
                              .method("adam")
                              .hidden_units(16)
                              .lr(0.01)
                              .epochs(4)
                              .valid_fraction(0.2)
                              .patience(0)
                              .seed(3));
  trainer.add_callback([&](const EpochRecord& rec, const BoostedHeadImpl& head) {
    entered.push_back(since(start));
    seen.push_back(rec);
    EXPECT_EQ(head.num_stages(), 1);
    EXPECT_EQ(head.units_per_stage(), 16);
    // The head is this epoch's network: its training loss is the one just recorded.
    EXPECT_NEAR(mean_loss(head, xt, yt), rec.train_loss, 1e-5) << "epoch " << rec.epoch;
    torch::NoGradGuard no_grad;
    scores.push_back(head.forward(p.x).clone());
    // Slow evaluation must not count towards the fit's time.
    std::this_thread::sleep_for(std::chrono::duration<double>(kSleep));
    return true;
  });
  start = Clock::now();
  auto fit = trainer.fit(p.x, p.y);
  const double wall = since(start);
  EXPECT_EQ(fit.stop_reason, "completed");
  ASSERT_EQ(seen.size(), 4u);
  ASSERT_EQ(fit.history.size(), 4u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].epoch, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(seen[i].train_loss, fit.history[i].train_loss);
    EXPECT_EQ(seen[i].seconds, fit.history[i].seconds);
    if (i > 0) {
      // Between two callbacks: one epoch's work and the previous callback (sleep included).
      EXPECT_LE(fit.history[i].seconds - fit.history[i - 1].seconds,
                entered[i] - entered[i - 1] - kSleep + 1e-3)
          << "epoch " << i + 1;
      EXPECT_FALSE(torch::equal(scores[i], scores[i - 1])) << "epoch " << i + 1;
    }
  }
  EXPECT_LE(fit.fit_seconds, wall - 4 * kSleep + 1e-3);
  EXPECT_GE(fit.fit_seconds, fit.history.back().seconds);
  // The kept epoch's scores as the callback saw them are the returned head's, to the bit.
  torch::NoGradGuard no_grad;
  ASSERT_GE(fit.best_epoch, 1);
  EXPECT_TRUE(torch::equal(fit.head->forward(p.x), scores[fit.best_epoch - 1]));
}

TEST(Baselines, EpochCallbackCanStopTraining) {
  auto p = test::synthetic("squared", 120, 3, 1, 8);
  int64_t second_calls = 0;
  torch::Tensor third;
  BaselineTrainer trainer(
      BaselineOptions().method("sgd").hidden_units(8).epochs(10).valid_fraction(0.0));
  trainer
      .add_callback([&](const EpochRecord& rec, const BoostedHeadImpl& head) {
        if (rec.epoch == 3) {
          torch::NoGradGuard no_grad;
          third = head.forward(p.x).clone();
        }
        return rec.epoch < 3;
      })
      .add_callback([&](const EpochRecord&, const BoostedHeadImpl&) {
        ++second_calls;
        return true;
      });
  auto fit = trainer.fit(p.x, p.y);
  EXPECT_EQ(fit.stop_reason, "callback");
  EXPECT_EQ(fit.epochs_trained, 3);
  EXPECT_EQ(fit.best_epoch, 3);
  EXPECT_EQ(second_calls, 3);
  torch::NoGradGuard no_grad;
  ASSERT_TRUE(third.defined());
  EXPECT_TRUE(torch::equal(fit.head->forward(p.x), third));
  EXPECT_THROW(trainer.add_callback(EpochCallback()), std::invalid_argument);
}

TEST(Baselines, RejectsUnknownMethodsAndBadOptions) {
  try {
    BaselineTrainer(BaselineOptions().method("rmsprop"));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("rmsprop"), std::string::npos) << m;
    for (const auto& name : baseline_methods()) EXPECT_NE(m.find(name), std::string::npos) << m;
  }
  EXPECT_THROW(BaselineTrainer(BaselineOptions().epochs(0)), std::invalid_argument);
  EXPECT_THROW(BaselineTrainer(BaselineOptions().hidden_units(0)), std::invalid_argument);
  EXPECT_THROW(BaselineTrainer(BaselineOptions().valid_fraction(1.0)), std::invalid_argument);
  EXPECT_THROW(BaselineTrainer(BaselineOptions().activation("swish")), std::invalid_argument);
  auto p = test::synthetic("squared", 20, 3, 1, 2);
  EXPECT_THROW(BaselineTrainer().fit(p.x, p.y.narrow(0, 0, 10)), std::invalid_argument);
}

TEST(Baselines, TrainsOnEveryDeviceInTheRequestedDtype) {
  auto p = test::synthetic("multinomial", 150, 4, 3, 4);
  for (const auto& device : test::devices()) {
    SCOPED_TRACE(device.str());
    for (const std::string method : {"adam", "lbfgs"}) {
      auto fit =
          BaselineTrainer(
              BaselineOptions().method(method).hidden_units(8).epochs(3).device(device).dtype(
                  torch::kDouble))
              .fit(p.x, p.y);
      EXPECT_EQ(fit.head->hidden_weight.device(), device);
      EXPECT_EQ(fit.head->hidden_weight.scalar_type(), torch::kDouble);
      EXPECT_EQ(fit.head->predict(p.x.to(device)).size(0), 150);
    }
  }
}

// The step-down schedule acts exactly from the epoch after the first one without improvement.
TEST(Baselines, SgdStepsItsRateDownAfterAnEpochWithoutImprovement) {
  auto p = test::synthetic("multinomial", 300, 5, 3, 8);
  const auto o = BaselineOptions()
                     .method("sgd")
                     .hidden_units(16)
                     .lr(0.5)
                     .epochs(30)
                     .patience(0)
                     .valid_fraction(0.2);
  auto plain = BaselineTrainer(BaselineOptions(o).lr_patience(0)).fit(p.x, p.y);
  auto stepped = BaselineTrainer(BaselineOptions(o).lr_patience(1)).fit(p.x, p.y);
  ASSERT_EQ(plain.history.size(), 30u);
  ASSERT_EQ(stepped.history.size(), 30u);
  size_t plateau = 0;  // index of the first epoch whose validation loss is not a new best
  double best = INFINITY;
  for (size_t e = 0; e < plain.history.size() && plateau == 0; ++e) {
    const double v = *plain.history[e].valid_loss;
    if (v < best) {
      best = v;
    } else {
      plateau = e;
    }
  }
  ASSERT_GT(plateau, 0u) << "a rate of 0.5 should give an epoch without improvement";
  ASSERT_LT(plateau + 1, plain.history.size());
  for (size_t e = 0; e <= plateau; ++e)
    EXPECT_EQ(plain.history[e].train_loss, stepped.history[e].train_loss) << "epoch " << e + 1;
  EXPECT_NE(plain.history[plateau + 1].train_loss, stepped.history[plateau + 1].train_loss);
  EXPECT_THROW(BaselineTrainer(BaselineOptions().lr_patience(-2)), std::invalid_argument);
}
