#include <boosthead/backbone.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tiny_backbone.h"

using namespace boosthead;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument thrown)";
}

int64_t calls(const FrozenBackbone& b) {
  return b.module().attr("features").toModule().attr("calls").toInt();
}

torch::Tensor manual_features(const FrozenBackbone& b, const torch::Tensor& images) {
  auto f = b.module().attr("features").toModule();
  auto w = f.attr("weight").toTensor(), bias = f.attr("bias").toTensor();
  return torch::tanh(torch::addmm(bias, images.reshape({images.size(0), -1}), w.t()));
}

}  // namespace

TEST(Backbone, LoadsFrozenInEvalMode) {
  const auto path = test::write_tiny_backbone("frozen");
  FrozenBackbone b(path, "features");
  EXPECT_FALSE(b.module().is_training());
  EXPECT_FALSE(b.module().attr("features").toModule().is_training());
  int64_t count = 0;
  for (const auto& p : b.module().parameters()) {
    EXPECT_FALSE(p.requires_grad());
    ++count;
  }
  EXPECT_EQ(count, 4);
  EXPECT_EQ(b.feature_kind(), "submodule");
  std::remove(path.c_str());
}

TEST(Backbone, FeatureSelectors) {
  const auto path = test::write_tiny_backbone("selectors");
  auto images = test::tiny_images(10, 1).first;

  FrozenBackbone sub(path, "features");
  auto f = sub.extract(images);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{10, 6}));
  EXPECT_TRUE(torch::allclose(f, manual_features(sub, images), 1e-6, 1e-6));
  EXPECT_FALSE(f.requires_grad());

  FrozenBackbone fwd(path);
  EXPECT_EQ(fwd.feature_kind(), "forward");
  EXPECT_EQ(fwd.extract(images).sizes(), (std::vector<int64_t>{10, 3}));

  FrozenBackbone method(path, "embed");
  EXPECT_EQ(method.feature_kind(), "method");
  EXPECT_TRUE(torch::allclose(method.extract(images), 2.0 * f, 1e-6, 1e-6));

  FrozenBackbone dotted(path, "features.forward");
  EXPECT_EQ(dotted.feature_kind(), "method");
  EXPECT_TRUE(torch::equal(dotted.extract(images), f));
  std::remove(path.c_str());
}

