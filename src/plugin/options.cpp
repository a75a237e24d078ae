#include "options.h"

#include <boosthead/activation.h>
#include <boosthead/loss.h>
#include <boosthead/stage_solver.h>
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "../util/dtype.h"

namespace boosthead::plugin {

OptionsDict make_dict() {
  return c10::impl::toTypedDict<std::string, c10::IValue>(
      c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get()));
}

void value_error(const std::string& msg) { C10_THROW_ERROR(ValueError, msg); }

namespace {

std::string type_name(const c10::IValue& v) {
  if (v.isNone()) return "None";
  return v.type()->annotation_str();
}

[[noreturn]] void type_error(const std::string& key, const char* expected, const c10::IValue& v) {
  C10_THROW_ERROR(TypeError,
                  fmt::format("option '{}' must be {}, got {}", key, expected, type_name(v)));
}

int64_t as_int(const std::string& key, const c10::IValue& v) {
  if (!v.isInt()) type_error(key, "an int", v);
  return v.toInt();
}

double as_float(const std::string& key, const c10::IValue& v) {
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  type_error(key, "a float", v);
}

std::string as_string(const std::string& key, const c10::IValue& v) {
  if (!v.isString()) type_error(key, "a str", v);
  return v.toStringRef();
}

bool as_bool(const std::string& key, const c10::IValue& v) {
  if (!v.isBool()) type_error(key, "a bool", v);
  return v.toBool();
}

torch::ScalarType parse_dtype(const std::string& key, const c10::IValue& v) {
  // A torch.dtype reaches C++ as its ScalarType code.
  if (v.isInt()) {
    const auto code = v.toInt();
    if (code < 0 || code >= static_cast<int64_t>(torch::ScalarType::NumOptions)) {
      value_error(fmt::format("option '{}': {} is not a dtype code", key, code));
    }
    return static_cast<torch::ScalarType>(code);
  }
  const std::string s = as_string(key, v);
  for (auto t : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16}) {
    if (s == util::dtype_name(t) || s == "torch." + util::dtype_name(t)) return t;
  }
  value_error(fmt::format(
      "option '{}' must be one of float32, float64, float16, bfloat16, got '{}'", key, s));
}

struct OptionSpec {
  const char* name;
  std::function<void(TrainerOptions&, const std::string&, const c10::IValue&)> set;
  std::function<c10::IValue(const TrainerOptions&)> get;
};

// In TrainerOptions' field order.
const std::vector<OptionSpec>& option_specs() {
  static const std::vector<OptionSpec> specs = {
      {"stages", [](auto& o, auto& k, auto& v) { o.stages(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.stages()); }},
      {"units_per_stage", [](auto& o, auto& k, auto& v) { o.units_per_stage(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.units_per_stage()); }},
      {"shrinkage", [](auto& o, auto& k, auto& v) { o.shrinkage(as_float(k, v)); },
       [](auto& o) { return c10::IValue(o.shrinkage()); }},
      {"subsample", [](auto& o, auto& k, auto& v) { o.subsample(as_float(k, v)); },
       [](auto& o) { return c10::IValue(o.subsample()); }},
      {"max_iter", [](auto& o, auto& k, auto& v) { o.max_iter(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.max_iter()); }},
      {"activation",
       [](auto& o, auto& k, auto& v) {
         const auto name = as_string(k, v);
         activation_from_name(name);
         o.activation(name);
       },
       [](auto& o) { return c10::IValue(o.activation()); }},
      {"loss",
       [](auto& o, auto& k, auto& v) {
         const auto name = as_string(k, v);
         if (name != "auto") make_loss(name);
         o.loss(name);
       },
       [](auto& o) { return c10::IValue(o.loss()); }},
      {"solver",
       [](auto& o, auto& k, auto& v) {
         const auto name = as_string(k, v);
         make_stage_solver(name);
         o.solver(name);
       },
       [](auto& o) { return c10::IValue(o.solver()); }},
      {"standardize_targets",
       [](auto& o, auto& k, auto& v) { o.standardize_targets(as_bool(k, v)); },
       [](auto& o) { return c10::IValue(o.standardize_targets()); }},
      {"l2", [](auto& o, auto& k, auto& v) { o.l2(as_float(k, v)); },
       [](auto& o) { return c10::IValue(o.l2()); }},
      {"valid_fraction", [](auto& o, auto& k, auto& v) { o.valid_fraction(as_float(k, v)); },
       [](auto& o) { return c10::IValue(o.valid_fraction()); }},
      {"patience", [](auto& o, auto& k, auto& v) { o.patience(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.patience()); }},
      {"keep_best", [](auto& o, auto& k, auto& v) { o.keep_best(as_bool(k, v)); },
       [](auto& o) { return c10::IValue(o.keep_best()); }},
      {"num_classes", [](auto& o, auto& k, auto& v) { o.num_classes(as_int(k, v)); },
       [](auto& o) { return c10::IValue(o.num_classes()); }},
      {"seed",
       [](auto& o, auto& k, auto& v) {
         const auto seed = as_int(k, v);
         if (seed < 0) value_error(fmt::format("option 'seed' must be non-negative, got {}", seed));
         o.seed(static_cast<uint64_t>(seed));
       },
       [](auto& o) { return c10::IValue(static_cast<int64_t>(o.seed())); }},
      {"device",
       [](auto& o, auto& k, auto& v) {
         if (v.isNone()) {
           o.device(std::nullopt);
         } else if (v.isDevice()) {
           o.device(v.toDevice());
         } else {
           const auto s = as_string(k, v);
           try {
             o.device(torch::Device(s));
           } catch (const c10::Error&) {
             value_error(fmt::format("option 'device': '{}' is not a device", s));
           }
         }
       },
       [](auto& o) { return o.device() ? c10::IValue(o.device()->str()) : c10::IValue(); }},
      {"dtype",
       [](auto& o, auto& k, auto& v) {
         if (v.isNone()) {
           o.dtype(std::nullopt);
         } else {
           o.dtype(parse_dtype(k, v));
         }
       },
       [](auto& o) {
         return o.dtype() ? c10::IValue(util::dtype_name(*o.dtype())) : c10::IValue();
       }},
      {"checkpoint", [](auto& o, auto& k, auto& v) { o.checkpoint(as_string(k, v)); },
       [](auto& o) { return c10::IValue(o.checkpoint()); }},
      {"resume", [](auto& o, auto& k, auto& v) { o.resume(as_bool(k, v)); },
       [](auto& o) { return c10::IValue(o.resume()); }},
  };
  return specs;
}

std::string option_list() {
  std::string out;
  for (const auto& s : option_specs()) out += (out.empty() ? "" : ", ") + std::string(s.name);
  return out;
}

}  // namespace

TrainerOptions parse_options(const OptionsDict& dict) {
  TrainerOptions o;
  // The preset is the starting point, whatever its place in the dict.
  const auto preset = dict.find("preset");
  if (preset != dict.end())
    o = python_errors([&] { return trainer_preset(as_string("preset", preset->value())); });
  for (const auto& entry : dict) {
    const std::string& key = entry.key();
    if (key == "preset") continue;
    const auto& specs = option_specs();
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](const OptionSpec& s) { return key == s.name; });
    if (it == specs.end()) {
      value_error(
          fmt::format("unknown option '{}'; valid options: preset, {}", key, option_list()));
    }
    it->set(o, key, entry.value());
  }
  return o;
}

OptionsDict options_dict(const TrainerOptions& o) {
  OptionsDict out = make_dict();
  for (const auto& s : option_specs()) out.insert(s.name, s.get(o));
  return out;
}

}  // namespace boosthead::plugin
