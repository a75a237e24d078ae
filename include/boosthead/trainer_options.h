#pragma once
/// \file
/// The boosting trainer's options: TrainerOptions with their defaults, the named presets, and
/// the table that describes each value option once (name, type, help, CLI flag, range check).
/// Validation, the TorchScript plugin's options dict, the CLI's flags, the JSON reports and the
/// checkpoint fingerprint are all read off the table, so a new option is its field here, one
/// line in src/trainer_options.cpp and its use.

#include <boosthead/collective.h>
#include <boosthead/head.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace boosthead {

/// Options of the boosting trainer. The defaults were chosen by cross-validation inside the
/// training part of twelve data sets (docs/DEFAULTS.md): 200 stages of 2 relu units per output,
/// each fitted by 25 variable-projection iterations on 80 % of the rows, shrinkage 0.2,
/// regression targets standardised. trainer_preset("paper") gives the published reference's
/// settings.
struct TrainerOptions {
  /// Number of stages T.
  TORCH_ARG(int64_t, stages) = 200;
  /// Hidden units per stage J; 0 for auto_units_per_stage (kAutoUnitsPerOutput per output).
  TORCH_ARG(int64_t, units_per_stage) = 0;
  /// Shrinkage eta applied to every stage's Newton step.
  TORCH_ARG(double, shrinkage) = 0.2;
  /// Fraction of training rows each stage is fitted on: each row is in a stage's subsample with
  /// this probability, drawn from (seed, stage, row), whatever process holds the row.
  TORCH_ARG(double, subsample) = 0.8;
  /// Maximum solver iterations per stage.
  TORCH_ARG(int64_t, max_iter) = 25;
  /// Hidden activation: "sigmoid", "tanh" or "relu".
  TORCH_ARG(std::string, activation) = "relu";
  /// Loss name from the registry, or "auto": squared for floating targets, binary_logistic for
  /// two classes, multinomial for more.
  TORCH_ARG(std::string, loss) = "auto";
  /// Stage solver name from the registry.
  TORCH_ARG(std::string, solver) = "varpro";
  /// Train squared loss on targets moved to mean 0 and unit scale (one scale for all columns);
  /// the head still predicts, and the history reports, in the targets' own units.
  TORCH_ARG(bool, standardize_targets) = true;
  /// L2 penalty on stage weights (scikit-learn's alpha).
  TORCH_ARG(double, l2) = 1e-4;
  /// Fraction of training rows split off for validation when no validation set is given
  /// (stratified for classification); 0 for none.
  TORCH_ARG(double, valid_fraction) = 0.0;
  /// Stop after this many stages without validation improvement (0: never). Needs a validation
  /// set; fit throws without one.
  TORCH_ARG(int64_t, patience) = 0;
  /// With a validation set, truncate the result to the stage count with the best validation loss.
  TORCH_ARG(bool, keep_best) = true;
  /// Number of classes; 0 to take max(label) + 1.
  TORCH_ARG(int64_t, num_classes) = 0;
  /// Seed for weight initialisation, subsampling and the validation split.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Device to train on; unset: the features' device.
  TORCH_ARG(std::optional<torch::Device>, device) = std::nullopt;
  /// Floating dtype to train in; unset: the features' dtype if floating, else float32.
  TORCH_ARG(std::optional<torch::ScalarType>, dtype) = std::nullopt;
  /// File to save the training state to after every stage (atomically); empty: none.
  TORCH_ARG(std::string, checkpoint) = "";
  /// Continue from `checkpoint` when it exists: the result equals an uninterrupted fit.
  TORCH_ARG(bool, resume) = false;
  /// Warm start: add `stages` new stages to a copy of this head instead of starting from F0.
  TORCH_ARG(BoostedHead, init_head) = nullptr;
  /// Data-parallel fit: the processes that each hold a share of the rows (in rank order, one
  /// after the other) and call fit() together with the same options; null: this process alone.
  /// Every process ends with the same head; only the process of rank 0 writes the checkpoint.
  TORCH_ARG(std::shared_ptr<Collective>, collective) = nullptr;
};

/// Hidden units per stage of units_per_stage 0 (auto): this many per output of the head (one
/// output for regression of one target and for two classes, K for K classes).
inline constexpr int64_t kAutoUnitsPerOutput = 2;

/// The stage width that units_per_stage 0 gives a head with `outputs` outputs.
int64_t auto_units_per_stage(int64_t outputs);

/// Named starting points: "default" (TrainerOptions{}) and "paper" (the published reference's
/// settings: 200 stages of one sigmoid unit, shrinkage 0.1, subsample 0.5, L-BFGS, no early
/// stopping, targets as given). Options set on the result win over the preset's. Throws
/// std::invalid_argument for an unknown name, listing the known ones.
TrainerOptions trainer_preset(const std::string& name);

/// The preset names trainer_preset knows.
std::vector<std::string> trainer_presets();

/// Throws std::invalid_argument naming the first option out of range (stages, units_per_stage,
/// shrinkage, subsample, max_iter, l2, patience, valid_fraction) or an unknown activation or
/// solver name. Trainer::fit checks the same before any work.
void validate_options(const TrainerOptions& options);

/// An option's value; monostate for an unset optional (device, dtype), a device or dtype by its
/// name ("cuda:0", "float64").
using OptionValue = std::variant<std::monostate, bool, int64_t, double, std::string>;

/// What an option holds.
enum class OptionType { kBool, kInt, kFloat, kString, kDevice, kDType };

/// One option of TrainerOptions.
struct OptionInfo {
  /// Its name in TrainerOptions, the plugin's dict, Python and the reports.
  std::string name;
  OptionType type;
  /// One line for --help and the documentation.
  std::string help;
  /// Its flag in the CLI's fit and bench (e.g. "--max-iter"); empty where the CLI sets it
  /// another way or not at all.
  std::string flag;
  /// A checkpoint made with another value cannot be resumed: the value changes the stages.
  bool fingerprinted = false;
  /// The value in `o`.
  std::function<OptionValue(const TrainerOptions& o)> get;
  /// Sets the value; std::invalid_argument naming the option when `v` has another type or is not
  /// a value of the type (an unknown device or dtype name, a negative seed).
  std::function<void(TrainerOptions& o, const OptionValue& v)> set;
  /// Throws std::invalid_argument naming the option when its value in `o` is out of range or an
  /// unknown name (activation, loss, solver).
  std::function<void(const TrainerOptions& o)> check;
};

/// Every value option, in TrainerOptions' order (not init_head and collective, which are
/// objects).
const std::vector<OptionInfo>& trainer_option_table();

/// The option called `name`, or nullptr.
const OptionInfo* find_trainer_option(std::string_view name);

/// The names of the table's options, comma-separated, for messages.
std::string trainer_option_names();

/// The type's name: "bool", "int", "float", "str", "device" or "dtype" (Python's OPTION_TYPES).
const char* option_type_name(OptionType type);

/// A value as text: "true", "25", "0.2", "relu", "cuda:0"; "none" when unset.
std::string option_value_string(const OptionValue& v);

/// "name=value" for every fingerprinted option of `o`, space-separated: two fits can continue
/// each other's checkpoints only when these agree.
std::string fingerprinted_options(const TrainerOptions& o);

}  // namespace boosthead
