#include <boosthead/data/csv.h>
#include <boosthead/data/encoder.h>
#include <boosthead/data/standardizer.h>
#include <boosthead/loss.h>
#include <boosthead/standardized_fit.h>
#include <boosthead/trainer.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "data/test_helpers.h"
#include "fit_inputs.h"
#include "test_util.h"

using namespace boosthead;

namespace {

struct Split {
  torch::Tensor x_train, y_train, x_test, y_test;
};

// Reads a bundled CSV, encodes it, and splits it 2:1 (stratified for classes), standardising
// on the training part only.
Split load_split(const std::string& file, const std::string& target, uint64_t seed = 0) {
  auto table = data::read_csv(std::string(BOOSTHEAD_DATA_DIR) + "/" + file);
  std::vector<std::string> features;
  for (const auto& c : table.columns)
    if (c != target) features.push_back(c);
  auto rows = data::rows_with_missing(table, table.columns);
  if (!rows.empty()) {
    std::vector<int64_t> keep;
    for (int64_t i = 0, m = 0; i < table.num_rows(); ++i) {
      if (m < static_cast<int64_t>(rows.size()) && rows[m] == i) {
        ++m;
        continue;
      }
      keep.push_back(i);
    }
    table = table.select_rows(keep);
  }
  auto enc = data::FeatureEncoder::fit(table, features);
  auto x = enc.transform(table);
  auto tenc = data::fit_target(table, target);
  auto y = data::encode_target(table, target, tenc);
  auto split = split_indices(x.size(0), 1.0 / 3, seed, tenc.classification ? y : torch::Tensor());
  auto std = data::Standardizer::fit(x.index_select(0, split.first));
  return {std.transform(x.index_select(0, split.first)), y.index_select(0, split.first),
          std.transform(x.index_select(0, split.second)), y.index_select(0, split.second)};
}

double test_score(const FitResult& fit, const Split& s, int64_t stages = -1) {
  torch::NoGradGuard ng;
  return score_metric(fit.head->loss(), fit.head->forward(s.x_test, stages), s.y_test);
}

}  // namespace

// The recorded validation accuracy is the accuracy of the head trained so far on those rows.
TEST(Trainer, RecordedValidationMetricIsTheHeadsAccuracy) {
  auto p = test::synthetic("multinomial", 400, 5, 4, 2);
  auto x = p.x.narrow(0, 0, 300), y = p.y.narrow(0, 0, 300);
  auto xv = p.x.narrow(0, 300, 100), yv = p.y.narrow(0, 300, 100);
  auto fit = Trainer(TrainerOptions().stages(6).max_iter(30).shrinkage(0.5).keep_best(false))
                 .fit(x, y, xv, yv);
  ASSERT_EQ(fit.history.size(), 6u);
  torch::NoGradGuard ng;
  for (int64_t t : {1, 6}) {
    auto acc = (fit.head->forward(xv, t).argmax(1) == yv).to(torch::kDouble).mean();
    ASSERT_TRUE(fit.history[t - 1].valid_metric);
    EXPECT_NEAR(*fit.history[t - 1].valid_metric, acc.item<double>(), 1.5 / 100) << t;
  }
}

TEST(Trainer, FusedHeadReproducesTheTrainingLossOfTheStagedSum) {
  for (const std::string loss : {"squared", "binary_logistic", "multinomial"}) {
    auto p = test::synthetic(loss, 300, 5, loss == "multinomial" ? 4 : 2, 1);
    for (int64_t j : {1, 3}) {
      auto fit = Trainer(TrainerOptions().stages(8).units_per_stage(j).max_iter(50).shrinkage(0.5))
                     .fit(p.x, p.y);
      ASSERT_EQ(fit.head->num_stages(), 8);
      auto l = make_loss(fit.head->loss());
      auto y = l->prepare_targets(p.y, fit.head->num_outputs(), torch::kFloat);
      torch::NoGradGuard ng;
      // The trainer accumulates F stage by stage; the fused network must give the same loss.
      EXPECT_NEAR(l->value(fit.head->forward(p.x), y), fit.history.back().train_loss, 1e-5)
          << loss << " J=" << j;
      // The recorded training accuracy is that of the fused network's argmax (one row may fall
      // the other way where float32 rounding of the staged and fused sums breaks a near tie).
      if (loss == "multinomial") {
        auto acc = (fit.head->forward(p.x).argmax(1) == p.y).to(torch::kDouble).mean();
        EXPECT_NEAR(fit.history.back().train_metric, acc.item<double>(), 1.5 / 300) << " J=" << j;
      }
    }
  }
}

