#include <boosthead/model_file.h>
#include <boosthead/pipeline.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "tiny_backbone.h"

using namespace boosthead;
namespace fs = std::filesystem;

namespace {

std::string temp(const std::string& name) {
  return (fs::temp_directory_path() / ("boosthead_pl_" + name)).string();
}

std::vector<torch::Tensor> parameters_of(const torch::jit::Module& m) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m.parameters()) out.push_back(p.clone());
  return out;
}

TrainerOptions small_options() {
  return TrainerOptions().stages(6).units_per_stage(2).max_iter(40).seed(5);
}

struct Fitted {
  std::string backbone_path;
  std::unique_ptr<FrozenBackbone> backbone;
  BackboneFitResult r;
  torch::Tensor images, labels;
};

Fitted fit_tiny(const std::string& name, TrainerOptions options = small_options()) {
  Fitted f;
  f.backbone_path = test::write_tiny_backbone(name);
  f.backbone = std::make_unique<FrozenBackbone>(f.backbone_path, "features");
  std::tie(f.images, f.labels) = test::tiny_images(150, 8);
  Trainer trainer(options);
  f.r = fit_on_backbone(*f.backbone, trainer, f.images, f.labels,
                        BackboneFitOptions().batch_size(64));
  return f;
}

PipelineInfo info_of(const Fitted& f) {
  PipelineInfo info;
  info.task = "classification";
  info.class_names = {"a", "b", "c"};
  info.standardizer = f.r.standardizer;
  return info;
}

}  // namespace

TEST(Pipeline, FitLeavesBackboneUnchangedAndExtractsOnce) {
  const auto path = test::write_tiny_backbone("unchanged");
  FrozenBackbone backbone(path, "features");
  const auto before = parameters_of(backbone.module());
  auto [images, labels] = test::tiny_images(150, 8);
  Trainer trainer(small_options().valid_fraction(0.2));
  auto r = fit_on_backbone(backbone, trainer, images, labels, BackboneFitOptions().batch_size(64));
  const auto after = parameters_of(backbone.module());
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(torch::equal(before[i], after[i])) << "parameter " << i;
  }
  for (const auto& p : backbone.module().parameters()) EXPECT_FALSE(p.requires_grad());
  // 150 rows in batches of 64: three backbone calls in all, validation split included.
  EXPECT_EQ(backbone.batches_run(), 3);
  EXPECT_EQ(backbone.module().attr("features").toModule().attr("calls").toInt(), 3);
  EXPECT_EQ(r.train_rows + r.valid_rows, 150);
  EXPECT_EQ(r.valid_rows, split_indices(150, 0.2, 5, labels).second.size(0));
  EXPECT_GE(r.valid_rows, 28);
  EXPECT_FALSE(r.features_from_cache);
  EXPECT_EQ(r.fit.stages_trained, 6);
  ASSERT_FALSE(r.fit.history.empty());
  EXPECT_TRUE(r.fit.history.back().valid_loss.has_value());
  std::remove(path.c_str());
}

TEST(Pipeline, SecondFitReadsFeaturesFromCache) {
  const auto path = test::write_tiny_backbone("fitcache");
  const auto cache = temp("fitcache.feat");
  std::remove(cache.c_str());
  auto [images, labels] = test::tiny_images(150, 8);
  const auto options = BackboneFitOptions().batch_size(50).feature_cache(cache);

  FrozenBackbone first(path, "features");
  Trainer t1(small_options());
  auto r1 = fit_on_backbone(first, t1, images, labels, options);
  EXPECT_FALSE(r1.features_from_cache);
  EXPECT_EQ(first.batches_run(), 3);

  FrozenBackbone second(path, "features");
  Trainer t2(small_options());
  auto r2 = fit_on_backbone(second, t2, images, labels, options);
  EXPECT_TRUE(r2.features_from_cache);
  EXPECT_EQ(second.batches_run(), 0);
  EXPECT_TRUE(torch::equal(r1.fit.head->hidden_weight, r2.fit.head->hidden_weight));
  EXPECT_TRUE(torch::equal(r1.fit.head->output_bias, r2.fit.head->output_bias));
  std::remove(cache.c_str());
  std::remove(path.c_str());
}

