#pragma once
/// \file
/// Image inputs (IDX files) and image pipelines for the subcommands of the command-line tool.

#include <boosthead/model_file.h>
#include <boosthead/pipeline.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace boosthead::cli {

/// Reads IDX images (N x H x W, plain or .gz) as float32 N x 1 x H x W in [0, 1]; throws naming
/// the option and file when there are none.
torch::Tensor read_images(const std::string& path, const std::string& option = "--images");

/// Reads IDX labels as int64 N and checks there is one per image; errors name `option` and
/// `images_option`.
torch::Tensor read_labels(const std::string& path, int64_t num_images,
                          const std::string& images_path, const std::string& option = "--labels",
                          const std::string& images_option = "--images");

/// Labelled images run through a frozen backbone.
struct ImageFeatures {
  /// Flattened features N x d on the CPU, unstandardised.
  torch::Tensor features;
  /// int64 labels N.
  torch::Tensor labels;
  /// Whether the features were read back from the cache file.
  bool from_cache = false;
  /// Seconds spent reading the images and obtaining their features.
  double seconds = 0.0;
};

/// Reads IDX images and labels (errors name `images_option` and `labels_option`) and extracts
/// their features with `backbone`, through the cache file `cache` unless it is empty.
/// Progress lines on stderr name `images_option` unless `quiet`.
ImageFeatures read_image_features(FrozenBackbone& backbone, const std::string& images_path,
                                  const std::string& labels_path, const std::string& cache,
                                  int64_t batch_size, const std::string& images_option,
                                  const std::string& labels_option, bool quiet);

/// Class names for `labels`: "0".."K-1" with K = max(label) + 1 when `names` is empty, else the
/// comma-separated `names`, which must cover every label. Throws naming --class-names.
std::vector<std::string> class_names_for(const torch::Tensor& labels, const std::string& names);

/// load_model, with an error that says so when `path` is an image pipeline.
LoadedModel load_tabular_model(const std::string& path, torch::Device device = torch::kCPU);

/// A progress printer for feature extraction: a line on stderr about every tenth of the rows.
ExtractProgress extraction_progress(const std::string& what, bool quiet);

}  // namespace boosthead::cli
