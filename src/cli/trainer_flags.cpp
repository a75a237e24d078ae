#include "trainer_flags.h"

#include <boosthead/activation.h>
#include <boosthead/stage_solver.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <stdexcept>

#include "common.h"

namespace boosthead::cli {
namespace {

// Binds one flag to the field `field(options)` of flags.given and records how to copy it.
template <typename Field>
void add_flag(CLI::App& app, TrainerFlags& flags, const std::string& name, Field field,
              const std::string& help) {
  auto* option = app.add_option(name, field(flags.given), help)->capture_default_str();
  flags.apply.push_back([option, field, &flags](TrainerOptions& o) {
    if (option->count() > 0) field(o) = field(flags.given);
  });
}

std::string paper_summary() {
  const auto p = trainer_preset("paper");
  return fmt::format(
      "paper: {} stages of {} {} unit, shrinkage {}, subsample {}, {} solver, no early stopping, "
      "targets as given",
      p.stages(), p.units_per_stage(), p.activation(), p.shrinkage(), p.subsample(), p.solver());
}

}  // namespace

TrainerOptions TrainerFlags::resolve() const {
  TrainerOptions o;
  try {
    o = trainer_preset(preset);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("--preset: {}", e.what()));
  }
  for (const auto& copy : apply) copy(o);
  return o;
}

void add_trainer_flags(CLI::App& app, TrainerFlags& f, const std::string& scope) {
  app.add_option("--preset", f.preset,
                 fmt::format("{}starting options, overridden by the flags given: {}; the defaults "
                             "shown are the default preset's ({})",
                             scope, fmt::join(trainer_presets(), ", "), paper_summary()))
      ->capture_default_str();
  using O = TrainerOptions;
  add_flag(
      app, f, "--stages", [](O & o) -> auto& { return o.stages(); },
      scope + "boosting stages T (the most, with early stopping)");
  add_flag(
      app, f, "--units", [](O & o) -> auto& { return o.units_per_stage(); },
      fmt::format("{}hidden units per stage J (0: {} per output: 1 output for regression and "
                  "two classes, K for K classes)",
                  scope, kAutoUnitsPerOutput));
  add_flag(
      app, f, "--shrinkage", [](O & o) -> auto& { return o.shrinkage(); },
      scope + "shrinkage eta of every stage's step");
  add_flag(
      app, f, "--subsample", [](O & o) -> auto& { return o.subsample(); },
      scope + "fraction of rows each stage is fitted on");
  add_flag(
      app, f, "--max-iter", [](O & o) -> auto& { return o.max_iter(); },
      scope + "solver iterations per stage");
  add_flag(
      app, f, "--activation", [](O & o) -> auto& { return o.activation(); },
      fmt::format("{}hidden activation: {}", scope, fmt::join(activation_names(), ", ")));
  add_flag(
      app, f, "--l2", [](O & o) -> auto& { return o.l2(); }, scope + "L2 penalty on stage weights");
  add_flag(
      app, f, "--solver", [](O & o) -> auto& { return o.solver(); },
      fmt::format("{}stage solver: {}", scope, fmt::join(stage_solver_names(), ", ")));
  add_flag(
      app, f, "--valid-fraction", [](O & o) -> auto& { return o.valid_fraction(); },
      scope + "fraction of training rows held out for validation (0: none)");
  add_flag(
      app, f, "--patience", [](O & o) -> auto& { return o.patience(); },
      scope + "stop after this many stages without validation improvement (0: never)");
  add_flag(
      app, f, "--standardize-targets", [](O & o) -> auto& { return o.standardize_targets(); },
      scope +
          "regression: train on targets at mean 0 and unit scale (true or false); "
          "predictions stay in the targets' units");
}

nlohmann::ordered_json trainer_options_json(const TrainerOptions& o, const std::string& preset) {
  return {{"preset", preset},
          {"stages", o.stages()},
          {"units_per_stage", o.units_per_stage()},
          {"shrinkage", o.shrinkage()},
          {"subsample", o.subsample()},
          {"max_iter", o.max_iter()},
          {"activation", o.activation()},
          {"loss", o.loss()},
          {"solver", o.solver()},
          {"l2", o.l2()},
          {"valid_fraction", o.valid_fraction()},
          {"patience", o.patience()},
          {"keep_best", o.keep_best()},
          {"standardize_targets", o.standardize_targets()},
          {"num_classes", o.num_classes()},
          {"seed", o.seed()},
          {"device", o.device() ? o.device()->str() : "cpu"},
          {"dtype", dtype_name(o.dtype().value_or(torch::kFloat))}};
}

}  // namespace boosthead::cli