TEST(Trainer, TrainingLossNeverIncreases) {
  for (const auto& solver : stage_solver_names()) {
    auto p = test::synthetic("multinomial", 200, 4, 3, 2);
    auto fit = Trainer(TrainerOptions().stages(10).max_iter(40).solver(solver)).fit(p.x, p.y);
    double prev = 1e300;
    for (const auto& r : fit.history) {
      EXPECT_LE(r.train_loss, prev + 1e-9) << solver << " stage " << r.stage;
      prev = r.train_loss;
    }
    EXPECT_GT(fit.history.back().train_metric, 0.6) << solver;
  }
}

TEST(Trainer, TruncationEqualsAShorterFitWithTheSameSeed) {
  auto p = test::synthetic("multinomial", 250, 6, 3, 3);
  auto opts = TrainerOptions().stages(12).units_per_stage(2).max_iter(60).seed(11);
  auto full = Trainer(opts).fit(p.x, p.y);
  auto opts5 = opts;
  opts5.stages(5);
  auto part = Trainer(opts5).fit(p.x, p.y);
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::allclose(full.head->forward(p.x, 5), part.head->forward(p.x), 1e-5, 1e-5));
}

TEST(Trainer, SameSeedSameModelOtherSeedOtherModel) {
  auto p = test::synthetic("squared", 200, 4, 2, 4);
  auto opts = TrainerOptions().stages(6).max_iter(30).seed(5);
  auto a = Trainer(opts).fit(p.x, p.y), b = Trainer(opts).fit(p.x, p.y);
  EXPECT_TRUE(torch::equal(a.head->hidden_weight, b.head->hidden_weight));
  EXPECT_TRUE(torch::equal(a.head->output_weight, b.head->output_weight));
  auto opts2 = opts;
  opts2.seed(6);
  auto c = Trainer(opts2).fit(p.x, p.y);
  EXPECT_FALSE(torch::equal(a.head->hidden_weight, c.head->hidden_weight));
}

TEST(Trainer, ValidationSplitEarlyStoppingAndKeepBest) {
  // Noisy labels: validation loss turns up long before 150 stages of eta = 1.
  auto p = test::synthetic("binary_logistic", 240, 5, 2, 5);
  auto flip = torch::rand({240}) < 0.3;
  auto y = torch::where(flip, 1 - p.y, p.y);
  auto fit = Trainer(TrainerOptions()
                         .stages(150)
                         .units_per_stage(4)
                         .shrinkage(1.0)
                         .valid_fraction(0.3)
                         .patience(5)
                         .seed(1))
                 .fit(p.x, y);
  EXPECT_EQ(fit.stop_reason, "early_stopping");
  EXPECT_LT(fit.stages_trained, 150);
  EXPECT_EQ(fit.stages_trained - fit.best_stages, 5);
  EXPECT_EQ(fit.head->num_stages(), fit.best_stages);
  ASSERT_TRUE(fit.history.front().valid_loss.has_value());
  for (const auto& r : fit.history)
    EXPECT_GE(*r.valid_loss, *fit.history[fit.best_stages - 1].valid_loss);
}

TEST(Trainer, PatienceWithoutAValidationSetIsRefused) {
  auto p = test::synthetic("binary_logistic", 60, 3, 2, 5);
  EXPECT_ERROR_HAS(Trainer(TrainerOptions().stages(5).patience(3)).fit(p.x, p.y),
                   "patience 3 needs a validation set");
  EXPECT_NO_THROW(
      Trainer(TrainerOptions().stages(2).patience(3).valid_fraction(0.3)).fit(p.x, p.y));
  EXPECT_ERROR_HAS(validate_options(TrainerOptions().valid_fraction(1.0)),
                   "valid_fraction must be in [0, 1), got 1");
  EXPECT_ERROR_HAS(validate_options(TrainerOptions().subsample(0.0)),
                   "subsample must be in (0, 1], got 0");
  EXPECT_NO_THROW(validate_options(TrainerOptions()));
}

