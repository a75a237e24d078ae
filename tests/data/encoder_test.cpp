#include <boosthead/data/encoder.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_helpers.h"

namespace bd = boosthead::data;
using boosthead::test::data_path;

namespace {

std::vector<std::string> all_but(const bd::Table& t, const std::string& target) {
  std::vector<std::string> out;
  for (const auto& c : t.columns) {
    if (c != target) out.push_back(c);
  }
  return out;
}

}  // namespace

TEST(FeatureEncoder, FitsNumericAndCategoricalColumns) {
  const auto t = bd::parse_csv("x,color,y\n1.5,red,1\n-2,blue,NA\n3,red,\nNA,green,4\n", "f.csv");
  const auto enc = bd::FeatureEncoder::fit(t, {"x", "color", "y"});
  ASSERT_EQ(enc.columns().size(), 3u);
  EXPECT_FALSE(enc.columns()[0].categorical);
  EXPECT_TRUE(enc.columns()[1].categorical);
  EXPECT_EQ(enc.columns()[1].levels, (std::vector<std::string>{"blue", "green", "red"}));
  EXPECT_FALSE(enc.columns()[2].categorical);
  EXPECT_EQ(enc.num_encoded(), 5);
  EXPECT_EQ(enc.encoded_names(),
            (std::vector<std::string>{"x", "color=blue", "color=green", "color=red", "y"}));
}

TEST(FeatureEncoder, TransformsToFloat64OneHot) {
  const auto t = bd::parse_csv("x,color,z\n1.5,red,7\n-2,blue,8\n", "f.csv");
  const auto enc = bd::FeatureEncoder::fit(t, {"color", "x"});
  const auto x = enc.transform(t);
  EXPECT_EQ(x.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(x.device().is_cpu());
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, 3}));
  const auto expected =
      torch::tensor({0.0, 1.0, 1.5, 1.0, 0.0, -2.0}, torch::kFloat64).view({2, 3});
  EXPECT_TRUE(torch::equal(x, expected)) << x;
}

TEST(FeatureEncoder, TransformFindsColumnsByNameInAnyOrder) {
  const auto train = bd::parse_csv("a,b\n1,x\n2,y\n", "train.csv");
  const auto enc = bd::FeatureEncoder::fit(train, {"a", "b"});
  const auto test = bd::parse_csv("extra,b,a\nq,y,5\n", "test.csv");
  const auto x = enc.transform(test);
  const auto expected = torch::tensor({5.0, 0.0, 1.0}, torch::kFloat64).view({1, 3});
  EXPECT_TRUE(torch::equal(x, expected)) << x;
}

TEST(FeatureEncoder, ZeroRowsGiveZeroByD) {
  const auto train = bd::parse_csv("a,b\n1,x\n2,y\n");
  const auto enc = bd::FeatureEncoder::fit(train, {"a", "b"});
  const auto x = enc.transform(bd::parse_csv("a,b\n"));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(x.scalar_type(), torch::kFloat64);
}

TEST(FeatureEncoder, ExplicitConstructor) {
  bd::FeatureEncoder enc({{"n", false, {}}, {"c", true, {"A", "B"}}});
  EXPECT_EQ(enc.num_encoded(), 3);
  const auto x = enc.transform(bd::parse_csv("c,n\nB,2\n"));
  EXPECT_TRUE(torch::equal(x, torch::tensor({2.0, 0.0, 1.0}, torch::kFloat64).view({1, 3})));
  EXPECT_ERROR_HAS(bd::FeatureEncoder({{"n", false, {}}, {"n", false, {}}}), "'n' is listed twice");
  EXPECT_ERROR_HAS(bd::FeatureEncoder({{"c", true, {}}}), "no levels");
  EXPECT_ERROR_HAS(bd::FeatureEncoder({{"c", true, {"A", "A"}}}), "level 'A' twice");
}

TEST(FeatureEncoder, DefaultIsEmpty) {
  bd::FeatureEncoder enc;
  EXPECT_EQ(enc.num_encoded(), 0);
  EXPECT_TRUE(enc.encoded_names().empty());
}

