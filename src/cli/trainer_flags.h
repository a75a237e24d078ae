#pragma once
/// \file
/// The boosting trainer's options as command-line flags, described once for `fit` and `bench`,
/// on top of a named preset: a flag the user gives wins over the preset's value.

#include <boosthead/trainer.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace boosthead::cli {

/// Flags bound to a TrainerOptions, remembering which ones were given.
struct TrainerFlags {
  /// --preset: a name from trainer_presets().
  std::string preset = "default";
  /// The values the flags parse into (the default preset's until given).
  TrainerOptions given;
  /// One per flag: copies the flag's value into the options when the flag was given.
  std::vector<std::function<void(TrainerOptions&)>> apply;

  /// The preset's options with every given flag on top; a UsageError for an unknown preset.
  TrainerOptions resolve() const;
};

/// Adds --preset, --stages, --units, --shrinkage, --subsample, --max-iter, --activation, --l2,
/// --solver, --valid-fraction, --patience and --standardize-targets to `app`; `scope`
/// goes in front of each help text ("gbnn: " in bench).
void add_trainer_flags(CLI::App& app, TrainerFlags& flags, const std::string& scope = "");

/// The options a fit used, for reports: the preset and every trainer option.
nlohmann::ordered_json trainer_options_json(const TrainerOptions& o, const std::string& preset);

}  // namespace boosthead::cli
