#include <boosthead/model_file.h>
#include <boosthead/trainer.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test_util.h"

using namespace boosthead;
namespace fs = std::filesystem;

namespace {

struct Saved {
  FitResult fit;
  ModelInfo info;
  torch::Tensor raw;  // unstandardised features
  std::string path;
};

Saved train_and_save(const std::string& loss, const std::string& name) {
  auto p = test::synthetic(loss, 150, 4, 3, 9);
  auto raw = p.x.to(torch::kDouble) * 3 + 10;
  ModelInfo info;
  info.task = loss == "squared" ? "regression" : "classification";
  info.target = "y";
  info.feature_names = {"a", "b", "c=x", "c=y"};
  info.columns = {{"a", false, {}}, {"b", false, {}}, {"c", true, {"x", "y"}}};
  info.standardizer = data::Standardizer::fit(raw);
  if (loss == "multinomial")
    info.class_names = {"red", "green", "blue"};
  else if (loss == "binary_logistic")
    info.class_names = {"no", "yes"};
  else
    info.class_names = {"y0", "y1", "y2"};
  auto fit = Trainer(TrainerOptions().stages(7).units_per_stage(2).max_iter(30))
                 .fit(info.standardizer.transform(raw), p.y);
  auto path = (fs::temp_directory_path() / ("boosthead_" + name + ".pt")).string();
  save_model(path, *fit.head, info);
  return {fit, info, raw, path};
}

}  // namespace

TEST(ModelFile, RoundTripKeepsOutputsAndMetadata) {
  for (const std::string loss : {"squared", "binary_logistic", "multinomial"}) {
    auto s = train_and_save(loss, "roundtrip_" + loss);
    auto loaded = load_model(s.path);
    EXPECT_EQ(loaded.info.task, s.info.task);
    EXPECT_EQ(loaded.info.feature_names, s.info.feature_names);
    EXPECT_EQ(loaded.info.class_names, s.info.class_names);
    ASSERT_EQ(loaded.info.columns.size(), 3u);
    EXPECT_TRUE(loaded.info.columns[2].categorical);
    EXPECT_EQ(loaded.info.columns[2].levels, (std::vector<std::string>{"x", "y"}));
    EXPECT_FALSE(loaded.info.columns[0].categorical);
    auto x = s.info.standardizer.transform(s.raw);
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(loaded.head->forward(x), s.fit.head->forward(x))) << loss;
    EXPECT_TRUE(torch::equal(loaded.head->forward(x, 3), s.fit.head->forward(x, 3))) << loss;
    std::remove(s.path.c_str());
  }
}

TEST(ModelFile, TorchScriptRunsWithoutBoostheadCode) {
  for (const std::string loss : {"squared", "binary_logistic", "multinomial"}) {
    auto s = train_and_save(loss, "jit_" + loss);
    auto m = torch::jit::load(s.path);
    auto x = s.info.standardizer.transform(s.raw);
    torch::NoGradGuard ng;
    // forward takes the raw (unstandardised) encoded features and standardises them itself.
    auto out = m.forward({s.raw.to(torch::kFloat)}).toTensor();
    EXPECT_TRUE(torch::allclose(out, s.fit.head->predict_proba(x), 1e-5, 1e-6)) << loss;
    auto part = m.run_method("forward_stages", s.raw, 2).toTensor();
    EXPECT_TRUE(torch::allclose(part, s.fit.head->predict_proba(x, 2), 1e-5, 1e-6)) << loss;
    auto sc = m.run_method("scores", s.raw, 0).toTensor();
    EXPECT_TRUE(torch::allclose(sc[0], s.fit.head->initial_score, 1e-6, 1e-6)) << loss;
    EXPECT_EQ(m.attr("stages").toInt(), 7);
    EXPECT_EQ(m.attr("task").toStringRef(), s.info.task);
    EXPECT_THROW(m.run_method("forward_stages", s.raw, 8), std::exception);
    EXPECT_THROW(m.forward({s.raw.narrow(1, 0, 3)}), std::exception);
    std::remove(s.path.c_str());
  }
}

