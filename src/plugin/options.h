#pragma once
// The plugin's options dict: TrainerOptions fields by name, with Python's error types.

#include <boosthead/trainer.h>
#include <torch/custom_class.h>

#include <stdexcept>
#include <string>

namespace boosthead::plugin {

using OptionsDict = c10::Dict<std::string, c10::IValue>;

// An empty str -> Any dict.
OptionsDict make_dict();

[[noreturn]] void value_error(const std::string& msg);

// Python maps c10::ValueError to ValueError and c10::TypeError to TypeError, but anything else
// (std::invalid_argument included) to RuntimeError, so the library's argument errors are
// rethrown here with the same message.
template <class F>
auto python_errors(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    C10_THROW_ERROR(ValueError, e.what());
  }
}

// TrainerOptions from a dict: the options of its "preset" (trainer_preset; default "default")
// with the dict's other keys on top; unknown keys raise ValueError, wrong types TypeError.
TrainerOptions parse_options(const OptionsDict& dict);
// Every option, defaults included; parse_options(options_dict(o)) equals o.
OptionsDict options_dict(const TrainerOptions& o);
// Every option's type by name: "bool", "int", "float", "str", "device" or "dtype" (Python's
// estimators convert their parameters by it).
c10::Dict<std::string, std::string> option_types();

}  // namespace boosthead::plugin
