#include <boosthead/activation.h>
#include <gtest/gtest.h>

using namespace boosthead;

TEST(Activation, NamesRoundTrip) {
  for (const auto& name : activation_names())
    EXPECT_EQ(activation_name(activation_from_name(name)), name);
  EXPECT_EQ(activation_from_name("logistic"), Activation::Sigmoid);
  try {
    activation_from_name("swish");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("swish"), std::string::npos);
  }
}

TEST(Activation, GradientMatchesAutograd) {
  torch::manual_seed(0);
  for (const auto& name : activation_names()) {
    auto act = activation_from_name(name);
    auto z = torch::randn({7, 3}, torch::kDouble).requires_grad_(true);
    auto g = torch::randn({7, 3}, torch::kDouble);
    (activate(act, z) * g).sum().backward();
    torch::NoGradGuard ng;
    auto h = torch::empty_like(z);
    auto zd = z.detach();
    activate_out(act, zd, h);
    EXPECT_TRUE(torch::allclose(h, activate(act, zd)));
    auto mine = g.clone();
    mul_activation_grad_(act, zd, h, mine);
    EXPECT_TRUE(torch::allclose(mine, z.grad(), 1e-10, 1e-12)) << name;
  }
}
