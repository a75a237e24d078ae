#include "options.h"

#include <boosthead/trainer_options.h>
#include <fmt/format.h>

#include <variant>

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

// The option's value from a dict entry of the option's type; a TypeError names what was found.
OptionValue option_value(const OptionInfo& info, const c10::IValue& v) {
  const std::string& key = info.name;
  switch (info.type) {
    case OptionType::kBool:
      return as_bool(key, v);
    case OptionType::kInt:
      return as_int(key, v);
    case OptionType::kFloat:
      return as_float(key, v);
    case OptionType::kString:
      return as_string(key, v);
    case OptionType::kDevice:
      if (v.isNone()) return {};
      if (v.isDevice()) return v.toDevice().str();
      return as_string(key, v);
    case OptionType::kDType:
      if (v.isNone()) return {};
      // A torch.dtype reaches C++ as its ScalarType code.
      if (v.isInt()) {
        const auto code = v.toInt();
        if (code < 0 || code >= static_cast<int64_t>(torch::ScalarType::NumOptions)) {
          value_error(fmt::format("option '{}': {} is not a dtype code", key, code));
        }
        return util::dtype_name(static_cast<torch::ScalarType>(code));
      }
      return as_string(key, v);
  }
  value_error(fmt::format("option '{}' has a type this build cannot read", key));
}

c10::IValue to_ivalue(const OptionValue& v) {
  return std::visit(
      [](const auto& x) -> c10::IValue {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::monostate>) {
          return {};
        } else {
          return c10::IValue(x);
        }
      },
      v);
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
    const OptionInfo* info = find_trainer_option(key);
    if (info == nullptr) {
      value_error(fmt::format("unknown option '{}'; valid options: preset, {}", key,
                              trainer_option_names()));
    }
    const OptionValue value = option_value(*info, entry.value());
    python_errors([&] {
      info->set(o, value);
      // Names are checked here, ranges at fit (TrainerOptions can hold any number until then).
      if (info->type == OptionType::kString) info->check(o);
    });
  }
  return o;
}

OptionsDict options_dict(const TrainerOptions& o) {
  OptionsDict out = make_dict();
  for (const auto& info : trainer_option_table()) out.insert(info.name, to_ivalue(info.get(o)));
  return out;
}

c10::Dict<std::string, std::string> option_types() {
  c10::Dict<std::string, std::string> out;
  for (const auto& info : trainer_option_table())
    out.insert(info.name, option_type_name(info.type));
  return out;
}

}  // namespace boosthead::plugin
