#pragma once
// Internal: the CPU kernels, each pass built for each instruction set and chosen at run time.

#include "passes.h"

namespace boosthead::detail::cpu {

// Subnormal numbers cost about a hundred cycles per operation on x86, and a stage makes them:
// a saturated unit's slope h (1 - h) falls below 1e-308, or below 1e-38 once rounded to float32
// for the feature products. The kernel flushes them to zero (a 4,290-row Satellite fit spent a
// fifth of its stage evaluations on them), restoring the thread's mode afterwards.
class FlushSubnormals {
 public:
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  FlushSubnormals() : saved_(__builtin_ia32_stmxcsr()) {
    __builtin_ia32_ldmxcsr(saved_ | kFlushToZero | kDenormalsAreZero);
  }
  ~FlushSubnormals() { __builtin_ia32_ldmxcsr(saved_); }

 private:
  static constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
  unsigned saved_;
#endif
};

using GroupKernel = void (*)(const Pass&, int64_t, int64_t, double*, double*);

// The three passes: objective and gradient; hidden layer and normal matrix (variable
// projection); hidden layer only (the stage's output on every row).
enum class Kind { Objective, Normal, Forward };

// The pass over groups [g0, g1), then each of the s.sums accumulators summed over its lanes into
// acc[s.sums * L + q].
template <typename T, Activation A, Kind K, int L>
BOOSTHEAD_INLINE void group_kernel(const Pass& s, int64_t g0, int64_t g1, double* acc,
                                   double* scratch) {
  if constexpr (K == Kind::Normal) {
    hidden_body<T, A, L>(s, g0, g1, acc, scratch);
  } else if constexpr (K == Kind::Forward) {
    for (int64_t g = g0; g < g1; ++g) hidden_group<T, A, L>(s, g * kGroupRows<L>);
  } else {
    objective_body<T, A, L>(s, g0, g1, acc, scratch);
  }
  for (int64_t q = 0; q < s.sums; ++q) acc[s.sums * L + q] = lane_sum<L>(load<L>(acc + q * L));
}
template <typename T, Activation A, Kind K>
void kernel_baseline(const Pass& s, int64_t g0, int64_t g1, double* acc, double* scratch) {
  group_kernel<T, A, K, 2>(s, g0, g1, acc, scratch);
}
template <typename T, Activation A, Kind K>
BOOSTHEAD_AVX2 void kernel_avx2(const Pass& s, int64_t g0, int64_t g1, double* acc,
                                double* scratch) {
  group_kernel<T, A, K, 4>(s, g0, g1, acc, scratch);
}
template <typename T, Activation A, Kind K>
BOOSTHEAD_AVX512 void kernel_avx512(const Pass& s, int64_t g0, int64_t g1, double* acc,
                                    double* scratch) {
  group_kernel<T, A, K, 8>(s, g0, g1, acc, scratch);
}

// The kernel for this CPU; `lanes` receives its accumulator width.
template <typename T, Activation A, Kind K>
GroupKernel pick_for(Isa isa, int& lanes) {
  switch (isa) {
    case Isa::Avx512:
      lanes = 8;
      return kernel_avx512<T, A, K>;
    case Isa::Avx2:
      lanes = 4;
      return kernel_avx2<T, A, K>;
    case Isa::Baseline:
      break;
  }
  lanes = 2;
  return kernel_baseline<T, A, K>;
}

template <typename T, Kind K>
GroupKernel pick(Activation a, Isa isa, int& lanes) {
  switch (a) {
    case Activation::Sigmoid:
      return pick_for<T, Activation::Sigmoid, K>(isa, lanes);
    case Activation::Tanh:
      return pick_for<T, Activation::Tanh, K>(isa, lanes);
    case Activation::Relu:
      return pick_for<T, Activation::Relu, K>(isa, lanes);
  }
  return nullptr;
}

}  // namespace boosthead::detail::cpu
