#pragma once
/// \file
/// A frozen TorchScript backbone that turns images (or any input tensor) into a feature matrix
/// for the boosted head.

#include <torch/script.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace boosthead {

/// Reports extraction progress: rows done so far and rows in all.
using ExtractProgress = std::function<void(int64_t done, int64_t total)>;

/// A TorchScript module loaded from a file, in eval mode with gradients off on every parameter.
/// Features come from one of:
///  - the module's `forward` (selector "" or "forward");
///  - a method of the module, e.g. "features" for a `@torch.jit.export def features(self, x)`;
///  - a submodule, e.g. "features" runs `module.features(x)`; dotted paths ("encoder.body")
///    walk nested submodules, and the last part may also be a method of the submodule reached.
/// Whatever the selector returns is flattened to N x d.
class FrozenBackbone {
 public:
  /// Loads `path` onto `device`. Throws std::invalid_argument naming the file when it cannot be
  /// read as TorchScript, and naming the selector and listing the submodules and methods there
  /// are when `feature` does not name one.
  explicit FrozenBackbone(const std::string& path, const std::string& feature = "",
                          torch::Device device = torch::kCPU);

  /// Runs the backbone over `inputs` (N x ...) in batches of `batch_size` rows on the backbone's
  /// device, without gradients, and returns the flattened features (N x d) on the CPU, in the
  /// backbone's output dtype. `progress` is called after each batch.
  torch::Tensor extract(const torch::Tensor& inputs, int64_t batch_size = 256,
                        const ExtractProgress& progress = {});

  /// As extract, through a cache file: when `cache_path` holds features stored for the same
  /// backbone file bytes, selector and inputs (see cache_key), they are read back and the
  /// backbone does not run; otherwise they are extracted and written to `cache_path` atomically
  /// (a temporary file, then a rename). `from_cache`, when given, says which happened. An empty
  /// `cache_path` means no cache.
  torch::Tensor extract_cached(const torch::Tensor& inputs, const std::string& cache_path,
                               int64_t batch_size = 256, const ExtractProgress& progress = {},
                               bool* from_cache = nullptr);

  /// The cache key of `inputs`: FNV-1a 64 of the backbone file bytes, the selector, and the
  /// inputs' dtype, shape and bytes, as 16 hex digits.
  std::string cache_key(const torch::Tensor& inputs) const;

  /// The loaded module (eval mode, parameters frozen).
  const torch::jit::Module& module() const { return module_; }
  /// The file it was loaded from.
  const std::string& path() const { return path_; }
  /// The selector as given, with "" meaning forward.
  const std::string& feature() const { return feature_; }
  /// How the selector resolved: "forward", "method" or "submodule".
  const std::string& feature_kind() const { return kind_; }
  /// The device the backbone runs on.
  torch::Device device() const { return device_; }
  /// Number of batches run through the backbone so far (cache hits run none).
  int64_t batches_run() const { return batches_run_; }
  /// Feature width d of the last extraction (0 before any).
  int64_t num_features() const { return num_features_; }

 private:
  torch::Tensor run_batch(const torch::Tensor& batch);

  std::string path_;
  std::string feature_;
  std::string kind_;
  torch::Device device_;
  torch::jit::Module module_;
  // The module whose forward or method produces the features, and the method's name.
  torch::jit::Module target_;
  std::string method_;
  uint64_t file_hash_ = 0;
  int64_t batches_run_ = 0;
  int64_t num_features_ = 0;
};

/// FNV-1a 64 of `size` bytes, continuing from `hash` (start with the offset basis, the default).
uint64_t fnv1a64(const void* data, size_t size, uint64_t hash = 14695981039346656037ULL);

}  // namespace boosthead