TEST(Trainer, StratifiedSplitKeepsClassProportions) {
  auto labels = torch::cat({torch::zeros({90}, torch::kLong), torch::ones({30}, torch::kLong)});
  auto split = split_indices(120, 0.25, 3, labels);
  // Each class contributes round(0.25 * its count): 23 of 90 and 8 of 30.
  EXPECT_EQ(split.second.numel(), 31);
  EXPECT_EQ(split.first.numel(), 89);
  EXPECT_EQ(labels.index_select(0, split.second).sum().item<int64_t>(), 8);
  EXPECT_THROW(split_indices(3, 0.1, 0), std::invalid_argument);
}

TEST(Trainer, CallbacksSeeEveryStageAndCanStop) {
  auto p = test::synthetic("squared", 100, 3, 1, 6);
  std::vector<int64_t> seen;
  Trainer trainer(TrainerOptions().stages(20).max_iter(20));
  trainer.add_callback(
      std::make_shared<LambdaCallback>([&](const StageRecord& r, const BoostedHeadImpl& h) {
        seen.push_back(r.stage);
        EXPECT_EQ(h.num_stages(), r.stage);
        return r.stage < 4;
      }));
  auto fit = trainer.fit(p.x, p.y);
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(fit.stop_reason, "callback");
  EXPECT_EQ(fit.head->num_stages(), 4);
}

TEST(Trainer, RejectsBadInputWithNamedErrors) {
  auto p = test::synthetic("multinomial", 50, 3, 3, 7);
  auto expect_error = [](auto fn, const std::string& part) {
    try {
      fn();
      ADD_FAILURE() << "expected an error containing: " << part;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto opts = TrainerOptions().stages(2).max_iter(5);
  auto bad = p.x.clone();
  bad[4][1] = NAN;
  expect_error([&] { Trainer(opts).fit(bad, p.y); }, "row 4, column 1");
  expect_error([&] { Trainer(opts).fit(p.x.unsqueeze(0), p.y); }, "expected 2-D features");
  expect_error([&] { Trainer(opts).fit(p.x, p.y.narrow(0, 0, 40)); }, "40 rows");
  expect_error([&] { Trainer(opts).fit(p.x, torch::zeros({50}, torch::kLong)); },
               "at least two classes");
  expect_error([&] { Trainer(opts).fit(p.x.narrow(0, 0, 0), p.y.narrow(0, 0, 0)); }, "no rows");
  auto o2 = opts;
  expect_error([&] { Trainer(o2.solver("newton")).fit(p.x, p.y); },
               "unknown stage solver 'newton'");
  auto o3 = opts;
  expect_error([&] { Trainer(o3.activation("gelu")).fit(p.x, p.y); }, "gelu");
  auto o4 = opts;
  expect_error([&] { Trainer(o4.subsample(0)).fit(p.x, p.y); }, "subsample");
  auto o5 = opts;
  expect_error(
      [&] { Trainer(o5.valid_fraction(0.01)).fit(p.x.narrow(0, 0, 10), p.y.narrow(0, 0, 10)); },
      "too few rows");
  if (!torch::cuda::is_available()) {
    auto o6 = opts;
    expect_error([&] { Trainer(o6.device(torch::Device(torch::kCUDA))).fit(p.x, p.y); },
                 "no CUDA device");
  }
}

TEST(Trainer, TrainsOnTheInputDeviceAndDtype) {
  for (auto device : test::devices()) {
    auto p = test::synthetic("squared", 120, 3, 2, 8);
    auto x = p.x.to(device, torch::kDouble), y = p.y.to(device, torch::kDouble);
    auto fit = Trainer(TrainerOptions().stages(3).max_iter(20)).fit(x, y);
    EXPECT_EQ(fit.head->hidden_weight.device(), device);
    EXPECT_EQ(fit.head->hidden_weight.scalar_type(), torch::kDouble);
  }
}

// Real data: scores stated here are well below what the defaults reach (see docs/BENCHMARKS.md),
// so they fail only when training is broken.
TEST(TrainerRealData, BostonHousingRegression) {
  auto s = load_split("BostonHousing.csv", "medv");
  auto fit = Trainer(TrainerOptions().stages(100).shrinkage(0.1)).fit(s.x_train, s.y_train);
  const double rmse = test_score(fit, s);
  const double baseline = s.y_test.std(/*unbiased=*/false).item<double>();
  EXPECT_LT(rmse, 4.5) << "baseline (predict the mean) " << baseline;
  // Anytime: fewer stages are worse but still usable.
  EXPECT_GT(test_score(fit, s, 5), rmse);
}

TEST(TrainerRealData, IonosphereBinary) {
  auto s = load_split("Ionosphere.csv", "Class");
  auto fit = Trainer(TrainerOptions().stages(100)).fit(s.x_train, s.y_train);
  EXPECT_EQ(fit.head->loss(), "binary_logistic");
  EXPECT_GT(test_score(fit, s), 0.88);
}

TEST(TrainerRealData, VehicleMulticlass) {
  auto s = load_split("Vehicle.csv", "Class");
  auto fit = Trainer(TrainerOptions().stages(100).units_per_stage(2)).fit(s.x_train, s.y_train);
  EXPECT_EQ(fit.head->loss(), "multinomial");
  EXPECT_GT(test_score(fit, s), 0.74);
}

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("boosthead_" + name)).string();
}

}  // namespace