TEST(FeatureEncoder, FitErrors) {
  const auto t = bd::parse_csv("a,b,c\n1,2,3\n", "x.csv");
  EXPECT_ERROR_HAS(bd::FeatureEncoder::fit(t, {"a", "foo"}),
                   "unknown column 'foo' in x.csv; columns are: a, b, c");
  EXPECT_ERROR_HAS(bd::FeatureEncoder::fit(t, {"a", "a"}), "'a' is listed twice");
}

TEST(FeatureEncoder, TransformErrorsNameRowAndColumn) {
  const auto train = bd::parse_csv("x,Motor\n1,A\n2,B\n3,C\n", "train.csv");
  const auto enc = bd::FeatureEncoder::fit(train, {"x", "Motor"});

  EXPECT_ERROR_HAS(enc.transform(bd::parse_csv("x\n1\n", "t.csv")),
                   "t.csv: column 'Motor' is missing from the file; the model needs it (its input "
                   "columns: x, Motor)");
  EXPECT_ERROR_HAS(enc.transform(bd::parse_csv("x,Motor\n1,A\n2,B\n3,A\nNA,C\n", "t.csv")),
                   "missing value (NA) in column 'x' at row 4");
  EXPECT_ERROR_HAS(enc.transform(bd::parse_csv("x,Motor\n1,A\n2,\n", "t.csv")),
                   "missing value (empty cell) in column 'Motor' at row 2");
  EXPECT_ERROR_HAS(
      enc.transform(bd::parse_csv("x,Motor\n1,A\n2,A\n3,A\n4,A\n5,A\n6,A\nabc,A\n", "t.csv")),
      "column 'x' is numeric but row 7 holds 'abc'");
  EXPECT_ERROR_HAS(enc.transform(bd::parse_csv("x,Motor\n1,A\n2,A\nInf,A\n", "t.csv")),
                   "non-finite value 'Inf' in column 'x' at row 3");
  EXPECT_ERROR_HAS(enc.transform(bd::parse_csv("x,Motor\nNaN,A\n", "t.csv")),
                   "non-finite value 'NaN' in column 'x' at row 1");
  EXPECT_ERROR_HAS(enc.transform(bd::parse_csv("x,Motor\n1,A\n2,B\n3,C\n4,Z\n", "t.csv")),
                   "unknown level 'Z' in column 'Motor' at row 4; known levels: A, B, C");
  // Errors name the table they came from.
  EXPECT_ERROR_HAS(enc.transform(bd::parse_csv("x,Motor\n1,Z\n", "t.csv")), "t.csv: ");
}

TEST(FeatureEncoder, UnknownLevelsEncodeAsNoLevelAndAreCounted) {
  const auto train = bd::parse_csv("x,Motor\n1,A\n2,B\n3,C\n", "train.csv");
  const auto enc = bd::FeatureEncoder::fit(train, {"x", "Motor"});
  const auto t = bd::parse_csv("x,Motor\n1,A\n2,Z\n3,B\n4,Y\n", "t.csv");
  std::vector<bd::UnknownLevelCount> counts;
  const auto x = enc.transform(t, bd::UnknownLevels::Zeros, &counts);
  EXPECT_TRUE(torch::equal(
      x,
      torch::tensor(
          {{1.0, 1.0, 0.0, 0.0}, {2.0, 0.0, 0.0, 0.0}, {3.0, 0.0, 1.0, 0.0}, {4.0, 0.0, 0.0, 0.0}},
          torch::kFloat64)));
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].column, "Motor");
  EXPECT_EQ(counts[0].rows, 2);
  EXPECT_EQ(counts[0].example, "Z");
  // Strict on request; the default of the library call is strict too.
  EXPECT_ERROR_HAS(enc.transform(t, bd::UnknownLevels::Error), "unknown level 'Z'");
  EXPECT_ERROR_HAS(enc.transform(t), "unknown level 'Z'");
  // A missing column is never encoded as zeros.
  EXPECT_ERROR_HAS(enc.transform(bd::parse_csv("Motor\nA\n", "m.csv"), bd::UnknownLevels::Zeros),
                   "m.csv: column 'x' is missing from the file");
  EXPECT_ERROR_HAS(enc.check_columns(bd::parse_csv("Motor\nA\n", "m.csv"), "the model 'a.pt'"),
                   "the model 'a.pt' needs it");
}

