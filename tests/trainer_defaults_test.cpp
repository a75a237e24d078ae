// The option table, presets, the automatic stage width and regression on standardised targets.
#include <boosthead/baselines.h>
#include <boosthead/trainer.h>
#include <boosthead/trainer_options.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "data/test_helpers.h"
#include "test_util.h"

using namespace boosthead;

namespace {

torch::Tensor outputs(const BoostedHead& head, const torch::Tensor& x) {
  torch::NoGradGuard ng;
  return head->forward(x);
}

// Largest difference relative to the largest magnitude of `b`.
double relative_gap(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

}  // namespace

namespace {

// A value of the option's type other than its default.
OptionValue another_value(const OptionInfo& info) {
  if (info.name == "activation") return std::string("tanh");
  if (info.name == "loss") return std::string("squared");
  if (info.name == "solver") return std::string("lbfgs");
  switch (info.type) {
    case OptionType::kBool:
      return !std::get<bool>(info.get(TrainerOptions()));
    case OptionType::kInt:
      return int64_t{7};
    case OptionType::kFloat:
      return 0.375;
    case OptionType::kDevice:
      return std::string("cpu");
    case OptionType::kDType:
      return std::string("float64");
    default:
      return std::string("run.ckpt");
  }
}

}  // namespace

TEST(OptionTable, EachOptionReadsAndWritesItsOwnFieldOnly) {
  const auto& table = trainer_option_table();
  ASSERT_EQ(table.size(), 19u);
  for (const auto& info : table) {
    SCOPED_TRACE(info.name);
    TrainerOptions o;
    const auto value = another_value(info);
    info.set(o, value);
    EXPECT_EQ(info.get(o), value);
    EXPECT_NO_THROW(validate_options(o));
    for (const auto& other : table) {
      if (&other != &info) EXPECT_EQ(other.get(o), other.get(TrainerOptions())) << other.name;
    }
    EXPECT_EQ(find_trainer_option(info.name), &info);
  }
  EXPECT_EQ(find_trainer_option("stage"), nullptr);
}

TEST(OptionTable, ValuesOfAnotherTypeOrOutOfRangeAreNamedErrors) {
  TrainerOptions o;
  const auto& stages = *find_trainer_option("stages");
  EXPECT_ERROR_HAS(stages.set(o, 2.5), "option 'stages' must be an int, got 2.5");
  find_trainer_option("shrinkage")->set(o, int64_t{1});  // an int is a float
  EXPECT_DOUBLE_EQ(o.shrinkage(), 1.0);
  EXPECT_ERROR_HAS(find_trainer_option("seed")->set(o, int64_t{-1}), "'seed' must be non-negative");
  EXPECT_ERROR_HAS(find_trainer_option("device")->set(o, std::string("gpu7")),
                   "'gpu7' is not a device");
  EXPECT_ERROR_HAS(find_trainer_option("dtype")->set(o, std::string("int8")), "got 'int8'");
  find_trainer_option("dtype")->set(o, OptionValue());
  EXPECT_FALSE(o.dtype().has_value());
  stages.set(o, int64_t{0});
  EXPECT_ERROR_HAS(validate_options(o), "stages must be at least 1, got 0");
  EXPECT_ERROR_HAS(validate_options(TrainerOptions().loss("hinge")), "hinge");
  EXPECT_ERROR_HAS(validate_options(TrainerOptions().num_classes(-2)), "num_classes");
}

TEST(OptionTable, FingerprintHoldsTheOptionsThatChangeTheStages) {
  const auto base = fingerprinted_options(TrainerOptions());
  EXPECT_EQ(base,
            "shrinkage=0.2 subsample=0.8 max_iter=25 activation=relu solver=varpro l2=0.0001 "
            "seed=0");
  // More stages continue the same fit; another step size does not.
  EXPECT_EQ(fingerprinted_options(TrainerOptions().stages(500)), base);
  EXPECT_NE(fingerprinted_options(TrainerOptions().shrinkage(0.1)), base);
}

TEST(Presets, DefaultIsTrainerOptionsAndPaperIsThePublishedReference) {
  const auto d = trainer_preset("default");
  const TrainerOptions o;
  EXPECT_EQ(d.stages(), o.stages());
  EXPECT_EQ(d.units_per_stage(), o.units_per_stage());
  EXPECT_EQ(d.activation(), o.activation());
  EXPECT_EQ(d.solver(), o.solver());
  EXPECT_EQ(d.standardize_targets(), o.standardize_targets());

  const auto p = trainer_preset("paper");
  EXPECT_EQ(p.stages(), 200);
  EXPECT_EQ(p.units_per_stage(), 1);
  EXPECT_DOUBLE_EQ(p.shrinkage(), 0.1);
  EXPECT_DOUBLE_EQ(p.subsample(), 0.5);
  EXPECT_EQ(p.max_iter(), 200);
  EXPECT_EQ(p.activation(), "sigmoid");
  EXPECT_EQ(p.solver(), "lbfgs");
  EXPECT_DOUBLE_EQ(p.l2(), 1e-4);
  EXPECT_DOUBLE_EQ(p.valid_fraction(), 0.0);
  EXPECT_EQ(p.patience(), 0);
  EXPECT_FALSE(p.standardize_targets());
  EXPECT_EQ(trainer_presets(), (std::vector<std::string>{"default", "paper"}));
}

TEST(Presets, UnknownNameListsTheKnownOnes) {
  try {
    trainer_preset("fast");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'fast'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("paper"), std::string::npos) << e.what();
  }
}

