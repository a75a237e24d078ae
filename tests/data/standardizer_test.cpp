#include <boosthead/data/standardizer.h>
#include <gtest/gtest.h>

using namespace boosthead::data;

TEST(Standardizer, CentresScalesAndKeepsConstantColumnsFinite) {
  auto x = torch::tensor({{1.0, 5.0, 2.0}, {3.0, 5.0, 4.0}, {5.0, 5.0, 9.0}}, torch::kDouble);
  auto s = Standardizer::fit(x);
  auto z = s.transform(x, torch::kDouble);
  EXPECT_TRUE(torch::allclose(z.mean(0), torch::zeros({3}, torch::kDouble), 1e-12, 1e-12));
  EXPECT_NEAR(z.select(1, 0).pow(2).mean().item<double>(), 1.0, 1e-12);
  EXPECT_TRUE(torch::equal(z.select(1, 1), torch::zeros({3}, torch::kDouble)));
  EXPECT_EQ(s.transform(x).scalar_type(), torch::kFloat);
  EXPECT_THROW(s.transform(torch::ones({2, 4})), c10::Error);
  EXPECT_THROW(Standardizer::fit(torch::ones({0, 3})), c10::Error);
}
