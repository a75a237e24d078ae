#pragma once
// Internal: the CPU kernels' arithmetic on SIMD lanes: row groups, float32/float64 widening,
// exp, reciprocals and the activations with their slopes. Every helper is inlined into a kernel
// built for one instruction set (simd.h); no vector value crosses a function boundary, so GCC's
// notes about the vector-passing ABI do not apply (CMakeLists.txt adds -Wno-psabi).

#include <boosthead/activation.h>

#include <cstdint>

#include "../../simd.h"

namespace boosthead::detail::cpu {

// Rows are processed in groups, one row per SIMD lane: each group's features are stored
// transposed (d x rows), so the loops over a group's rows are vector instructions on L lanes
// (2 with SSE2, 4 with AVX2, 8 with AVX-512), several independent vectors at a time, with no
// horizontal sums inside the row loop. Rows per group: 4 vectors, 8 with AVX-512 (which has 32
// registers).
template <int L>
constexpr int64_t kGroupRows = L == 8 ? 64 : 4 * L;
// Work per task (about rows x (d + K) x J): enough to pay for starting a parallel region (about
// 1.5 us here), so small stages run on the calling thread.
constexpr int64_t kTaskWork = int64_t{1} << 15;
// Row groups whose float32 input-layer gradient sums are added up in float32 before they go
// into the float64 sums (8 groups of 64 rows: 32 products per float32 lane).
constexpr int64_t kFloatGroups = 8;

// Inline assembly for a few AVX-512 instructions that GCC emits badly from the generic vector
// code (see widen, narrow and the reciprocals). GCC only: clang checks the register constraints
// before inlining into the AVX-512 kernels, and builds the generic code well itself.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BOOSTHEAD_X86_ASM 1
#else
#define BOOSTHEAD_X86_ASM 0
#endif

// The two halves of a float vector as two double vectors.
template <int L>
BOOSTHEAD_INLINE void widen(typename Lanes<L>::f2 v, typename Lanes<L>::d& lo,
                            typename Lanes<L>::d& hi) {
#if BOOSTHEAD_X86_ASM
  if constexpr (L == 8) {
    // One instruction per half; GCC splits the generic conversion into 128-bit pieces.
    typename Lanes<L>::f h;
    asm("vextractf32x8 $1, %1, %0" : "=v"(h) : "v"(v));
    asm("vcvtps2pd %1, %0" : "=v"(hi) : "v"(h));
    typename Lanes<L>::f l;
    std::memcpy(&l, &v, sizeof l);
    asm("vcvtps2pd %1, %0" : "=v"(lo) : "v"(l));
    return;
  }
#endif
  typename Lanes<L>::f half[2];
  std::memcpy(half, &v, sizeof v);
  lo = __builtin_convertvector(half[0], typename Lanes<L>::d);
  hi = __builtin_convertvector(half[1], typename Lanes<L>::d);
}
template <int L>
BOOSTHEAD_INLINE typename Lanes<L>::f2 narrow(typename Lanes<L>::d lo, typename Lanes<L>::d hi) {
#if BOOSTHEAD_X86_ASM
  if constexpr (L == 8) {
    // Joined in registers: GCC goes through the stack, and the two 32-byte stores cannot be
    // forwarded to the 64-byte load.
    const auto l = __builtin_convertvector(lo, typename Lanes<L>::f);
    const auto h = __builtin_convertvector(hi, typename Lanes<L>::f);
    typename Lanes<L>::f2 v;
    asm("vinsertf32x8 $1, %2, %g1, %0" : "=v"(v) : "v"(l), "v"(h));
    return v;
  }
#endif
  const typename Lanes<L>::f half[2] = {__builtin_convertvector(lo, typename Lanes<L>::f),
                                        __builtin_convertvector(hi, typename Lanes<L>::f)};
  typename Lanes<L>::f2 v;
  std::memcpy(&v, half, sizeof v);
  return v;
}
// Constants of exp_vectors for float64 and float32 lanes: the clamp, Cody-Waite's split of ln(2),
// the shifter (1.5 * 2^mantissa bits: adding it rounds to an integer) and the Taylor
// coefficients, highest degree first. Float64: x in [-708, 708], degree 12 (relative error below
// 2e-16 on the reduced range); float32, for the pre-activations of float32 features (already
// rounded to float32): x in [-87, 88], degree 7 (relative error below 2e-9, under float32
// rounding).
template <typename S>
struct ExpConstants;
template <>
struct ExpConstants<double> {
  static constexpr double kHi = 708.0, kLo = -708.0, kLog2e = 1.4426950408889634;
  static constexpr double kLn2Hi = 0.6931471805598903, kLn2Lo = 5.497923018708371e-14;
  static constexpr double kShifter = 6755399441055744.0;
  static constexpr uint64_t kBias = 1023;
  static constexpr int kMantissa = 52;
  static constexpr double kCoef[] = {1.0 / 479001600.0,
                                     1.0 / 39916800.0,
                                     1.0 / 3628800.0,
                                     1.0 / 362880.0,
                                     1.0 / 40320.0,
                                     1.0 / 5040.0,
                                     1.0 / 720.0,
                                     1.0 / 120.0,
                                     1.0 / 24.0,
                                     1.0 / 6.0,
                                     0.5,
                                     1.0,
                                     1.0};
};
template <>
struct ExpConstants<float> {
  static constexpr float kHi = 88.0f, kLo = -87.0f, kLog2e = 1.44269504f;
  static constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  static constexpr float kShifter = 12582912.0f;
  static constexpr uint32_t kBias = 127u;
  static constexpr int kMantissa = 23;
  static constexpr float kCoef[] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                    1.0f / 6.0f,    0.5f,          1.0f,          1.0f};
};

