#pragma once
/// \file
/// The trainer's value options described once: name, type, help and range check. Validation,
/// the TorchScript plugin's options dict, the CLI's flags, the JSON reports and the checkpoint
/// fingerprint are all read off this table, so an option is added in one line here (plus its
/// field in TrainerOptions and its use). Defaults stay in TrainerOptions.

#include <boosthead/trainer.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace boosthead {

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

/// The type's name in messages: "a bool", "an int", "a float", "a str", "a device", "a dtype".
const char* option_type_name(OptionType type);

/// A value as text: "true", "25", "0.2", "relu", "cuda:0"; "none" when unset.
std::string option_value_string(const OptionValue& v);

/// "name=value" for every fingerprinted option of `o`, space-separated: two fits can continue
/// each other's checkpoints only when these agree.
std::string fingerprinted_options(const TrainerOptions& o);

}  // namespace boosthead