TEST(FeatureEncoder, NonFiniteNumbersKeepColumnNumericSoTransformCanReject) {
  const auto t = bd::parse_csv("x\n1\n-Inf\n", "n.csv");
  const auto enc = bd::FeatureEncoder::fit(t, {"x"});
  EXPECT_FALSE(enc.columns()[0].categorical);
  EXPECT_ERROR_HAS(enc.transform(t), "non-finite value '-Inf' in column 'x' at row 2");
}

TEST(FitTarget, AutoDetectsClassificationFromText) {
  const auto t = bd::parse_csv("f,Class\n1,good\n2,bad\n3,NA\n4,good\n", "c.csv");
  const auto enc = bd::fit_target(t, "Class");
  EXPECT_TRUE(enc.classification);
  EXPECT_EQ(enc.classes, (std::vector<std::string>{"bad", "good"}));
}

TEST(FitTarget, FewDistinctIntegersAreClassesAndTheReasonSaysWhy) {
  // Labels written bare: 0..2 over 12 rows.
  std::string text = "f,y\n";
  for (int i = 0; i < 12; ++i) text += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
  const auto t = bd::parse_csv(text, "i.csv");
  const auto enc = bd::fit_target(t, "y");
  EXPECT_TRUE(enc.classification);
  EXPECT_EQ(enc.classes, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_NE(enc.reason.find("classification: 3 distinct integer values in 12 rows"),
            std::string::npos)
      << enc.reason;
  EXPECT_EQ(bd::fit_target(t, "y", "regression").reason, "regression as asked");
  EXPECT_FALSE(bd::fit_target(t, "y", "regression").classification);
  // Half the rows distinct or more: a count, not a class.
  EXPECT_FALSE(bd::fit_target(t, "f").classification);
  EXPECT_NE(bd::fit_target(t, "f").reason.find("regression: 12 distinct integer values"),
            std::string::npos);
  // More than 50 distinct integers: regression, however many rows.
  std::string many = "y\n";
  for (int i = 0; i < 400; ++i) many += std::to_string(i % 51) + "\n";
  EXPECT_FALSE(bd::fit_target(bd::parse_csv(many, "m.csv"), "y").classification);
  std::string fifty = "y\n";
  for (int i = 0; i < 400; ++i) fifty += std::to_string(i % 50) + "\n";
  EXPECT_TRUE(bd::fit_target(bd::parse_csv(fifty, "m.csv"), "y").classification);
  // Text and quoted columns say so.
  EXPECT_NE(bd::fit_target(bd::parse_csv("y\na\nb\n", "t.csv"), "y")
                .reason.find("holds text ('a' at row 1)"),
            std::string::npos);
  EXPECT_NE(bd::fit_target(bd::parse_csv("y\n\"1\"\n\"2\"\n", "q.csv"), "y").reason.find("quoted"),
            std::string::npos);
}

TEST(FitTarget, AutoDetectsRegressionFromNumbers) {
  const auto t = bd::parse_csv("f,y\n1,2.5\n2,3\n", "r.csv");
  const auto enc = bd::fit_target(t, "y");
  EXPECT_FALSE(enc.classification);
  EXPECT_TRUE(enc.classes.empty());
  const auto y = bd::encode_target(t, "y", enc);
  EXPECT_EQ(y.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::equal(y, torch::tensor({2.5, 3.0}, torch::kFloat64)));
}

TEST(FitTarget, ExplicitClassificationSortsNumericClassesByValue) {
  const auto t = bd::parse_csv("y\n10\n2\n1\n2\n-3\n1.5\n", "n.csv");
  const auto enc = bd::fit_target(t, "y", "classification");
  EXPECT_TRUE(enc.classification);
  EXPECT_EQ(enc.classes, (std::vector<std::string>{"-3", "1", "1.5", "2", "10"}));
  const auto y = bd::encode_target(t, "y", enc);
  EXPECT_EQ(y.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(y, torch::tensor({4, 3, 1, 3, 0, 2}, torch::kInt64))) << y;
}

TEST(FitTarget, MixedClassNamesSortLexicographically) {
  const auto t = bd::parse_csv("y\n10\nb\n2\na\n", "n.csv");
  const auto enc = bd::fit_target(t, "y");
  EXPECT_EQ(enc.classes, (std::vector<std::string>{"10", "2", "a", "b"}));
}

TEST(FitTarget, Errors) {
  const auto t = bd::parse_csv("Class,y\ngood,1\ngood,abc\n", "e.csv");
  EXPECT_ERROR_HAS(
      bd::fit_target(t, "Class"),
      "target column 'Class' has a single class 'good'; classification needs at least two");
  EXPECT_ERROR_HAS(bd::fit_target(t, "Class", "ranking"), "unknown task 'ranking'");
  const std::string allowed =
      ::boosthead::test::error_of([&] { bd::fit_target(t, "Class", "ranking"); });
  EXPECT_NE(allowed.find("classification"), std::string::npos) << allowed;
  EXPECT_NE(allowed.find("regression"), std::string::npos) << allowed;
  EXPECT_ERROR_HAS(bd::fit_target(t, "y", "regression"), "row 2 holds 'abc'");
  EXPECT_ERROR_HAS(bd::fit_target(t, "nope"), "unknown column 'nope'");
  EXPECT_ERROR_HAS(bd::fit_target(bd::parse_csv("y\nNA\n", "z.csv"), "y", "classification"),
                   "has no values");
  EXPECT_ERROR_HAS(bd::fit_target(bd::parse_csv("y\n", "z.csv"), "y", "classification"),
                   "has no values");
}

TEST(EncodeTarget, Errors) {
  const auto train = bd::parse_csv("Class\na\nb\n", "train.csv");
  const auto enc = bd::fit_target(train, "Class");
  EXPECT_ERROR_HAS(bd::encode_target(bd::parse_csv("Class\na\nb\nx\n", "t.csv"), "Class", enc),
                   "unknown class 'x' in column 'Class' at row 3; the model knows: a, b");
  EXPECT_ERROR_HAS(bd::encode_target(bd::parse_csv("Class\na\nNA\n", "t.csv"), "Class", enc),
                   "missing value (NA) in column 'Class' at row 2");

  const auto reg = bd::fit_target(bd::parse_csv("y\n1\n2\n"), "y");
  EXPECT_ERROR_HAS(bd::encode_target(bd::parse_csv("y\n1\nInf\n", "t.csv"), "y", reg),
                   "non-finite value 'Inf' in column 'y' at row 2");
  EXPECT_ERROR_HAS(bd::encode_target(bd::parse_csv("y\n1\n", "t.csv"), "z", reg),
                   "unknown column 'z'");
  EXPECT_ERROR_HAS(bd::encode_target(bd::parse_csv("y\nfoo\n", "t.csv"), "y", reg),
                   "row 1 holds 'foo'");
  EXPECT_ERROR_HAS(bd::encode_target(bd::parse_csv("y,x\n1,1\nNA,2\n", "t.csv"), "y", reg),
                   "missing value (NA) in column 'y' at row 2");
}

TEST(EncodeTarget, ZeroRows) {
  const auto enc = bd::fit_target(bd::parse_csv("c\na\nb\n"), "c");
  const auto y = bd::encode_target(bd::parse_csv("c\n"), "c", enc);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{0}));
  EXPECT_EQ(y.scalar_type(), torch::kInt64);
}