// exp(x) of N vectors V of scalars S (U: unsigned integer lanes of the same width): x clamped,
// Cody-Waite reduction to |r| <= ln(2)/2, a Taylor polynomial and 2^n built in the exponent
// bits. Each step runs over all N vectors before the next: one vector's polynomial is a chain of
// dependent FMAs, and N independent chains keep the FMA units busy.
template <typename S, typename V, typename U, int N>
BOOSTHEAD_INLINE void exp_vectors(V* x) {
  using C = ExpConstants<S>;
  const V hi = V{} + C::kHi, lo = V{} + C::kLo, shifter = V{} + C::kShifter;
  V r[N], p[N];
  U ki[N];
  for (int v = 0; v < N; ++v) {
    V t = x[v] > hi ? hi : x[v];
    t = t < lo ? lo : t;
    const V kd = t * C::kLog2e + shifter;
    std::memcpy(&ki[v], &kd, sizeof ki[v]);
    const V n = kd - shifter;
    r[v] = (t - n * C::kLn2Hi) - n * C::kLn2Lo;
    p[v] = V{} + C::kCoef[0];
  }
  for (size_t c = 1; c < std::size(C::kCoef); ++c) {
    for (int v = 0; v < N; ++v) p[v] = p[v] * r[v] + C::kCoef[c];
  }
  for (int v = 0; v < N; ++v) {
    const U bits = (ki[v] + C::kBias) << C::kMantissa;  // unsigned: the shift wraps by definition
    V scale;
    std::memcpy(&scale, &bits, sizeof scale);
    x[v] = p[v] * scale;
  }
}

// 1 / a. With AVX-512 the division (one 8-lane vdivpd per 16 cycles) becomes the 14-bit
// reciprocal estimate and two Newton steps, within an ulp or two. Inline assembly: an intrinsic
// would need the target attribute on every helper it is inlined through.
template <int L>
BOOSTHEAD_INLINE typename Lanes<L>::d reciprocal(typename Lanes<L>::d a) {
#if BOOSTHEAD_X86_ASM
  if constexpr (L == 8) {
    typename Lanes<L>::d y;
    asm("vrcp14pd %1, %0" : "=v"(y) : "v"(a));
    typename Lanes<L>::d e = 1.0 - a * y;
    y += y * e;
    e = 1.0 - a * y;
    return y + y * e;
  }
#endif
  return 1.0 / a;
}

template <int L>
BOOSTHEAD_INLINE typename Lanes<L>::f2 reciprocal_f(typename Lanes<L>::f2 a) {
#if BOOSTHEAD_X86_ASM
  if constexpr (L == 8) {
    typename Lanes<L>::f2 y;
    asm("vrcp14ps %1, %0" : "=v"(y) : "v"(a));
    return y + y * (1.0f - a * y);  // one Newton step: 28 of float32's 24 bits
  }
#endif
  return 1.0f / a;
}

// The activation of N vectors, h[v] = act(z[v]): float64 vectors of L lanes, or float32 vectors
// of 2L lanes (the pre-activations of float32 features), each type with its own exp constants
// and reciprocal.
template <Activation A, int L, int N, typename V>
BOOSTHEAD_INLINE void act_values(const V* z, V* h) {
  constexpr bool kFloat = std::is_same_v<V, typename Lanes<L>::f2>;
  using S = std::conditional_t<kFloat, float, double>;
  if constexpr (A == Activation::Relu) {
    for (int v = 0; v < N; ++v) h[v] = z[v] > S(0) ? z[v] : V{};
  } else {
    for (int v = 0; v < N; ++v) h[v] = A == Activation::Sigmoid ? -z[v] : S(2) * z[v];
    using U = std::conditional_t<kFloat, typename Lanes<L>::u2, typename Lanes<L>::u>;
    exp_vectors<S, V, U, N>(h);
    for (int v = 0; v < N; ++v) {
      V inv;
      if constexpr (kFloat) {
        inv = reciprocal_f<L>(S(1) + h[v]);
      } else {
        inv = reciprocal<L>(S(1) + h[v]);
      }
      h[v] = A == Activation::Sigmoid ? inv : S(1) - S(2) * inv;
    }
  }
}

// The activation's derivative at z, given h = act(z): scalars S in vectors V (float64 or float32
// lanes).
template <Activation A, typename S, typename V>
BOOSTHEAD_INLINE V act_slope(V z, V h) {
  if constexpr (A == Activation::Sigmoid) {
    return h * (S(1) - h);
  } else if constexpr (A == Activation::Tanh) {
    return S(1) - h * h;
  } else {
    return z > S(0) ? V{} + S(1) : V{};
  }
}

}  // namespace boosthead::detail::cpu
