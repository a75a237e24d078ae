#pragma once
// Internal: a finiteness test cheap enough to run on every stage's weights and residuals.

#include <torch/types.h>

#include <cstdint>
#include <cstring>

namespace boosthead::detail {
namespace finite_impl {

// True when no value has an all-ones exponent (Inf or NaN): integer operations over the bits,
// which vectorise, where std::isfinite with an early exit compares one value at a time.
template <typename Bits>
bool finite_bits(const void* data, int64_t n, Bits exponent) {
  const char* p = static_cast<const char*>(data);
  Bits bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    Bits v;
    std::memcpy(&v, p + i * sizeof(Bits), sizeof v);  // the value's bits, without aliasing
    bad |= static_cast<Bits>((v & exponent) == exponent);
  }
  return bad == 0;
}

}  // namespace finite_impl

// False if any value is NaN or infinite.
inline bool all_finite(const torch::Tensor& t) {
  // A plain loop on the host: torch::isfinite is a chain of several ops, run for every stage.
  if (t.device().is_cpu() &&
      (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble)) {
    auto c = t.contiguous();
    if (c.scalar_type() == torch::kFloat) {
      return finite_impl::finite_bits<uint32_t>(c.data_ptr(), c.numel(), 0x7f800000u);
    }
    return finite_impl::finite_bits<uint64_t>(c.data_ptr(), c.numel(), 0x7ff0000000000000ull);
  }
  return torch::isfinite(t).all().item<bool>();
}

}  // namespace boosthead::detail