TEST(Pipeline, SavedFileMatchesBackbonePlusHead) {
  auto f = fit_tiny("saved");
  const auto out = temp("saved.pt");
  save_pipeline(out, *f.backbone, *f.r.fit.head, info_of(f));

  auto m = torch::jit::load(out);
  EXPECT_EQ(m.attr("format").toStringRef(), "boosthead-pipeline");
  EXPECT_EQ(m.attr("task").toStringRef(), "classification");
  EXPECT_EQ(m.attr("stages").toInt(), 6);
  EXPECT_EQ(m.attr("units_per_stage").toInt(), 2);
  EXPECT_EQ(m.attr("num_features").toInt(), 6);
  EXPECT_EQ(m.attr("feature_module").toStringRef(), "features");
  std::vector<std::string> names;
  for (const auto& v : m.attr("class_names").toListRef()) names.push_back(v.toStringRef());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c"}));

  torch::NoGradGuard ng;
  auto test_images = test::tiny_images(40, 21).first;
  auto feats = f.backbone->extract(test_images);
  auto x = f.r.standardizer.transform(feats);
  const auto& head = *f.r.fit.head;
  auto p = m.forward({test_images}).toTensor();
  EXPECT_LE((p - head.predict_proba(x)).abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({40}), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(m.run_method("features", test_images).toTensor(), feats, 1e-6, 1e-6));
  auto scores = m.run_method("scores", test_images, 6).toTensor();
  EXPECT_LE((scores - head.forward(x)).abs().max().item<double>(), 1e-5);
  // The head alone on precomputed features.
  auto ph = m.run_method("head_forward_stages", feats, 6).toTensor();
  EXPECT_LE((ph - p).abs().max().item<double>(), 1e-6);

  // The backbone inside the file is the frozen one, unchanged.
  auto inner = m.attr("backbone").toModule();
  auto w = inner.attr("features").toModule().attr("weight").toTensor();
  EXPECT_TRUE(
      torch::equal(w, f.backbone->module().attr("features").toModule().attr("weight").toTensor()));

  std::remove(out.c_str());
  std::remove(f.backbone_path.c_str());
}

TEST(Pipeline, TruncationAfterLoad) {
  auto f = fit_tiny("truncate");
  const auto out = temp("truncate.pt");
  save_pipeline(out, *f.backbone, *f.r.fit.head, info_of(f));
  auto m = torch::jit::load(out);
  torch::NoGradGuard ng;
  auto x = f.r.standardizer.transform(f.backbone->extract(f.images));
  const auto& head = *f.r.fit.head;
  for (int64_t t : {0, 1, 3, 6}) {
    auto p = m.run_method("forward_stages", f.images, t).toTensor();
    EXPECT_LE((p - head.predict_proba(x, t)).abs().max().item<double>(), 1e-6) << t;
  }
  // Zero stages: softmax of F0 on every row.
  auto p0 = m.run_method("forward_stages", f.images, 0).toTensor();
  auto expected = torch::softmax(head.initial_score, 0).unsqueeze(0).expand_as(p0);
  EXPECT_TRUE(torch::allclose(p0, expected, 1e-6, 1e-6));
  // More stages than were trained is an error.
  EXPECT_THROW(m.run_method("forward_stages", f.images, 7), std::exception);

  auto loaded = load_pipeline(out);
  EXPECT_EQ(loaded.stages, 6);
  EXPECT_EQ(loaded.class_names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(loaded.dtype(), torch::kFloat);
  auto batched = loaded.predict(f.images, 3, 32);
  EXPECT_LE((batched - head.predict_proba(x, 3)).abs().max().item<double>(), 1e-6);
  EXPECT_THROW(loaded.predict(f.images, 7), std::invalid_argument);
  std::remove(out.c_str());
  std::remove(f.backbone_path.c_str());
}

TEST(Pipeline, FileKindsAndErrors) {
  auto f = fit_tiny("kinds");
  const auto out = temp("kinds.pt");
  save_pipeline(out, *f.backbone, *f.r.fit.head, info_of(f));
  EXPECT_EQ(archive_format(out), "boosthead-pipeline");
  EXPECT_EQ(archive_format(f.backbone_path), "");

  // A tabular model file is recognised and refused by name.
  ModelInfo mi;
  mi.task = "classification";
  mi.target = "y";
  mi.class_names = {"a", "b", "c"};
  for (int i = 0; i < 6; ++i) {
    mi.feature_names.push_back("f" + std::to_string(i));
    mi.columns.push_back({"f" + std::to_string(i), false, {}});
  }
  mi.standardizer = f.r.standardizer;
  const auto tabular = temp("kinds_tabular.pt");
  save_model(tabular, *f.r.fit.head, mi);
  EXPECT_EQ(archive_format(tabular), "boosthead-model");
  try {
    load_pipeline(tabular);
    ADD_FAILURE() << "no error for a tabular model";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("boosthead-model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(tabular), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_pipeline(f.backbone_path), std::invalid_argument);
  EXPECT_THROW(load_pipeline(temp("missing.pt")), std::invalid_argument);

  // Metadata that disagrees with the head is refused before anything is written.
  auto bad = info_of(f);
  bad.class_names = {"a", "b"};
  const auto nowhere = temp("kinds_bad.pt");
  EXPECT_THROW(save_pipeline(nowhere, *f.backbone, *f.r.fit.head, bad), std::invalid_argument);
  bad = info_of(f);
  bad.standardizer = data::Standardizer::fit(torch::rand({5, 4}));
  EXPECT_THROW(save_pipeline(nowhere, *f.backbone, *f.r.fit.head, bad), std::invalid_argument);
  EXPECT_FALSE(fs::exists(nowhere));
  Trainer trainer(small_options());
  EXPECT_THROW(fit_on_backbone(*f.backbone, trainer, f.images, f.labels.narrow(0, 0, 10)),
               std::invalid_argument);
  std::remove(tabular.c_str());
  std::remove(out.c_str());
  std::remove(f.backbone_path.c_str());
}
