#pragma once
/// \file
/// Backbone + boosted head as one TorchScript file, and fitting a head on a frozen backbone.
///
/// The pipeline file runs with `torch.jit.load(path)` alone: `forward(images)` returns class
/// probabilities (classification) or values (regression), `forward_stages(images, t)` the same
/// with only the first t stages, `scores(images, t)` raw scores, `features(images)` the
/// backbone's flattened, unstandardised features (N x d) and `head_forward_stages(features, t)`
/// the head alone on such features. The backbone is the submodule `backbone`; the feature
/// standardisation is applied inside, before the head. Attributes: `format`
/// ("boosthead-pipeline"), `format_version`, `task`, `loss`, `activation`, `stages`,
/// `units_per_stage`, `num_features`, `class_names`, `feature_module`.

#include <boosthead/backbone.h>
#include <boosthead/data/standardizer.h>
#include <boosthead/head.h>
#include <boosthead/trainer.h>
#include <torch/arg.h>
#include <torch/script.h>

#include <string>
#include <vector>

namespace boosthead {

/// What a pipeline file holds besides the backbone and the head's weights.
struct PipelineInfo {
  /// "classification" or "regression".
  std::string task = "classification";
  /// Class names in label order (classification); output names for regression.
  std::vector<std::string> class_names;
  /// Standardisation of the backbone's features, learnt on the training features.
  data::Standardizer standardizer;
};

/// Writes backbone and head as one TorchScript file, atomically (a temporary file, then a
/// rename). The backbone is stored as loaded (on the CPU). Throws std::invalid_argument when the
/// head, the metadata and the backbone's feature width disagree, std::runtime_error naming the
/// path when the file cannot be written.
void save_pipeline(const std::string& path, const FrozenBackbone& backbone,
                   const BoostedHeadImpl& head, const PipelineInfo& info);

/// A pipeline file read back.
class LoadedPipeline {
 public:
  /// The TorchScript module (eval mode).
  torch::jit::Module module;
  /// "classification" or "regression".
  std::string task;
  /// The head's loss name.
  std::string loss;
  /// Class (or output) names.
  std::vector<std::string> class_names;
  /// The backbone's feature selector ("" for forward).
  std::string feature_module;
  /// Stages T of the head.
  int64_t stages = 0;
  /// Hidden units per stage J.
  int64_t units_per_stage = 0;
  /// Feature width d.
  int64_t num_features = 0;
  /// The device the module was loaded onto; predict moves each batch there.
  torch::Device device = torch::kCPU;

  /// Runs `forward_stages(images, stages)` (all stages when negative) over `images` in batches
  /// of `batch_size`, without gradients; returns the outputs (N x K) on the CPU.
  torch::Tensor predict(const torch::Tensor& images, int64_t stages = -1, int64_t batch_size = 256,
                        const ExtractProgress& progress = {});
  /// The head's parameters dtype (float32 or float64).
  torch::ScalarType dtype() const;
};

/// Reads a pipeline file written by save_pipeline. Throws std::invalid_argument naming the path
/// when it is missing, not TorchScript, not a pipeline (saying so when it is a tabular
/// "boosthead-model"), or inconsistent.
LoadedPipeline load_pipeline(const std::string& path, torch::Device device = torch::kCPU);

/// The `format` attribute of a TorchScript file ("boosthead-model", "boosthead-pipeline", ...),
/// or "" when it has none. Throws std::invalid_argument naming the path when it cannot be read.
std::string archive_format(const std::string& path);

/// Options of fit_on_backbone.
struct BackboneFitOptions {
  /// Rows per backbone batch.
  TORCH_ARG(int64_t, batch_size) = 256;
  /// Feature cache file (see FrozenBackbone::extract_cached); empty for none.
  TORCH_ARG(std::string, feature_cache) = "";
};

/// The outcome of fit_on_backbone.
struct BackboneFitResult {
  /// The trainer's result.
  FitResult fit;
  /// Standardisation learnt on the training rows' features.
  data::Standardizer standardizer;
  /// Rows trained on.
  int64_t train_rows = 0;
  /// Rows held out for validation (trainer's valid_fraction).
  int64_t valid_rows = 0;
  /// Whether the features came from the cache file.
  bool features_from_cache = false;
  /// Seconds spent obtaining the features (extraction or cache read).
  double extract_seconds = 0.0;
};

/// Extracts the features of `inputs` once (through the cache when one is set), splits off the
/// trainer's valid_fraction (stratified for integer labels) before learning the standardisation
/// from the training rows, and fits `trainer` on the standardised features in the trainer's
/// dtype (float32 when unset). The backbone is never trained.
BackboneFitResult fit_on_backbone(FrozenBackbone& backbone, Trainer& trainer,
                                  const torch::Tensor& inputs, const torch::Tensor& targets,
                                  const BackboneFitOptions& options = {},
                                  const ExtractProgress& progress = {});

}  // namespace boosthead