TEST(TrainerCheckpoint, InterruptedAndResumedFitEqualsAnUninterruptedOne) {
  auto p = test::synthetic("multinomial", 200, 5, 3, 21);
  const auto path = temp_path("resume.ckpt");
  std::remove(path.c_str());
  auto opts =
      TrainerOptions().stages(10).units_per_stage(2).max_iter(40).seed(3).valid_fraction(0.2);
  auto full = Trainer(opts).fit(p.x, p.y);

  auto with_ckpt = opts;
  with_ckpt.checkpoint(path).resume(true);
  Trainer first(with_ckpt);
  first.add_callback(std::make_shared<LambdaCallback>(
      [](const StageRecord& r, const BoostedHeadImpl&) { return r.stage < 4; }));
  auto part = first.fit(p.x, p.y);
  ASSERT_EQ(part.stages_trained, 4);
  ASSERT_TRUE(std::filesystem::exists(path));

  auto resumed = Trainer(with_ckpt).fit(p.x, p.y);
  EXPECT_EQ(resumed.stages_resumed, 4);
  EXPECT_EQ(resumed.history.size(), full.history.size());
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::allclose(resumed.head->forward(p.x), full.head->forward(p.x), 1e-6, 1e-6));
  EXPECT_EQ(resumed.head->num_stages(), full.head->num_stages());

  // A checkpoint of other data is refused rather than silently mixed in.
  try {
    Trainer(with_ckpt).fit(p.x * 2, p.y);
    ADD_FAILURE() << "expected a checkpoint mismatch";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("belongs to another fit"), std::string::npos);
  }
  // So is one made with another value of an option that changes the stages (the table's
  // fingerprinted options), naming it.
  try {
    Trainer(TrainerOptions(with_ckpt).shrinkage(0.5)).fit(p.x, p.y);
    ADD_FAILURE() << "expected a checkpoint mismatch";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("shrinkage=0.5"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(TrainerCheckpoint, CorruptCheckpointIsANamedError) {
  auto p = test::synthetic("squared", 50, 3, 1, 22);
  const auto path = temp_path("corrupt.ckpt");
  { std::ofstream(path) << "garbage"; }
  try {
    Trainer(TrainerOptions().stages(2).checkpoint(path).resume(true)).fit(p.x, p.y);
    ADD_FAILURE() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(TrainerWarmStart, AddsStagesAndKeepsTheOnesItHas) {
  auto p = test::synthetic("binary_logistic", 200, 4, 2, 23);
  auto base = Trainer(TrainerOptions().stages(5).units_per_stage(2).max_iter(30)).fit(p.x, p.y);
  auto more =
      Trainer(TrainerOptions().stages(3).max_iter(30).seed(9).init_head(base.head)).fit(p.x, p.y);
  EXPECT_EQ(more.head->num_stages(), 8);
  EXPECT_EQ(more.stages_resumed, 5);
  EXPECT_EQ(more.history.front().stage, 6);
  EXPECT_TRUE(torch::equal(more.head->hidden_weight.narrow(0, 0, 10), base.head->hidden_weight));
  EXPECT_LE(more.history.back().train_loss, base.history.back().train_loss);
  EXPECT_EQ(base.head->num_stages(), 5);  // the initial head is not modified
}

namespace {

class NanSolver final : public StageSolver {
 public:
  std::string name() const override { return "nan_for_tests"; }
  SolverReport fit(const torch::Tensor&, const torch::Tensor&, const StageProblem&,
                   StageParams& p) override {
    p.w1.fill_(std::nan(""));
    return {1, 1, std::nan("")};
  }
};

}  // namespace

TEST(TrainerDivergence, NonFiniteStagesAreRejectedAndTheModelStaysFinite) {
  register_stage_solver("nan_for_tests", [] { return std::make_unique<NanSolver>(); });
  auto p = test::synthetic("squared", 80, 3, 1, 24);
  auto fit = Trainer(TrainerOptions().stages(5).solver("nan_for_tests")).fit(p.x, p.y);
  EXPECT_EQ(fit.stop_reason, "no_progress");
  EXPECT_EQ(fit.head->num_stages(), 0);
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::isfinite(fit.head->forward(p.x)).all().item<bool>());
}

// all_finite checks every stage's weights and outputs: each kind of non-finite value at either
// end or in the middle is found; the extreme finite values are not mistaken for one.
TEST(FitInputs, AllFiniteFindsEveryNonFiniteValue) {
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    auto x = torch::randn({37, 5}, dtype);
    x[0][0] = std::numeric_limits<double>::denorm_min();
    x[1][1] = -0.0;
    x[2][2] = dtype == torch::kFloat ? std::numeric_limits<float>::max()
                                     : std::numeric_limits<double>::max();
    x[3][3] = -x[2][2].item<double>();
    EXPECT_TRUE(boosthead::detail::all_finite(x)) << dtype;
    EXPECT_TRUE(boosthead::detail::all_finite(x.t())) << dtype;  // not contiguous
    const double inf = std::numeric_limits<double>::infinity();
    for (double bad : {std::nan(""), inf, -inf}) {
      for (int64_t at : {int64_t{0}, int64_t{92}, x.numel() - 1}) {
        auto y = x.clone();
        y.view(-1)[at] = bad;
        EXPECT_FALSE(boosthead::detail::all_finite(y)) << dtype << " " << bad << " at " << at;
        EXPECT_FALSE(boosthead::detail::all_finite(y.t())) << dtype << " " << bad << " at " << at;
      }
    }
  }
}

TEST(StandardizedFit, SplitsThenStandardisesWithTheTrainingRowsOnly) {
  auto p = test::synthetic("multinomial", 200, 4, 3, 8);
  // Columns on very different scales, as raw tabular data has them.
  auto x = (p.x.to(torch::kDouble) * torch::tensor({1.0, 100.0, 0.01, 5.0}, torch::kDouble)) + 3.0;
  const auto options = TrainerOptions().stages(8).units_per_stage(2).valid_fraction(0.25).seed(4);
  Trainer trainer(options);
  const auto got = fit_standardized(trainer, x, p.y);
  // The same steps by hand: the trainer's own split, statistics of the training rows.
  const auto [train, valid] = split_indices(200, 0.25, 4, p.y);
  const auto s = data::Standardizer::fit(x.index_select(0, train));
  EXPECT_TRUE(torch::allclose(got.standardizer.mean, s.mean));
  EXPECT_TRUE(torch::allclose(got.standardizer.scale, s.scale));
  EXPECT_EQ(got.train_rows, train.numel());
  EXPECT_EQ(got.valid_rows, valid.numel());
  const auto by_hand =
      Trainer(options).fit(s.transform(x.index_select(0, train)), p.y.index_select(0, train),
                           s.transform(x.index_select(0, valid)), p.y.index_select(0, valid));
  EXPECT_TRUE(torch::equal(got.fit.head->hidden_weight, by_hand.head->hidden_weight));
  EXPECT_TRUE(torch::equal(got.fit.head->output_bias, by_hand.head->output_bias));
  // float32 unless the trainer has a dtype.
  EXPECT_EQ(got.fit.head->hidden_weight.scalar_type(), torch::kFloat);
  // A given standardiser is used as it is, and errors stay the trainer's.
  Trainer plain(TrainerOptions().stages(2));
  EXPECT_TRUE(torch::equal(fit_standardized(plain, x, p.y, &s).standardizer.mean, s.mean));
  EXPECT_THROW(fit_standardized(plain, x, p.y.narrow(0, 0, 10)), std::invalid_argument);
}
