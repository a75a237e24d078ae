#pragma once
/// \file
/// The model file: a self-contained TorchScript archive with the fused head, the feature
/// standardisation and the encoding of the input columns.
///
/// `torch.jit.load(path)` runs it without boosthead: `forward(x)` takes the encoded,
/// unstandardised N x d feature matrix and returns class probabilities (classification) or
/// values (regression); `forward_stages(x, t)` does the same with only the first t stages, and
/// `scores(x, t)` returns raw scores. `forward_columns(numeric, categorical)` takes the raw input
/// columns by name instead (numeric ones as 1-D tensors, categorical ones as lists of strings),
/// encodes them inside the model (a level not seen in training encodes as all zeros) and returns
/// forward's output; `encode_columns` gives the encoded matrix. A missing or unexpected column
/// is an error naming it. Attributes: `format` ("boosthead-model"), `format_version`, `task`,
/// `loss`, `activation`, `stages`, `units_per_stage`, `feature_names`, `class_names`,
/// `input_columns`, `categorical_levels` (column -> levels), `target`, `ignored_columns`.
///
/// The encoding `forward` expects: the input columns in `input_columns` order, each numeric
/// column as one feature and each categorical column as one 0/1 feature per level of
/// `categorical_levels[column]`, in that order (names in `feature_names`); unstandardised.

#include <boosthead/data/encoder.h>
#include <boosthead/data/standardizer.h>
#include <boosthead/head.h>

#include <string>
#include <vector>

namespace boosthead {

/// Everything a model file holds besides the head's weights.
struct ModelInfo {
  /// "classification" or "regression".
  std::string task;
  /// Name of the target column the model was trained on.
  std::string target;
  /// Names of the encoded feature columns, in order (d of them).
  std::vector<std::string> feature_names;
  /// Class names in label order (classification); output names for regression.
  std::vector<std::string> class_names;
  /// How input columns become the encoded features.
  std::vector<data::ColumnEncoding> columns;
  /// Standardisation applied inside the model before the head.
  data::Standardizer standardizer;
  /// Columns the fit was told to leave out (`--ignore-columns`); kept as a record.
  std::vector<std::string> ignored_columns;
};

/// A model read back from a file.
struct LoadedModel {
  /// The head, on the requested device.
  BoostedHead head{nullptr};
  /// Its metadata.
  ModelInfo info;
};

/// Writes the model file atomically (a temporary file in the same folder, then a rename), so a
/// failure never leaves a partial file at `path`. Throws std::runtime_error naming the path.
void save_model(const std::string& path, const BoostedHeadImpl& head, const ModelInfo& info);

/// Reads a model file written by save_model. Throws std::invalid_argument naming the path when it
/// is missing, not a TorchScript archive (checked first with check_torchscript_archive), not a
/// boosthead model, or inconsistent.
LoadedModel load_model(const std::string& path, torch::Device device = torch::kCPU);

/// Checks, before LibTorch parses it, that `path` is an intact TorchScript archive: a zip file
/// whose records all lie inside the file, match their CRC-32 and inflate to their stated size,
/// all under one folder that holds data.pkl, constants.pkl and a version record. A truncated or
/// corrupted file is so refused with a clear error instead of reaching LibTorch's reader, which
/// trusts lengths in the file. It does not make a deliberately crafted archive safe: TorchScript
/// archives hold code that loading compiles and runs. Throws std::invalid_argument
/// "<what> '<path>': cannot open it" or "...: not a readable TorchScript archive (<why>)".
void check_torchscript_archive(const std::string& path, const std::string& what = "model file");

}  // namespace boosthead
