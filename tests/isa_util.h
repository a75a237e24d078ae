#pragma once
// The CPU kernels' instruction sets in tests: the ones this CPU runs, each selected through
// BOOSTHEAD_CPU_ISA for the lifetime of a guard that restores the variable afterwards.

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "simd.h"

namespace boosthead::test {

// Names of the instruction sets this CPU can run, baseline first. A loop over them tests each
// kernel build the machine has; the ones it lacks are recorded as a test property.
inline std::vector<const char*> runnable_isas() {
  std::vector<const char*> out{"baseline"};
  const auto top = detail::detected_isa();
  if (top != detail::Isa::Baseline) out.push_back("avx2");
  if (top == detail::Isa::Avx512) out.push_back("avx512");
  if (out.size() < 3) {
    ::testing::Test::RecordProperty("isas_not_on_this_cpu",
                                    out.size() == 1 ? "avx2 avx512" : "avx512");
  }
  return out;
}

// Selects `isa` for the kernels while it lives, checks that the kernels will really use it, and
// restores BOOSTHEAD_CPU_ISA (or its absence) afterwards.
class ScopedIsa {
 public:
  explicit ScopedIsa(const std::string& isa) {
    if (const char* old = std::getenv("BOOSTHEAD_CPU_ISA")) previous_ = old;
    setenv("BOOSTHEAD_CPU_ISA", isa.c_str(), 1);
    const auto want = isa == "avx512" ? detail::Isa::Avx512
                      : isa == "avx2" ? detail::Isa::Avx2
                                      : detail::Isa::Baseline;
    EXPECT_EQ(static_cast<int>(detail::cpu_isa()), static_cast<int>(want))
        << "BOOSTHEAD_CPU_ISA=" << isa << " did not select that instruction set";
  }
  ~ScopedIsa() {
    if (previous_) {
      setenv("BOOSTHEAD_CPU_ISA", previous_->c_str(), 1);
    } else {
      unsetenv("BOOSTHEAD_CPU_ISA");
    }
  }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  std::optional<std::string> previous_;
};

}  // namespace boosthead::test
