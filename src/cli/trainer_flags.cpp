#include "trainer_flags.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <stdexcept>

#include "common.h"

namespace boosthead::cli {
namespace {

// Adds `info`'s flag, parsed as T; a given value is recorded in flags.given.
template <typename T>
void add_flag(CLI::App& app, TrainerFlags& flags, const OptionInfo& info,
              const std::string& scope) {
  app.add_option_function<T>(
         info.flag,
         [&flags, &info](const T& value) { flags.given.emplace_back(&info, OptionValue(value)); },
         scope + info.help)
      ->default_str(option_value_string(info.get(TrainerOptions())));
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
  for (const auto& [info, value] : given) {
    try {
      info->set(o, value);
    } catch (const std::invalid_argument& e) {
      throw UsageError(fmt::format("{}: {}", info->flag, e.what()));
    }
  }
  return o;
}

void add_trainer_flags(CLI::App& app, TrainerFlags& f, const std::string& scope) {
  app.add_option("--preset", f.preset,
                 fmt::format("{}starting options, overridden by the flags given: {}; the defaults "
                             "shown are the default preset's ({})",
                             scope, fmt::join(trainer_presets(), ", "), paper_summary()))
      ->capture_default_str();
  for (const auto& info : trainer_option_table()) {
    if (info.flag.empty()) continue;
    switch (info.type) {
      case OptionType::kBool:
        add_flag<bool>(app, f, info, scope);
        break;
      case OptionType::kInt:
        add_flag<int64_t>(app, f, info, scope);
        break;
      case OptionType::kFloat:
        add_flag<double>(app, f, info, scope);
        break;
      default:
        add_flag<std::string>(app, f, info, scope);
    }
  }
}

nlohmann::ordered_json trainer_options_json(const TrainerOptions& o, const std::string& preset) {
  nlohmann::ordered_json out = {{"preset", preset}};
  for (const auto& info : trainer_option_table()) {
    out[info.name] = std::visit(
        [](const auto& v) -> nlohmann::ordered_json {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::monostate>) {
            return nullptr;
          } else {
            return v;
          }
        },
        info.get(o));
  }
  return out;
}

}  // namespace boosthead::cli