TEST(ModelFile, ForwardColumnsEncodesRawColumnsByName) {
  auto s = train_and_save("multinomial", "columns");
  auto m = torch::jit::load(s.path);
  const auto a = torch::tensor({0.5, 1.0, -2.0, 3.0}, torch::kDouble);
  const auto b = torch::tensor({1.0, 0.0, 4.0, 2.0}, torch::kFloat);
  const std::vector<std::string> c = {"y", "x", "x", "unseen"};
  // The encoding forward expects: numeric columns, then one 0/1 column per level.
  const auto encoded =
      torch::stack({a, b.to(torch::kDouble), torch::tensor({0.0, 1.0, 1.0, 0.0}, torch::kDouble),
                    torch::tensor({1.0, 0.0, 0.0, 0.0}, torch::kDouble)},
                   1);
  c10::Dict<std::string, torch::Tensor> numeric;
  numeric.insert("b", b);  // any order
  numeric.insert("a", a);
  c10::Dict<std::string, c10::List<std::string>> categorical;
  categorical.insert("c", c10::List<std::string>(c));
  torch::NoGradGuard ng;
  EXPECT_TRUE(
      torch::equal(m.run_method("encode_columns", numeric, categorical).toTensor(), encoded));
  EXPECT_TRUE(torch::allclose(m.run_method("forward_columns", numeric, categorical).toTensor(),
                              m.forward({encoded}).toTensor()));
  auto message = [&](const c10::Dict<std::string, torch::Tensor>& num,
                     const c10::Dict<std::string, c10::List<std::string>>& cat) {
    try {
      m.run_method("forward_columns", num, cat);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto fewer = numeric.copy();
  (void)fewer.erase("b");
  EXPECT_NE(message(fewer, categorical).find("column 'b' is missing"), std::string::npos);
  auto extra = numeric.copy();
  extra.insert("z", a);
  EXPECT_NE(message(extra, categorical).find("unexpected column 'z'"), std::string::npos);
  auto wrong = numeric.copy();
  wrong.insert("c", a);
  EXPECT_NE(message(wrong, c10::Dict<std::string, c10::List<std::string>>())
                .find("column 'c' is categorical"),
            std::string::npos);
  auto short_b = numeric.copy();
  short_b.insert_or_assign("b", b.narrow(0, 0, 3));
  EXPECT_NE(message(short_b, categorical).find("column 'b' has 3 rows"), std::string::npos);
  std::remove(s.path.c_str());
}

TEST(ModelFile, IgnoredColumnsAreKept) {
  auto s = train_and_save("squared", "ignored");
  s.info.ignored_columns = {"id", "leak"};
  save_model(s.path, *s.fit.head, s.info);
  EXPECT_EQ(load_model(s.path).info.ignored_columns, (std::vector<std::string>{"id", "leak"}));
  std::remove(s.path.c_str());
}

TEST(ModelFile, RejectsMissingCorruptAndForeignFiles) {
  auto s = train_and_save("multinomial", "corrupt");
  auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      load_model(path);
      ADD_FAILURE() << "expected an error for " << path;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  expect_error("/nonexistent/model.pt", "cannot open");

  const auto dir = fs::temp_directory_path();
  std::ifstream in(s.path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto truncated = (dir / "boosthead_truncated.pt").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_error(truncated, "not a readable TorchScript archive");

  const auto text = (dir / "boosthead_text.pt").string();
  std::ofstream(text) << "this is not a model\n";
  expect_error(text, "not a readable TorchScript archive");

  torch::jit::Module other("__torch__.Other");
  other.register_buffer("w", torch::ones({2}));
  other.define("def forward(self, x: Tensor) -> Tensor:\n    return x * self.w\n");
  const auto foreign = (dir / "boosthead_foreign.pt").string();
  other.save(foreign);
  expect_error(foreign, "not a boosthead model");

  for (const auto& p : {s.path, truncated, text, foreign}) std::remove(p.c_str());
}

TEST(ModelFile, FailedSaveLeavesNoFile) {
  auto s = train_and_save("squared", "failed_save");
  const std::string path = "/nonexistent_dir/model.pt";
  EXPECT_THROW(save_model(path, *s.fit.head, s.info), std::exception);
  EXPECT_FALSE(fs::exists(path));
  std::remove(s.path.c_str());
}

TEST(ModelFile, ArchiveCheckRefusesEveryTruncationAndCorruptRecords) {
  auto s = train_and_save("multinomial", "damaged");
  std::ifstream in(s.path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  EXPECT_NO_THROW(check_torchscript_archive(s.path));
  const auto damaged = (fs::temp_directory_path() / "boosthead_damaged.pt").string();
  auto write = [&](const std::string& content) {
    std::ofstream(damaged, std::ios::binary | std::ios::trunc) << content;
  };
  auto message = [&] {
    try {
      check_torchscript_archive(damaged);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (size_t keep = 0; keep < bytes.size(); keep += 1 + keep / 8) {
    write(bytes.substr(0, keep));
    EXPECT_NE(message().find("model file '" + damaged + "': not a readable TorchScript archive"),
              std::string::npos)
        << "kept " << keep << " of " << bytes.size() << " bytes";
  }
  // One byte changed inside each record's data: its CRC-32 no longer matches (or, for the
  // deflated code, it no longer inflates).
  auto le16 = [&](size_t at) {
    return static_cast<size_t>(static_cast<unsigned char>(bytes[at])) |
           static_cast<size_t>(static_cast<unsigned char>(bytes[at + 1])) << 8;
  };
  for (const char* record : {"data.pkl", "constants.pkl", "code/"}) {
    const auto name = bytes.find(record);  // first in its local header
    ASSERT_NE(name, std::string::npos) << record;
    const size_t header = bytes.rfind("PK\x03\x04", name);
    ASSERT_NE(header, std::string::npos);
    const size_t data = header + 30 + le16(header + 26) + le16(header + 28);
    std::string copy = bytes;
    copy[data + 1] = static_cast<char>(copy[data + 1] ^ 0x5A);
    write(copy);
    const auto why = message();
    EXPECT_TRUE(why.find("fails its CRC-32 check") != std::string::npos ||
                why.find("corrupt deflate data") != std::string::npos)
        << record << ": " << why;
    EXPECT_THROW(load_model(damaged), std::invalid_argument);
  }
  std::remove(damaged.c_str());
  std::remove(s.path.c_str());
}