TEST(Backbone, BadNamesListWhatExists) {
  const auto path = test::write_tiny_backbone("badnames");
  auto msg = error_of([&] { FrozenBackbone(path, "feature"); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'feature'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("submodules: features, classifier"), std::string::npos) << msg;
  EXPECT_NE(msg.find("embed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("forward"), std::string::npos) << msg;

  msg = error_of([&] { FrozenBackbone(path, "features.nope"); });
  EXPECT_NE(msg.find("'nope'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("submodule 'features'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("submodules: (none)"), std::string::npos) << msg;

  msg = error_of([&] { FrozenBackbone(path, "classifier2.x"); });
  EXPECT_NE(msg.find("no submodule 'classifier2'"), std::string::npos) << msg;

  msg = error_of([&] { FrozenBackbone(path, "features; import os"); });
  EXPECT_NE(msg.find("not a dotted name"), std::string::npos) << msg;

  msg = error_of([&] { FrozenBackbone("/nonexistent/backbone.pt"); });
  EXPECT_NE(msg.find("/nonexistent/backbone.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;

  const auto junk = (fs::temp_directory_path() / "boosthead_bb_junk.pt").string();
  std::ofstream(junk) << "not a zip archive";
  msg = error_of([&] { FrozenBackbone(junk, "features"); });
  EXPECT_NE(msg.find(junk), std::string::npos) << msg;
  EXPECT_NE(msg.find("TorchScript"), std::string::npos) << msg;

  FrozenBackbone tuple(path, "pair");
  msg = error_of([&] { tuple.extract(torch::rand({2, 1, 4, 4})); });
  EXPECT_NE(msg.find("expected a tensor"), std::string::npos) << msg;

  FrozenBackbone fwd(path, "features");
  msg = error_of([&] { fwd.extract(torch::rand({2, 1, 5, 5})); });
  EXPECT_NE(msg.find("[2, 1, 5, 5]"), std::string::npos) << msg;
  std::remove(path.c_str());
  std::remove(junk.c_str());
}

TEST(Backbone, ExtractsInBatchesWithProgress) {
  const auto path = test::write_tiny_backbone("batches");
  auto images = test::tiny_images(20, 2).first;
  FrozenBackbone b(path, "features");
  std::vector<std::pair<int64_t, int64_t>> seen;
  auto f =
      b.extract(images, 7, [&](int64_t done, int64_t total) { seen.emplace_back(done, total); });
  EXPECT_EQ(b.batches_run(), 3);
  EXPECT_EQ(calls(b), 3);
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, int64_t>>{{7, 20}, {14, 20}, {20, 20}}));
  EXPECT_TRUE(torch::allclose(f, b.extract(images, 100), 1e-6, 1e-6));
  EXPECT_EQ(b.num_features(), 6);
  EXPECT_THROW(b.extract(images, 0), std::invalid_argument);
  EXPECT_THROW(b.extract(torch::empty({0, 1, 4, 4})), std::invalid_argument);
  std::remove(path.c_str());
}

TEST(Backbone, CacheSkipsTheBackbone) {
  const auto path = test::write_tiny_backbone("cache");
  const auto cache = (fs::temp_directory_path() / "boosthead_bb_cache.feat").string();
  std::remove(cache.c_str());
  auto images = test::tiny_images(30, 4).first;

  bool hit = true;
  FrozenBackbone first(path, "features");
  auto f1 = first.extract_cached(images, cache, 8, {}, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(first.batches_run(), 4);
  ASSERT_TRUE(fs::exists(cache));

  FrozenBackbone second(path, "features");
  auto f2 = second.extract_cached(images, cache, 8, {}, &hit);
  EXPECT_TRUE(hit);
  EXPECT_EQ(second.batches_run(), 0);
  EXPECT_EQ(calls(second), 0);
  EXPECT_TRUE(torch::equal(f1, f2));
  EXPECT_EQ(second.num_features(), 6);

  // Other inputs, another selector or another backbone file miss the cache.
  auto other = images.clone();
  other[0][0][0][0] += 0.5;
  EXPECT_NE(second.cache_key(other), second.cache_key(images));
  second.extract_cached(other, cache, 8, {}, &hit);
  EXPECT_FALSE(hit);
  FrozenBackbone method(path, "embed");
  EXPECT_NE(method.cache_key(images), second.cache_key(images));
  const auto path2 = test::write_tiny_backbone("cache2", 99);
  EXPECT_NE(FrozenBackbone(path2, "features").cache_key(images), second.cache_key(images));

  // A corrupt cache file is rebuilt.
  std::ofstream(cache, std::ios::trunc) << "garbage";
  auto f3 = second.extract_cached(images, cache, 8, {}, &hit);
  EXPECT_FALSE(hit);
  EXPECT_TRUE(torch::allclose(f3, f1, 1e-6, 1e-6));
  second.extract_cached(images, cache, 8, {}, &hit);
  EXPECT_TRUE(hit);
  std::remove(cache.c_str());
  std::remove(path.c_str());
  std::remove(path2.c_str());
}

// The cache is written through a flushed temporary file and a rename: nothing is left beside it,
// and a folder that cannot take it is an error that names the file, not a crash.
TEST(Backbone, CacheIsWrittenWholeOrNamedAsAnError) {
  const auto path = test::write_tiny_backbone("cache_write");
  const auto dir = fs::temp_directory_path() / "boosthead_bb_cache_dir";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto images = test::tiny_images(10, 4).first;
  FrozenBackbone backbone(path, "features");
  bool hit = true;
  backbone.extract_cached(images, (dir / "f.cache").string(), 8, {}, &hit);
  EXPECT_FALSE(hit);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"f.cache"});

  const auto missing = (dir / "no_such_folder" / "f.cache").string();
  try {
    backbone.extract_cached(images, missing, 8, {}, &hit);
    ADD_FAILURE() << "no error for an unwritable cache";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write feature cache '" + missing + "'"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
  std::remove(path.c_str());
}

TEST(Backbone, Fnv1a64KnownValues) {
  EXPECT_EQ(fnv1a64("", 0), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a64("foobar", 6), 0x85944171f73967e8ULL);
}