TEST(EncoderDatasets, ServoHasCategoricalMotorAndScrew) {
  const auto t = bd::read_csv(data_path("Servo.csv"));
  const auto enc = bd::FeatureEncoder::fit(t, all_but(t, "Class"));
  ASSERT_EQ(enc.columns().size(), 4u);
  EXPECT_TRUE(enc.columns()[0].categorical);
  EXPECT_EQ(enc.columns()[0].levels, (std::vector<std::string>{"A", "B", "C", "D", "E"}));
  EXPECT_TRUE(enc.columns()[1].categorical);
  // Pgain and Vgain are R factors: quoted numbers, so one-hot like Motor and Screw.
  EXPECT_TRUE(enc.columns()[2].categorical);
  EXPECT_TRUE(enc.columns()[3].categorical);
  const auto x = enc.transform(t);
  EXPECT_EQ(x.size(0), 167);
  EXPECT_EQ(x.size(1), 5 + 5 + 4 + 5);
  // Each one-hot block sums to one in every row.
  EXPECT_TRUE(torch::all(x.slice(1, 0, 5).sum(1) == 1).item<bool>());
  const auto target = bd::fit_target(t, "Class");
  EXPECT_FALSE(target.classification);
}

TEST(EncoderDatasets, EveryBundledDatasetEncodes) {
  struct Case {
    const char* file;
    const char* target;
    const char* task;
    bool classification;
    int64_t rows;
    int64_t classes;
  };
  const Case cases[] = {
      {"BostonHousing.csv", "medv", "", false, 506, 0},
      {"Glass.csv", "Type", "", true, 214, 6},
      {"Ionosphere.csv", "Class", "", true, 351, 2},
      {"PimaIndiansDiabetes.csv", "diabetes", "", true, 768, 2},
      {"Satellite.csv", "classes", "", true, 6435, 6},
      {"Servo.csv", "Class", "", false, 167, 0},
      {"Sonar.csv", "Class", "", true, 208, 2},
      {"Vehicle.csv", "Class", "", true, 846, 4},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const auto t = bd::read_csv(data_path(c.file));
    const auto features = all_but(t, c.target);
    bd::check_no_missing(t, t.columns);
    const auto enc = bd::FeatureEncoder::fit(t, features);
    const auto x = enc.transform(t);
    EXPECT_EQ(x.size(0), c.rows);
    EXPECT_EQ(x.size(1), enc.num_encoded());
    EXPECT_EQ(static_cast<int64_t>(enc.encoded_names().size()), enc.num_encoded());
    EXPECT_TRUE(torch::isfinite(x).all().item<bool>());

    const auto tenc = bd::fit_target(t, c.target, c.task);
    EXPECT_EQ(tenc.classification, c.classification);
    EXPECT_EQ(static_cast<int64_t>(tenc.classes.size()), c.classes);
    const auto y = bd::encode_target(t, c.target, tenc);
    EXPECT_EQ(y.size(0), c.rows);
    if (c.classification) {
      EXPECT_EQ(y.min().item<int64_t>(), 0);
      EXPECT_EQ(y.max().item<int64_t>(), c.classes - 1);
    }
  }
}

