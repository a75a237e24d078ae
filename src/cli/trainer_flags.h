#pragma once
/// \file
/// The boosting trainer's options as command-line flags, described once for `fit` and `bench`,
/// on top of a named preset: a flag the user gives wins over the preset's value.

#include <boosthead/trainer.h>
#include <boosthead/trainer_options.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace boosthead::cli {

/// The trainer's flags: a preset and the values given on the command line.
struct TrainerFlags {
  /// --preset: a name from trainer_presets().
  std::string preset = "default";
  /// The options given, in the order parsed.
  std::vector<std::pair<const OptionInfo*, OptionValue>> given;

  /// The preset's options with every given flag on top; a UsageError for an unknown preset.
  TrainerOptions resolve() const;
};

/// Adds --preset and a flag for every option of trainer_option_table() that has one; `scope`
/// goes in front of each help text ("gbnn: " in bench).
void add_trainer_flags(CLI::App& app, TrainerFlags& flags, const std::string& scope = "");

/// The options a fit used, for reports: the preset and every trainer option (null: unset).
nlohmann::ordered_json trainer_options_json(const TrainerOptions& o, const std::string& preset);

}  // namespace boosthead::cli
