#include <boosthead/head.h>
#include <boosthead/loss.h>
#include <gtest/gtest.h>

#include "test_util.h"

using namespace boosthead;

namespace {

struct Built {
  BoostedHead head{nullptr};
  std::vector<StageParams> stages;
  std::vector<double> scales;
  torch::Tensor f0;
};

Built build(const std::string& loss, int64_t d, int64_t j, int64_t k, int64_t t, Activation act,
            torch::Device device = torch::kCPU) {
  const auto opt = torch::TensorOptions().device(device);
  Built b;
  b.f0 = torch::randn({k}, opt);
  b.head = BoostedHead(d, j, act, loss, b.f0);
  for (int64_t s = 0; s < t; ++s) {
    StageParams p{torch::randn({j, d}, opt), torch::randn({j}, opt), torch::randn({k, j}, opt),
                  torch::randn({k}, opt)};
    const double scale = 0.1 + 0.05 * s;
    b.head->append_stage(p, scale);
    b.stages.push_back(p);
    b.scales.push_back(scale);
  }
  return b;
}

torch::Tensor staged_sum(const Built& b, const torch::Tensor& x, int64_t t, Activation act) {
  auto f = b.f0.unsqueeze(0).expand({x.size(0), b.f0.numel()}).clone();
  for (int64_t s = 0; s < t; ++s) f += b.scales[s] * b.stages[s].forward(x, act);
  return f;
}

}  // namespace

TEST(BoostedHead, FusedOutputEqualsTheStagedSum) {
  torch::manual_seed(0);
  for (auto device : test::devices()) {
    for (const std::string loss : {"squared", "binary_logistic", "multinomial"}) {
      const int64_t k = loss == "multinomial" ? 5 : (loss == "squared" ? 2 : 1);
      for (int64_t j : {1, 2, 4}) {
        for (auto act : {Activation::Sigmoid, Activation::Tanh, Activation::Relu}) {
          auto b = build(loss, 7, j, k, 12, act, device);
          auto x = torch::randn({33, 7}, torch::TensorOptions().device(device));
          auto fused = b.head->forward(x);
          EXPECT_EQ(b.head->num_stages(), 12);
          EXPECT_EQ(b.head->hidden_weight.size(0), 12 * j);
          EXPECT_TRUE(torch::allclose(fused, staged_sum(b, x, 12, act), 1e-5, 1e-5))
              << loss << " J=" << j;
          for (int64_t t : {0, 1, 5, 11}) {
            EXPECT_TRUE(
                torch::allclose(b.head->forward(x, t), staged_sum(b, x, t, act), 1e-5, 1e-5))
                << loss << " J=" << j << " t=" << t;
          }
        }
      }
    }
  }
}

TEST(BoostedHead, AnytimeForwardSharesWeightsAndTruncateMatchesIt) {
  torch::manual_seed(1);
  auto b = build("multinomial", 4, 3, 3, 10, Activation::Sigmoid);
  auto x = torch::randn({20, 4});
  auto before = b.head->forward(x, 6);
  const auto* data = b.head->hidden_weight.data_ptr<float>();
  b.head->forward(x, 3);
  EXPECT_EQ(b.head->hidden_weight.data_ptr<float>(), data);
  b.head->truncate(6);
  EXPECT_EQ(b.head->num_stages(), 6);
  EXPECT_TRUE(torch::allclose(b.head->forward(x), before, 1e-5, 1e-5));
  // Parameters stay registered after truncation.
  EXPECT_EQ(b.head->named_parameters()["hidden_weight"].size(0), 18);
}

TEST(BoostedHead, PredictionsFollowTheLink) {
  torch::manual_seed(2);
  auto x = torch::randn({15, 4});
  auto bin = build("binary_logistic", 4, 1, 1, 5, Activation::Tanh);
  auto p = bin.head->predict_proba(x);
  ASSERT_EQ(p.sizes(), torch::IntArrayRef({15, 2}));
  EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({15})));
  EXPECT_TRUE(torch::equal(bin.head->predict(x), p.argmax(1)));
  EXPECT_EQ(bin.head->num_classes(), 2);
  auto multi = build("multinomial", 4, 2, 6, 5, Activation::Relu);
  EXPECT_TRUE(torch::equal(multi.head->predict(x), multi.head->predict_proba(x).argmax(1)));
  EXPECT_EQ(multi.head->num_classes(), 6);
  auto reg = build("squared", 4, 2, 3, 5, Activation::Relu);
  EXPECT_TRUE(torch::allclose(reg.head->predict(x), reg.head->forward(x)));
  EXPECT_EQ(reg.head->num_classes(), 0);
}