TEST(EncoderDatasets, QuotedRFactorsAreCategoricalAndGlassClassesSortByValue) {
  const auto boston = bd::read_csv(data_path("BostonHousing.csv"));
  const auto enc = bd::FeatureEncoder::fit(boston, {"chas", "crim"});
  EXPECT_TRUE(enc.columns()[0].categorical);  // a quoted R factor of "0"/"1"
  EXPECT_EQ(enc.columns()[0].levels, (std::vector<std::string>{"0", "1"}));
  EXPECT_FALSE(enc.columns()[1].categorical);

  const auto glass = bd::read_csv(data_path("Glass.csv"));
  EXPECT_TRUE(bd::fit_target(glass, "Type").classification);  // quoted factor levels "1".."7"
  EXPECT_FALSE(bd::fit_target(glass, "Type", "regression").classification);
  const auto tenc = bd::fit_target(glass, "Type");
  EXPECT_EQ(tenc.classes, (std::vector<std::string>{"1", "2", "3", "5", "6", "7"}));
}

TEST(FeatureEncoder, ErrorsNameTheFileRowAfterRowsWereDropped) {
  const auto t = bd::parse_csv("x,c,y\n1,a,p\nNA,b,q\n3,a,p\nz,b,r\n", "f.csv");
  const auto enc = bd::FeatureEncoder(
      {bd::ColumnEncoding{"x", false, {}}, bd::ColumnEncoding{"c", true, {"a"}}});
  const auto kept = t.select_rows({0, 2, 3});
  EXPECT_ERROR_HAS(enc.transform(kept), "column 'x' is numeric but row 4 holds 'z'");
  EXPECT_ERROR_HAS(enc.transform(t.select_rows({0, 3})), "column 'x' is numeric but row 4");
  const auto no_x = bd::FeatureEncoder({bd::ColumnEncoding{"c", true, {"a"}}});
  EXPECT_ERROR_HAS(no_x.transform(kept), "unknown level 'b' in column 'c' at row 4");
  bd::TargetEncoding target;
  target.classification = true;
  target.classes = {"p", "q"};
  EXPECT_ERROR_HAS(bd::encode_target(kept, "y", target),
                   "unknown class 'r' in column 'y' at row 4");
  EXPECT_ERROR_HAS(bd::fit_target(kept, "x", "regression"), "row 4 holds 'z'");
}
