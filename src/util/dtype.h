#pragma once
// Internal: the one spelling of dtypes in messages, reports and options ("float32", "uint8").

#include <c10/core/ScalarType.h>

#include <string>

namespace boosthead::util {

// numpy's names for the floating and integer types (float32, float64, float16, bfloat16, uint8,
// int8, int16, int32, int64, bool); c10's name for any other.
std::string dtype_name(c10::ScalarType t);

}  // namespace boosthead::util