// A registered classification loss of the user's: the head asks the loss for its classes,
// probabilities and predictions, through the Loss defaults where it does not override them.
TEST(BoostedHead, ALossOfTheUsersDecidesClassesAndPredictions) {
  struct SoftmaxOnly : Loss {
    std::unique_ptr<Loss> base = make_loss("multinomial");
    std::string name() const override { return "softmax_only"; }
    bool is_classification() const override { return true; }
    int64_t num_outputs(const torch::Tensor& y, int64_t c) const override {
      return base->num_outputs(y, c);
    }
    torch::Tensor prepare_targets(const torch::Tensor& y, int64_t k,
                                  torch::ScalarType t) const override {
      return base->prepare_targets(y, k, t);
    }
    torch::Tensor initial_score(const torch::Tensor& y) const override {
      return base->initial_score(y);
    }
    torch::Tensor pseudo_residuals(const torch::Tensor& f, const torch::Tensor& y) const override {
      return base->pseudo_residuals(f, y);
    }
    double newton_step(const torch::Tensor& f, const torch::Tensor& y,
                       const torch::Tensor& h) const override {
      return base->newton_step(f, y, h);
    }
    torch::Tensor row_loss(const torch::Tensor& f, const torch::Tensor& y) const override {
      return base->row_loss(f, y);
    }
    torch::Tensor link(const torch::Tensor& f) const override { return torch::softmax(f, -1); }
  };
  register_loss("softmax_only", [] { return std::make_unique<SoftmaxOnly>(); });
  torch::manual_seed(3);
  auto x = torch::randn({20, 4});
  auto mine = build("softmax_only", 4, 2, 5, 4, Activation::Tanh);
  EXPECT_EQ(mine.head->num_classes(), 5);
  EXPECT_TRUE(
      torch::allclose(mine.head->predict_proba(x), torch::softmax(mine.head->forward(x), -1)));
  EXPECT_TRUE(torch::equal(mine.head->predict(x), mine.head->forward(x).argmax(1)));
  EXPECT_EQ(mine.head->predict(x).scalar_type(), torch::kLong);
}

TEST(BoostedHead, RejectsBadInput) {
  auto b = build("squared", 4, 1, 1, 3, Activation::Sigmoid);
  try {
    b.head->forward(torch::randn({2, 3, 4}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 2-D features"), std::string::npos);
  }
  EXPECT_THROW(b.head->forward(torch::randn({2, 5})), c10::Error);
  EXPECT_THROW(b.head->forward(torch::randn({2, 4}), 4), c10::Error);
  EXPECT_THROW(b.head->truncate(7), c10::Error);
  EXPECT_THROW(
      b.head->append_stage(
          {torch::randn({2, 4}), torch::randn({2}), torch::randn({1, 2}), torch::randn({1})}, 1.0),
      c10::Error);
  EXPECT_THROW(BoostedHead(4, 1, Activation::Sigmoid, "hinge", torch::zeros({1})),
               std::invalid_argument);
}

TEST(BoostedHead, StagedScoresAreTheAnytimeForwardOfEachStage) {
  torch::manual_seed(3);
  auto x = torch::randn({9, 4}, torch::kDouble);
  auto b = build("multinomial", 4, 2, 3, 6, Activation::Tanh);
  b.head->to(torch::kDouble);
  // The fused output bias was summed in float32 stage by stage; sum it again in float64.
  b.head->truncate(6);
  for (int64_t first : {0, 2}) {
    auto staged = b.head->staged_scores(x, first, 6 - first);
    ASSERT_EQ(staged.sizes(), torch::IntArrayRef({6 - first, 9, 3}));
    for (int64_t t = 0; t < 6 - first; ++t) {
      EXPECT_TRUE(torch::allclose(staged[t], b.head->forward(x, first + t + 1), 1e-12, 1e-12))
          << "stage " << first + t + 1;
    }
    // The link applies to a stack of score matrices as to one.
    auto proba = b.head->proba_from_scores(staged);
    EXPECT_TRUE(torch::allclose(proba[0], b.head->predict_proba(x, first + 1), 1e-12, 1e-12));
    EXPECT_TRUE(
        torch::equal(b.head->predict_from_scores(staged)[0], b.head->predict(x, first + 1)));
  }
  EXPECT_EQ(b.head->staged_scores(x, 6, 0).size(0), 0);
  EXPECT_THROW(b.head->staged_scores(x, 4, 3), c10::Error);
  auto bin = build("binary_logistic", 4, 1, 1, 3, Activation::Relu);
  auto staged = bin.head->staged_scores(x.to(torch::kFloat), 0, 3);
  EXPECT_TRUE(torch::equal(bin.head->predict_from_scores(staged)[2],
                           bin.head->predict(x.to(torch::kFloat))));
  EXPECT_EQ(bin.head->proba_from_scores(staged).sizes(), torch::IntArrayRef({3, 9, 2}));
}

// Every copy of a head (checkpoint, model file, plugin, warm start) goes through these two.
TEST(BoostedHead, TensorsCopyIntoAHeadOfTheSameShapeAndNameWhatDoesNotFit) {
  torch::manual_seed(5);
  auto b = build("multinomial", 4, 2, 3, 5, Activation::Relu);
  const auto x = torch::randn({7, 4});
  BoostedHead copy(4, 2, Activation::Relu, "multinomial", torch::zeros({3}));
  copy->set_tensors(b.head->tensors(), torch::TensorOptions().dtype(torch::kDouble));
  EXPECT_EQ(copy->num_stages(), 5);
  EXPECT_EQ(copy->hidden_weight.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::allclose(copy->forward(x.to(torch::kDouble)).to(torch::kFloat),
                              b.head->forward(x), 1e-5, 1e-5));
  // A copy, not a view: changing the source leaves the copy alone.
  b.head->truncate(1);
  EXPECT_EQ(copy->num_stages(), 5);

  std::vector<std::string> names;
  HeadTensors t = copy->tensors();
  t.for_each([&](const char* name, torch::Tensor&) { names.push_back(name); });
  EXPECT_EQ(names,
            std::vector<std::string>(HeadTensors::kNames.begin(), HeadTensors::kNames.end()));
  t.output_weight = t.output_weight.narrow(1, 0, 3);  // one unit short
  try {
    copy->set_tensors(t, torch::TensorOptions());
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("output_weight [3, 3]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(copy->num_stages(), 5);  // left as it was
}