TEST(Presets, OptionsSetOnAPresetWinOverIt) {
  auto p = test::synthetic("multinomial", 150, 4, 3, 1);
  auto fit = Trainer(trainer_preset("paper").stages(4).units_per_stage(3)).fit(p.x, p.y);
  EXPECT_EQ(fit.head->num_stages(), 4);
  EXPECT_EQ(fit.head->units_per_stage(), 3);
  EXPECT_EQ(fit.head->activation(), Activation::Sigmoid);  // the preset's
}

TEST(AutoWidth, UnitsPerStageFollowTheHeadsOutputs) {
  EXPECT_EQ(auto_units_per_stage(1), kAutoUnitsPerOutput);
  EXPECT_EQ(auto_units_per_stage(7), 7 * kAutoUnitsPerOutput);
  const auto o = TrainerOptions().stages(2).units_per_stage(0);
  for (const auto& [kind, classes, outputs] :
       {std::tuple<std::string, int64_t, int64_t>{"squared", 1, 1},
        {"binary_logistic", 2, 1},
        {"multinomial", 5, 5}}) {
    SCOPED_TRACE(kind);
    auto p = test::synthetic(kind, 200, 4, classes, 2);
    auto fit = Trainer(o).fit(p.x, p.y);
    EXPECT_EQ(fit.head->num_outputs(), outputs);
    EXPECT_EQ(fit.head->units_per_stage(), kAutoUnitsPerOutput * outputs);
  }
  EXPECT_THROW(
      Trainer(TrainerOptions().units_per_stage(-1)).fit(torch::randn({4, 2}), torch::randn({4})),
      std::invalid_argument);
}

