#include <boosthead/activation.h>
#include <boosthead/loss.h>
#include <boosthead/stage_solver.h>
#include <boosthead/trainer_options.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "util/dtype.h"

namespace boosthead {
namespace {

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw std::invalid_argument(fmt::format(format, std::forward<Args>(args)...));
}

template <typename T>
constexpr OptionType type_of() {
  if constexpr (std::is_same_v<T, bool>) return OptionType::kBool;
  if constexpr (std::is_same_v<T, int64_t>) return OptionType::kInt;
  if constexpr (std::is_same_v<T, double>) return OptionType::kFloat;
  if constexpr (std::is_same_v<T, std::string>) return OptionType::kString;
}

template <typename T>
T value_as(const std::string& name, const OptionValue& v) {
  if constexpr (std::is_same_v<T, double>) {
    // An int is a float wherever a float is asked for (Python's 1 for 1.0).
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  }
  if (const auto* t = std::get_if<T>(&v)) return *t;
  const std::string type = option_type_name(type_of<T>());
  fail("option '{}' must be {} {}, got {}", name, type == "int" ? "an" : "a", type,
       option_value_string(v));
}

// A plain field: `field` is a generic lambda returning o.<field>() (a reference), `check` a
// callable taking the value that throws when it is out of range.
template <typename T, typename Field, typename Check>
OptionInfo plain(std::string name, std::string flag, bool fingerprinted, Field field, Check check,
                 std::string help) {
  OptionInfo info;
  info.name = name;
  info.type = type_of<T>();
  info.help = std::move(help);
  info.flag = std::move(flag);
  info.fingerprinted = fingerprinted;
  info.get = [field](const TrainerOptions& o) { return OptionValue(T(field(o))); };
  info.set = [field, name](TrainerOptions& o, const OptionValue& v) {
    field(o) = value_as<T>(name, v);
  };
  info.check = [field, check](const TrainerOptions& o) { check(field(o)); };
  return info;
}

const auto kAny = [](const auto&) {};

#define BOOSTHEAD_FIELD(f) \
  [](auto& o) -> auto& { return o.f(); }

torch::Device parse_device(const std::string& s) {
  try {
    return torch::Device(s);
  } catch (const c10::Error&) {
    fail("option 'device': '{}' is not a device", s);
  }
}

torch::ScalarType parse_dtype(const std::string& s) {
  for (auto t : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
    if (s == util::dtype_name(t) || s == "torch." + util::dtype_name(t)) return t;
  }
  fail("option 'dtype' must be one of float32, float64, float16, bfloat16, got '{}'", s);
}

OptionInfo seed_option() {
  OptionInfo info;
  info.name = "seed";
  info.type = OptionType::kInt;
  info.help = "seed of weight initialisation, subsampling and the validation split";
  info.fingerprinted = true;
  // Carried as an int (Python's and TorchScript's integer); seeds above 2^63 read back negative.
  info.get = [](const TrainerOptions& o) { return OptionValue(static_cast<int64_t>(o.seed())); };
  info.set = [](TrainerOptions& o, const OptionValue& v) {
    const auto seed = value_as<int64_t>("seed", v);
    if (seed < 0) fail("option 'seed' must be non-negative, got {}", seed);
    o.seed(static_cast<uint64_t>(seed));
  };
  info.check = kAny;
  return info;
}

// An optional field (device, dtype): unset is monostate, a value travels by its name.
template <typename Field, typename Parse, typename Show>
OptionInfo optional_option(std::string name, OptionType type, Field field, Parse parse, Show show,
                           std::string help) {
  OptionInfo info;
  info.name = name;
  info.type = type;
  info.help = std::move(help);
  info.get = [field, show](const TrainerOptions& o) {
    const auto& value = field(o);
    return value ? OptionValue(show(*value)) : OptionValue();
  };
  info.set = [field, parse, name](TrainerOptions& o, const OptionValue& v) {
    if (std::holds_alternative<std::monostate>(v)) {
      field(o).reset();
    } else {
      field(o) = parse(value_as<std::string>(name, v));
    }
  };
  info.check = kAny;
  return info;
}

std::vector<OptionInfo> make_table() {
  using std::string;
  return {
      plain<int64_t>(
          "stages", "--stages", false, BOOSTHEAD_FIELD(stages),
          [](int64_t v) {
            if (v < 1) fail("stages must be at least 1, got {}", v);
          },
          "boosting stages T (the most, with early stopping)"),
      plain<int64_t>(
          "units_per_stage", "--units", false, BOOSTHEAD_FIELD(units_per_stage),
          [](int64_t v) {
            if (v < 0) fail("units_per_stage must be at least 1 (or 0 for auto), got {}", v);
          },
          fmt::format("hidden units per stage J (0: {} per output: 1 output for regression and "
                      "two classes, K for K classes)",
                      kAutoUnitsPerOutput)),
      plain<double>(
          "shrinkage", "--shrinkage", true, BOOSTHEAD_FIELD(shrinkage),
          [](double v) {
            if (!(v > 0.0) || !std::isfinite(v)) fail("shrinkage must be positive, got {}", v);
          },
          "shrinkage eta of every stage's step"),
      plain<double>(
          "subsample", "--subsample", true, BOOSTHEAD_FIELD(subsample),
          [](double v) {
            if (!(v > 0.0 && v <= 1.0)) fail("subsample must be in (0, 1], got {}", v);
          },
          "fraction of rows each stage is fitted on"),
      plain<int64_t>(
          "max_iter", "--max-iter", true, BOOSTHEAD_FIELD(max_iter),
          [](int64_t v) {
            if (v < 1) fail("max_iter must be at least 1, got {}", v);
          },
          "solver iterations per stage"),
      plain<string>(
          "activation", "--activation", true, BOOSTHEAD_FIELD(activation),
          [](const string& v) { activation_from_name(v); },
          fmt::format("hidden activation: {}", fmt::join(activation_names(), ", "))),
      plain<string>(
          "loss", "", false, BOOSTHEAD_FIELD(loss),
          [](const string& v) {
            if (v != "auto") make_loss(v);
          },
          fmt::format("loss: auto (squared for floating targets, binary_logistic for two "
                      "classes, multinomial for more) or {}",
                      fmt::join(loss_names(), ", "))),
      plain<string>(
          "solver", "--solver", true, BOOSTHEAD_FIELD(solver),
          [](const string& v) { make_stage_solver(v); },
          fmt::format("stage solver: {}", fmt::join(stage_solver_names(), ", "))),
      plain<bool>("standardize_targets", "--standardize-targets", false,
                  BOOSTHEAD_FIELD(standardize_targets), kAny,
                  "regression: train on targets at mean 0 and unit scale (true or false); "
                  "predictions stay in the targets' units"),
      plain<double>(
          "l2", "--l2", true, BOOSTHEAD_FIELD(l2),
          [](double v) {
            if (!(v >= 0.0)) fail("l2 must be non-negative, got {}", v);
          },
          "L2 penalty on stage weights"),
      plain<double>(
          "valid_fraction", "--valid-fraction", false, BOOSTHEAD_FIELD(valid_fraction),
          [](double v) {
            if (!(v >= 0.0 && v < 1.0)) fail("valid_fraction must be in [0, 1), got {}", v);
          },
          "fraction of training rows held out for validation (0: none)"),
      plain<int64_t>(
          "patience", "--patience", false, BOOSTHEAD_FIELD(patience),
          [](int64_t v) {
            if (v < 0) fail("patience must be non-negative, got {}", v);
          },
          "stop after this many stages without validation improvement (0: never)"),
      plain<bool>("keep_best", "", false, BOOSTHEAD_FIELD(keep_best), kAny,
                  "with validation, keep the stage count with the best validation loss"),
      plain<int64_t>(
          "num_classes", "", false, BOOSTHEAD_FIELD(num_classes),
          [](int64_t v) {
            if (v < 0) fail("num_classes must be non-negative (0: from the labels), got {}", v);
          },
          "number of classes (0: the largest label + 1)"),
      seed_option(),
      optional_option(
          "device", OptionType::kDevice, BOOSTHEAD_FIELD(device), parse_device,
          [](const torch::Device& d) { return d.str(); },
          "device to train on (none: the features' device)"),
      optional_option("dtype", OptionType::kDType, BOOSTHEAD_FIELD(dtype), parse_dtype,
                      util::dtype_name,
                      "floating type to train in (none: the features' if floating, else float32)"),
      plain<string>("checkpoint", "", false, BOOSTHEAD_FIELD(checkpoint), kAny,
                    "file the training state is saved to after every stage (empty: none)"),
      plain<bool>("resume", "", false, BOOSTHEAD_FIELD(resume), kAny,
                  "continue from the checkpoint file when it exists"),
  };
}

#undef BOOSTHEAD_FIELD

}  // namespace

