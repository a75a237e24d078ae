#pragma once
// Internal: vector lanes for the CPU kernels (GCC/clang vector extensions) and the choice of
// instruction set at run time. Each kernel is written once over L lanes of double and built for
// each instruction set with the target attributes below.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace boosthead::detail {

#define BOOSTHEAD_INLINE __attribute__((always_inline)) inline

// One value per lane: GCC/clang vector extensions. Plain arithmetic on them compiles to SSE2 in
// the baseline build and to AVX2 or AVX-512 in the kernels built for those.
template <int L>
struct Lanes;
template <>
struct Lanes<2> {
  using d = double __attribute__((vector_size(16)));
  using f = float __attribute__((vector_size(8)));
  using f2 = float __attribute__((vector_size(16)));
  using u2 = uint32_t __attribute__((vector_size(16)));
  using u = uint64_t __attribute__((vector_size(16)));
};
template <>
struct Lanes<4> {
  using d = double __attribute__((vector_size(32)));
  using f = float __attribute__((vector_size(16)));
  using f2 = float __attribute__((vector_size(32)));
  using u2 = uint32_t __attribute__((vector_size(32)));
  using u = uint64_t __attribute__((vector_size(32)));
};
template <>
struct Lanes<8> {
  using d = double __attribute__((vector_size(64)));
  using f = float __attribute__((vector_size(32)));
  using f2 = float __attribute__((vector_size(64)));
  using u2 = uint32_t __attribute__((vector_size(64)));
  using u = uint64_t __attribute__((vector_size(64)));
};

template <int L>
BOOSTHEAD_INLINE typename Lanes<L>::d load(const double* p) {
  typename Lanes<L>::d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// Float32 features: 2L values per vector, the width of L doubles.
template <int L>
BOOSTHEAD_INLINE typename Lanes<L>::f2 load_f2(const float* p) {
  typename Lanes<L>::f2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename V>
BOOSTHEAD_INLINE void store(double* p, V v) {
  std::memcpy(p, &v, sizeof v);
}
template <int L>
BOOSTHEAD_INLINE typename Lanes<L>::d splat(double s) {
  return typename Lanes<L>::d{} + s;
}

// The sum of a vector's lanes, halving it: independent across vectors, where a loop over the
// lanes is a chain of dependent adds.
template <int L>
BOOSTHEAD_INLINE double lane_sum(typename Lanes<L>::d v) {
  if constexpr (L == 2) {
    return v[0] + v[1];
  } else {
    typename Lanes<L / 2>::d half[2];
    std::memcpy(half, &v, sizeof v);
    return lane_sum<L / 2>(half[0] + half[1]);
  }
}

// Each kernel is built three times: for the baseline x86-64 the library targets, for AVX2 with
// FMA and for AVX-512, chosen at run time from what the CPU has.
enum class Isa { Baseline, Avx2, Avx512 };

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BOOSTHEAD_AVX2 __attribute__((target("avx2,fma")))
#define BOOSTHEAD_AVX512 __attribute__((target("avx2,fma,avx512f,avx512dq")))
inline Isa detected_isa() {
  static const Isa isa = [] {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Baseline;
  }();
  return isa;
}
#else
#define BOOSTHEAD_AVX2
#define BOOSTHEAD_AVX512
inline Isa detected_isa() { return Isa::Baseline; }
#endif

// The instruction set the kernels use: what the CPU has, or less where the environment variable
// BOOSTHEAD_CPU_ISA (baseline, avx2 or avx512) asks for less.
inline Isa cpu_isa() {
  Isa isa = detected_isa();
  if (const char* want = std::getenv("BOOSTHEAD_CPU_ISA")) {
    const std::string w(want);
    if (w == "baseline") isa = Isa::Baseline;
    if (w == "avx2" && isa == Isa::Avx512) isa = Isa::Avx2;
  }
  return isa;
}

}  // namespace boosthead::detail