// The same data with the target in other units gives the same model, in those units. Few solver
// iterations per stage: long L-BFGS runs amplify the last-bit differences of the two scalings.
TEST(TargetScale, RegressionDoesNotDependOnTheTargetsUnits) {
  auto p = test::synthetic("squared", 300, 5, 1, 4);
  const auto x = p.x.to(torch::kDouble);
  const auto y = p.y.to(torch::kDouble).squeeze(1);
  const auto o = TrainerOptions().stages(15).units_per_stage(3).max_iter(5).dtype(torch::kDouble);
  auto small = Trainer(o).fit(x, y);
  auto large = Trainer(o).fit(x, 2500.0 * y + 40000.0);
  EXPECT_LT(relative_gap(outputs(large.head, x), 2500.0 * outputs(small.head, x) + 40000.0), 1e-9);
  EXPECT_NEAR(large.target_scale, 2500.0 * small.target_scale, 1e-9 * large.target_scale);

  // Without standardisation the large target is fitted differently (and worse): the L2
  // penalty and the initial weights meet other magnitudes.
  auto raw = Trainer(TrainerOptions(o).standardize_targets(false)).fit(x, 2500.0 * y + 40000.0);
  EXPECT_GT(relative_gap(outputs(raw.head, x), outputs(large.head, x)), 1e-4);
  EXPECT_FALSE(raw.target_shift.defined());
}

TEST(TargetScale, HistoryAndHeadAreInTheTargetsUnits) {
  auto p = test::synthetic("squared", 240, 4, 2, 5);
  const auto x = p.x.to(torch::kDouble);
  auto y = p.y.to(torch::kDouble);
  y.select(1, 1).mul_(100.0).add_(7.0);  // two columns of different magnitude
  auto fit = Trainer(TrainerOptions().stages(6).valid_fraction(0.25).keep_best(false).dtype(
                         torch::kDouble))
                 .fit(x, y);
  // One scale for both columns (the root of their mean variance), one shift per column.
  const auto [train, valid] = split_indices(240, 0.25, 0);
  const auto y_train = y.index_select(0, train);
  EXPECT_NEAR(fit.target_scale, std::sqrt(y_train.var(0, false).mean().item<double>()), 1e-9);
  EXPECT_TRUE(torch::allclose(fit.target_shift, y_train.mean(0)));
  const auto& last = fit.history.back();
  const auto f_valid = outputs(fit.head, x.index_select(0, valid));
  const auto y_valid = y.index_select(0, valid);
  EXPECT_NEAR(*last.valid_metric, std::sqrt((f_valid - y_valid).pow(2).mean().item<double>()),
              1e-9 * *last.valid_metric);
  EXPECT_NEAR(*last.valid_loss, 0.5 * (f_valid - y_valid).pow(2).sum(1).mean().item<double>(),
              1e-9 * *last.valid_loss);
}

TEST(TargetScale, WarmStartContinuesTheHeadInItsUnits) {
  auto p = test::synthetic("squared", 200, 3, 1, 6);
  const auto x = p.x.to(torch::kDouble);
  const auto y = 300.0 * p.y.to(torch::kDouble).squeeze(1) + 50.0;
  const auto o = TrainerOptions().stages(4).units_per_stage(2).dtype(torch::kDouble);
  auto first = Trainer(o).fit(x, y);
  auto more = Trainer(TrainerOptions(o).init_head(first.head)).fit(x, y);
  EXPECT_EQ(more.head->num_stages(), 8);
  EXPECT_TRUE(
      torch::allclose(outputs(first.head, x), more.head->forward(x, 4).detach(), 1e-9, 1e-9));
  EXPECT_LT(more.history.back().train_loss, first.history.back().train_loss);
}

TEST(TargetScale, BaselinesDoNotDependOnTheTargetsUnitsEither) {
  auto p = test::synthetic("squared", 200, 4, 1, 7);
  const auto x = p.x.to(torch::kDouble);
  const auto y = p.y.to(torch::kDouble).squeeze(1);
  const auto o =
      BaselineOptions().method("adam").hidden_units(8).epochs(5).valid_fraction(0.0).dtype(
          torch::kDouble);
  auto small = BaselineTrainer(o).fit(x, y);
  auto large = BaselineTrainer(o).fit(x, 1000.0 * y - 3.0);
  EXPECT_LT(relative_gap(outputs(large.head, x), 1000.0 * outputs(small.head, x) - 3.0), 1e-6);
  EXPECT_NEAR(large.history.back().train_loss, 1e6 * small.history.back().train_loss,
              1e-6 * large.history.back().train_loss);
}