int64_t auto_units_per_stage(int64_t outputs) {
  return kAutoUnitsPerOutput * std::max<int64_t>(1, outputs);
}

TrainerOptions trainer_preset(const std::string& name) {
  if (name == "default") return {};
  if (name == "paper") {
    return TrainerOptions()
        .stages(200)
        .units_per_stage(1)
        .shrinkage(0.1)
        .subsample(0.5)
        .max_iter(200)
        .activation("sigmoid")
        .solver("lbfgs")
        .l2(1e-4)
        .valid_fraction(0.0)
        .patience(0)
        .standardize_targets(false);
  }
  throw std::invalid_argument(fmt::format("unknown preset '{}'; known presets: {}", name,
                                          fmt::join(trainer_presets(), ", ")));
}

std::vector<std::string> trainer_presets() { return {"default", "paper"}; }

const std::vector<OptionInfo>& trainer_option_table() {
  static const std::vector<OptionInfo> table = make_table();
  return table;
}

const OptionInfo* find_trainer_option(std::string_view name) {
  const auto& table = trainer_option_table();
  auto it = std::find_if(table.begin(), table.end(),
                         [&](const OptionInfo& info) { return info.name == name; });
  return it == table.end() ? nullptr : &*it;
}

std::string trainer_option_names() {
  std::vector<std::string> names;
  for (const auto& info : trainer_option_table()) names.push_back(info.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

const char* option_type_name(OptionType type) {
  switch (type) {
    case OptionType::kBool:
      return "bool";
    case OptionType::kInt:
      return "int";
    case OptionType::kFloat:
      return "float";
    case OptionType::kString:
      return "str";
    case OptionType::kDevice:
      return "device";
    case OptionType::kDType:
      return "dtype";
  }
  return "value";
}

std::string option_value_string(const OptionValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return "none";
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else {
          return fmt::format("{}", x);
        }
      },
      v);
}

std::string fingerprinted_options(const TrainerOptions& o) {
  std::vector<std::string> parts;
  for (const auto& info : trainer_option_table()) {
    if (info.fingerprinted) parts.push_back(info.name + "=" + option_value_string(info.get(o)));
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

void validate_options(const TrainerOptions& o) {
  for (const auto& info : trainer_option_table()) info.check(o);
}

}  // namespace boosthead
