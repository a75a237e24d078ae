#include <ATen/Parallel.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <iterator>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <type_traits>

#include "simd.h"
#include "stage_evaluator.h"

// The lane helpers (simd.h and below) return vector types but are always inlined into one kernel
// built for one instruction set; no vector value crosses a function boundary, so the compilers'
// notes that such returns would change the ABI do not apply (CMakeLists.txt adds -Wno-psabi for
// this file).

namespace boosthead::detail {
namespace {

// Vector loads of 64 bytes split across two cache lines unless the data starts on a line.
template <typename U>
struct LineAligned {
  using value_type = U;
  LineAligned() = default;
  template <typename V>
  LineAligned(const LineAligned<V>&) {}
  U* allocate(size_t n) {
    return static_cast<U*>(::operator new(n * sizeof(U), std::align_val_t{64}));
  }
  void deallocate(U* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  // Sized construction leaves plain values uninitialised (the layouts below write every entry);
  // construction from a value copies it.
  template <typename V>
  void construct(V* p) noexcept(std::is_nothrow_default_constructible_v<V>) {
    ::new (static_cast<void*>(p)) V;
  }
  template <typename V, typename... Args>
  void construct(V* p, Args&&... args) {
    ::new (static_cast<void*>(p)) V(std::forward<Args>(args)...);
  }
  template <typename V>
  bool operator==(const LineAligned<V>&) const { return true; }
  template <typename V>
  bool operator!=(const LineAligned<V>&) const { return false; }
};
template <typename U>
using AlignedVector = std::vector<U, LineAligned<U>>;

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
  static constexpr double kCoef[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                     1.0 / 362880.0,    1.0 / 40320.0,    1.0 / 5040.0,
                                     1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,
                                     1.0 / 6.0,         0.5,              1.0,
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

// Everything a pass over the row groups reads and writes. Per-lane accumulators, laid out
// [gw1 (J d), gb1 (J), gw2 (K J), gb2 (K), sse (1)] x lanes, are summed over lanes afterwards.
struct Pass {
  const void* xt;      // features, groups x d x kGroup (T)
  const double* rt;    // residuals, groups x K x kGroup
  const float* rtf;    // or float32 residuals (one unit on float32 features; rt is then null)
  const double* mask;  // one per padded row: 1 for real rows, 0 for padding
  double* zs;          // pre-activations, groups x J x kGroup (null: not kept)
  double* hs;          // activations, groups x J x kGroup
  const double* w1;    // J x d
  const float* w1f;    // w1 rounded to float32, for float32 features
  const double* b1;    // J
  const double* w2;    // K x J
  const double* b2;    // K
  int64_t n, d, j, k;
  int64_t sums;       // accumulators (each L lanes) to sum over lanes at the end of the pass
  double w2w2, w2b2;   // with one unit: sum of w2^2 and of w2 b2
  bool hidden_given;   // zs and hs already hold this theta's hidden layer
  bool want_grad;
};

// A float32 group's features q and q + 1 (only q when `pair` is false) times their input weights,
// into two sets of partial pre-activations: two chains of dependent adds per vector, not one.
template <int L>
BOOSTHEAD_INLINE void add_features(const float* xt, const float* w, int64_t q, bool pair,
                                   typename Lanes<L>::f2* z, typename Lanes<L>::f2* za) {
  constexpr int64_t kGroup = kGroupRows<L>;
  constexpr int kF = kGroup / (2 * L);
  const float* xq = xt + q * kGroup;
  const float w0 = w[q];
  if (pair) {
    const float w1 = w[q + 1];
    for (int f = 0; f < kF; ++f) {
      z[f] += w0 * load_f2<L>(xq + f * 2 * L);
      za[f] += w1 * load_f2<L>(xq + kGroup + f * 2 * L);
    }
  } else {
    for (int f = 0; f < kF; ++f) z[f] += w0 * load_f2<L>(xq + f * 2 * L);
  }
}

// The hidden layer of the group starting at row i0 into its block of zs / hs (J x kGroup).
// kVec independent vectors per step keep several FMAs in flight.
template <typename T, Activation A, int L>
BOOSTHEAD_INLINE void hidden_group(const Pass& s, int64_t i0) {
  using vd = typename Lanes<L>::d;
  constexpr int64_t kGroup = kGroupRows<L>;
  constexpr int kVec = kGroup / L;
  const T* xt = static_cast<const T*>(s.xt) + i0 * s.d;
  for (int64_t u = 0; u < s.j; ++u) {
    vd zu[kVec];
    if constexpr (std::is_same_v<T, float>) {
      // Float32 products and sums over the features, twice the lanes of double: the
      // pre-activations carry float32 rounding (relative 1e-7).
      using vf = typename Lanes<L>::f2;
      constexpr int kF = kVec / 2;
      const float* w = s.w1f + u * s.d;
      vf zf[kF] = {}, za[kF] = {};
      int64_t q = 0;
      for (; q + 2 <= s.d; q += 2) add_features<L>(xt, w, q, true, zf, za);
      if (q < s.d) add_features<L>(xt, w, q, false, zf, za);
      // The pre-activations carry float32 rounding already; the activation is computed in
      // float32 too (16 lanes with AVX-512, a shorter polynomial) and widened with them.
      const float bias = static_cast<float>(s.b1[u]);
      vf hf[kF];
      for (int f = 0; f < kF; ++f) zf[f] += za[f] + bias;
      act_values<A, L, kF>(zf, hf);
      vd hu[kVec];
      for (int f = 0; f < kF; ++f) {
        widen<L>(zf[f], zu[2 * f], zu[2 * f + 1]);
        widen<L>(hf[f], hu[2 * f], hu[2 * f + 1]);
      }
      for (int v = 0; v < kVec; ++v) {
        const int64_t o = i0 * s.j + u * kGroup + v * L;
        if (s.zs != nullptr) store(s.zs + o, zu[v]);
        store(s.hs + o, hu[v]);
      }
      continue;
    } else {
      const double* w = s.w1 + u * s.d;
      // Two sums per vector, over even and odd features, halve the chain of dependent adds.
      vd za[kVec];
      for (int v = 0; v < kVec; ++v) {
        zu[v] = splat<L>(s.b1[u]);
        za[v] = vd{};
      }
      int64_t q = 0;
      for (; q + 2 <= s.d; q += 2) {
        const T* xq = xt + q * kGroup;
        const double w0 = w[q], w1 = w[q + 1];
        for (int v = 0; v < kVec; ++v) {
          zu[v] += w0 * load<L>(xq + v * L);
          za[v] += w1 * load<L>(xq + kGroup + v * L);
        }
      }
      if (q < s.d) {
        const T* xq = xt + q * kGroup;
        for (int v = 0; v < kVec; ++v) zu[v] += w[q] * load<L>(xq + v * L);
      }
      for (int v = 0; v < kVec; ++v) zu[v] += za[v];
    }
    vd hu[kVec];
    act_values<A, L, kVec>(zu, hu);
    for (int v = 0; v < kVec; ++v) {
      const int64_t o = i0 * s.j + u * kGroup + v * L;
      if (s.zs != nullptr) store(s.zs + o, zu[v]);
      store(s.hs + o, hu[v]);
    }
  }
}

// Sum of n vectors by pairs, for a short dependency chain.
template <int N, typename V>
BOOSTHEAD_INLINE V tree_sum(const V* a) {
  if constexpr (N == 1) {
    return a[0];
  } else {
    return tree_sum<N / 2>(a) + tree_sum<N - N / 2>(a + N / 2);
  }
}

// The objective's and gradient's sums over groups [g0, g1). Each output's errors feed every sum
// as soon as they are computed (nothing is re-read from scratch), and with one hidden unit the
// hidden gradient stays in registers.
template <typename T, Activation A, int L, bool OneUnit>
BOOSTHEAD_INLINE void objective_groups(const Pass& s, int64_t g0, int64_t g1, double* acc,
                                       double* scratch) {
  using vd = typename Lanes<L>::d;
  constexpr int64_t kGroup = kGroupRows<L>;
  constexpr int kVec = kGroup / L;
  const int64_t nj = OneUnit ? 1 : s.j, nk = s.k, nd = s.d;
  double* gw1 = acc;
  double* gb1 = gw1 + nj * nd * L;
  double* gw2 = gb1 + nj * L;
  double* gb2 = gw2 + nk * nj * L;
  double* dzs = scratch;  // J x kGroup
  // Float32 features: the input-layer gradient's float32 lanes (J x d x 2L), after dzs.
  float* float_sums = reinterpret_cast<float*>(scratch + nj * kGroup);
  auto flush_float_sums = [&] {
    if constexpr (std::is_same_v<T, float>) {
      for (int64_t q = 0; q < nj * nd; ++q) {
        typename Lanes<L>::d lo, hi;
        widen<L>(load_f2<L>(float_sums + q * 2 * L), lo, hi);
        store(gw1 + q * L, load<L>(gw1 + q * L) + (lo + hi));
      }
      std::fill(float_sums, float_sums + nj * nd * 2 * L, 0.0f);
    }
  };
  if constexpr (std::is_same_v<T, float>) std::fill(float_sums, float_sums + nj * nd * 2 * L, 0.0f);
  vd sse[kVec] = {};
  for (int64_t g = g0; g < g1; ++g) {
    if ((g - g0) % kFloatGroups == 0 && g > g0) flush_float_sums();
    const int64_t i0 = g * kGroup;
    if (!s.hidden_given) hidden_group<T, A, L>(s, i0);
    const double* z = s.zs + i0 * nj;
    const double* h = s.hs + i0 * nj;
    const bool padded = i0 + kGroup > s.n;
    vd dz1[kVec];  // OneUnit: the hidden gradient of the group's rows
    if constexpr (OneUnit) {
      // Sufficient statistics instead of per-output errors: sum h, sum h^2 and sum h r_c give
      // the squared error and the output layer's gradient (CpuEvaluator::evaluate expands
      // them), and the hidden gradient is h |w2|^2 + w2.b2 - R w2 row by row.
      vd hv[kVec], rw[kVec], p[kVec];
      for (int v = 0; v < kVec; ++v) {
        hv[v] = load<L>(h + v * L);
        if (padded) hv[v] *= load<L>(s.mask + i0 + v * L);
        rw[v] = vd{};
      }
      for (int64_t c = 0; c < nk; ++c) {
        const double* rc = s.rt + i0 * nk + c * kGroup;
        const double w2c = s.w2[c];
        for (int v = 0; v < kVec; ++v) {
          const vd rv = load<L>(rc + v * L);
          rw[v] += w2c * rv;
          p[v] = hv[v] * rv;
        }
        store(gw2 + c * L, load<L>(gw2 + c * L) + tree_sum<kVec>(p));
      }
      double* stats = gb2 + (nk + 1) * L;
      store(stats, load<L>(stats) + tree_sum<kVec>(hv));
      for (int v = 0; v < kVec; ++v) p[v] = hv[v] * hv[v];
      store(stats + L, load<L>(stats + L) + tree_sum<kVec>(p));
      if (!s.want_grad) continue;
      for (int v = 0; v < kVec; ++v) dz1[v] = hv[v] * s.w2w2 + (s.w2b2 - rw[v]);
      if (padded) {
        for (int v = 0; v < kVec; ++v) dz1[v] *= load<L>(s.mask + i0 + v * L);
      }
    } else {
      for (int64_t c = 0; c < nk; ++c) {
        const double* rc = s.rt + i0 * nk + c * kGroup;
        const double* w2c = s.w2 + c * nj;
        vd ec[kVec];
        for (int v = 0; v < kVec; ++v) ec[v] = s.b2[c] - load<L>(rc + v * L);
        for (int64_t u = 0; u < nj; ++u) {
          for (int v = 0; v < kVec; ++v) ec[v] += w2c[u] * load<L>(h + u * kGroup + v * L);
        }
        if (padded) {
          for (int v = 0; v < kVec; ++v) ec[v] *= load<L>(s.mask + i0 + v * L);
        }
        for (int v = 0; v < kVec; ++v) sse[v] += ec[v] * ec[v];
        if (!s.want_grad) continue;
        store(gb2 + c * L, load<L>(gb2 + c * L) + tree_sum<kVec>(ec));
        for (int64_t u = 0; u < nj; ++u) {
          vd p[kVec];
          for (int v = 0; v < kVec; ++v) p[v] = ec[v] * load<L>(h + u * kGroup + v * L);
          double* gw = gw2 + (c * nj + u) * L;
          store(gw, load<L>(gw) + tree_sum<kVec>(p));
        }
        for (int64_t u = 0; u < nj; ++u) {
          double* du = dzs + u * kGroup;
          for (int v = 0; v < kVec; ++v) {
            const vd prev = c == 0 ? vd{} : load<L>(du + v * L);
            store(du + v * L, prev + w2c[u] * ec[v]);
          }
        }
      }
    }
    if (!s.want_grad) continue;
    const T* xt = static_cast<const T*>(s.xt) + i0 * nd;
    for (int64_t u = 0; u < nj; ++u) {
      vd dz[kVec];
      for (int v = 0; v < kVec; ++v) {
        const int64_t o = u * kGroup + v * L;
        const vd d0 = OneUnit ? dz1[v] : load<L>(dzs + o);
        dz[v] = d0 * act_slope<A, double>(load<L>(z + o), load<L>(h + o));
      }
      store(gb1 + u * L, load<L>(gb1 + u * L) + tree_sum<kVec>(dz));
      double* gu = gw1 + u * nd * L;
      if constexpr (std::is_same_v<T, float>) {
        // Float32 products, summed in float32 lanes over up to kFloatGroups groups and then
        // added in double: widening every group's sums cost a fifth of the pass.
        using vf = typename Lanes<L>::f2;
        constexpr int kF = kVec / 2;
        vf df[kF];
        for (int f = 0; f < kF; ++f) df[f] = narrow<L>(dz[2 * f], dz[2 * f + 1]);
        float* gf = float_sums + u * nd * 2 * L;
        for (int64_t q = 0; q < nd; ++q) {
          const float* xq = xt + q * kGroup;
          vf a = load_f2<L>(gf + q * 2 * L);
          for (int f = 0; f < kF; ++f) a += df[f] * load_f2<L>(xq + f * 2 * L);
          std::memcpy(gf + q * 2 * L, &a, sizeof a);
        }
      } else {
        for (int64_t q = 0; q < nd; ++q) {
          const T* xq = xt + q * kGroup;
          // Two chains of products, for half the latency of one.
          vd t0 = dz[0] * load<L>(xq), t1 = dz[1] * load<L>(xq + L);
          for (int v = 2; v + 1 < kVec; v += 2) {
            t0 += dz[v] * load<L>(xq + v * L);
            t1 += dz[v + 1] * load<L>(xq + (v + 1) * L);
          }
          store(gu + q * L, load<L>(gu + q * L) + (t0 + t1));
        }
      }
    }
  }
  flush_float_sums();
  vd total = load<L>(gb2 + nk * L);
  for (int v = 0; v < kVec; ++v) total += sse[v];
  store(gb2 + nk * L, total);
}

// One hidden unit on float32 features and float32 residuals: everything per row stays in
// float32 lanes (twice the lanes of float64), from the hidden layer through the output sums to
// the hidden gradient, and nothing per row is stored. Each group's sums go into float32 lanes,
// added over up to kFloatGroups groups before they go into the float64 accumulators, as the
// input-layer gradient's do in objective_groups. Leaves the same sums as objective_groups with
// one unit: sum h r_c for the output gradient, sum h and sum h^2 for the squared error.
template <Activation A, int L>
BOOSTHEAD_INLINE void one_unit_float_groups(const Pass& s, int64_t g0, int64_t g1, double* acc,
                                            double* scratch) {
  using vf = typename Lanes<L>::f2;
  constexpr int64_t kGroup = kGroupRows<L>;
  constexpr int kF = kGroup / (2 * L);  // float32 vectors per group
  constexpr int64_t kW = 2 * L;         // floats per vector
  const int64_t nk = s.k, nd = s.d;
  // Float32 sums, one vector each and in the order of acc: gw1 (d), gb1, h r_c (K); then sum h
  // and sum h^2, which go after the squared error's slot. Then w2 rounded to float32.
  const int64_t head = nd + 1 + nk, nsums = head + 2;
  float* fs = reinterpret_cast<float*>(scratch);
  float* fs_gb1 = fs + nd * kW;
  float* fs_hr = fs_gb1 + kW;
  float* fs_h = fs + head * kW;
  float* w2f = fs + nsums * kW;
  double* stats = acc + (head + nk + 1) * L;
  for (int64_t c = 0; c < nk; ++c) w2f[c] = static_cast<float>(s.w2[c]);
  const float w2w2 = static_cast<float>(s.w2w2), w2b2 = static_cast<float>(s.w2b2);
  const float bias = static_cast<float>(s.b1[0]);
  const float* w = s.w1f;
  auto add_to = [](float* f, vf v) {
    vf a = load_f2<L>(f) + v;
    std::memcpy(f, &a, sizeof a);
  };
  auto flush = [&] {
    for (int64_t q = 0; q < nsums; ++q) {
      typename Lanes<L>::d lo, hi;
      widen<L>(load_f2<L>(fs + q * kW), lo, hi);
      double* to = q < head ? acc + q * L : stats + (q - head) * L;
      store(to, load<L>(to) + (lo + hi));
      const vf zero{};
      std::memcpy(fs + q * kW, &zero, sizeof zero);
    }
  };
  // The input-layer gradient of a group's rows, dz times their features, into the float32 sums.
  auto backward = [&](const float* xt, const vf* dz, int64_t q) {
    const float* xq = xt + q * kGroup;
    vf a = load_f2<L>(fs + q * kW);
    for (int f = 0; f < kF; ++f) a += dz[f] * load_f2<L>(xq + f * kW);
    std::memcpy(fs + q * kW, &a, sizeof a);
  };
  std::fill(fs, fs + nsums * kW, 0.0f);
  // Software-pipelined: a group's input-layer gradient is added in the next group's loop over
  // the features, next to its hidden layer, so that the one's products run while the other's
  // features arrive from L2.
  vf dz_prev[kF];
  const float* xt_prev = nullptr;
  for (int64_t g = g0; g < g1; ++g) {
    if ((g - g0) % kFloatGroups == 0 && g > g0) flush();
    const int64_t i0 = g * kGroup;
    const float* xt = static_cast<const float*>(s.xt) + i0 * nd;
    vf z[kF] = {}, za[kF] = {};
    int64_t q = 0;
    if (xt_prev != nullptr) {
      for (; q + 2 <= nd; q += 2) {
        add_features<L>(xt, w, q, true, z, za);
        backward(xt_prev, dz_prev, q);
        backward(xt_prev, dz_prev, q + 1);
      }
      if (q < nd) backward(xt_prev, dz_prev, q);
    } else {
      for (; q + 2 <= nd; q += 2) add_features<L>(xt, w, q, true, z, za);
    }
    if (q < nd) add_features<L>(xt, w, q, false, z, za);
    xt_prev = nullptr;
    vf h[kF];
    for (int f = 0; f < kF; ++f) z[f] += za[f] + bias;
    act_values<A, L, kF>(z, h);
    const bool padded = i0 + kGroup > s.n;
    vf mask[kF];
    if (padded) {
      for (int f = 0; f < kF; ++f) {
        mask[f] =
            narrow<L>(load<L>(s.mask + i0 + 2 * f * L), load<L>(s.mask + i0 + (2 * f + 1) * L));
        h[f] *= mask[f];
      }
    }
    // R w2 row by row for the hidden gradient, and sum h r_c.
    vf rw[kF] = {};
    const float* rt = s.rtf + i0 * nk;
    for (int64_t c = 0; c < nk; ++c) {
      const float* rc = rt + c * kGroup;
      const float wc = w2f[c];
      vf p = {};
      for (int f = 0; f < kF; ++f) {
        const vf rv = load_f2<L>(rc + f * kW);
        rw[f] += wc * rv;
        p += h[f] * rv;
      }
      add_to(fs_hr + c * kW, p);
    }
    vf hh = h[0] * h[0];
    for (int f = 1; f < kF; ++f) hh += h[f] * h[f];
    add_to(fs_h, tree_sum<kF>(h));
    add_to(fs_h + kW, hh);
    if (!s.want_grad) continue;
    // The hidden gradient h |w2|^2 + w2.b2 - R w2, times the activation's slope.
    for (int f = 0; f < kF; ++f) {
      dz_prev[f] = (h[f] * w2w2 + (w2b2 - rw[f])) * act_slope<A, float>(z[f], h[f]);
      if (padded) dz_prev[f] *= mask[f];
    }
    add_to(fs_gb1, tree_sum<kF>(dz_prev));
    xt_prev = xt;
  }
  if (xt_prev != nullptr) {
    for (int64_t q = 0; q < nd; ++q) backward(xt_prev, dz_prev, q);
  }
  flush();
}

template <typename T, Activation A, int L>
BOOSTHEAD_INLINE void objective_body(const Pass& s, int64_t g0, int64_t g1, double* acc,
                                     double* scratch) {
  if constexpr (std::is_same_v<T, float>) {
    if (s.rtf != nullptr) {
      one_unit_float_groups<A, L>(s, g0, g1, acc, scratch);
      return;
    }
  }
  if (s.j == 1) {
    objective_groups<T, A, L, true>(s, g0, g1, acc, scratch);
  } else {
    objective_groups<T, A, L, false>(s, g0, g1, acc, scratch);
  }
}

// The hidden layer of every row into zs / hs, and the lanes of [H, 1]^T [H, 1, R] (upper part,
// m = J + 1 rows of m + K columns) into acc.
template <typename T, Activation A, int L>
BOOSTHEAD_INLINE void hidden_body(const Pass& s, int64_t g0, int64_t g1, double* acc,
                                  double* scratch) {
  using vd = typename Lanes<L>::d;
  constexpr int64_t kGroup = kGroupRows<L>;
  constexpr int kVec = kGroup / L;
  const int64_t m = s.j + 1, cols = m + s.k;
  double* row = scratch;  // cols x kGroup
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t i0 = g * kGroup;
    hidden_group<T, A, L>(s, i0);
    const double* h = s.hs + i0 * s.j;
    for (int v = 0; v < kVec; ++v) {
      const int64_t o = v * L;
      const vd mask = load<L>(s.mask + i0 + o);
      for (int64_t u = 0; u < s.j; ++u) store(row + u * kGroup + o, load<L>(h + u * kGroup + o) * mask);
      store(row + s.j * kGroup + o, mask);
      for (int64_t c = 0; c < s.k; ++c) {
        store(row + (m + c) * kGroup + o, load<L>(s.rt + i0 * s.k + c * kGroup + o));
      }
    }
    for (int64_t p = 0; p < m; ++p) {
      for (int64_t q = p; q < cols; ++q) {
        vd t{};
        for (int v = 0; v < kVec; ++v) {
          t += load<L>(row + p * kGroup + v * L) * load<L>(row + q * kGroup + v * L);
        }
        double* a = acc + (p * cols + q) * L;
        store(a, load<L>(a) + t);
      }
    }
  }
}

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
    case Isa::Avx512: lanes = 8; return kernel_avx512<T, A, K>;
    case Isa::Avx2: lanes = 4; return kernel_avx2<T, A, K>;
    case Isa::Baseline: break;
  }
  lanes = 2;
  return kernel_baseline<T, A, K>;
}

template <typename T, Kind K>
GroupKernel pick(Activation a, Isa isa, int& lanes) {
  switch (a) {
    case Activation::Sigmoid: return pick_for<T, Activation::Sigmoid, K>(isa, lanes);
    case Activation::Tanh: return pick_for<T, Activation::Tanh, K>(isa, lanes);
    case Activation::Relu: return pick_for<T, Activation::Relu, K>(isa, lanes);
  }
  return nullptr;
}

template <typename T>
class CpuEvaluator final : public StageEvaluator {
 public:
  // The rows of x and r listed in `rows` (int64), or all rows when it is undefined. Without
  // residuals (r undefined, `outputs` columns) only forward_rows() is available.
  CpuEvaluator(const torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& rows,
               int64_t units, const StageProblem& problem, bool project, int64_t outputs = 0)
      : n_(rows.defined() ? rows.numel() : x.size(0)),
        d_(x.size(1)),
        j_(units),
        k_(r.defined() ? r.size(1) : outputs),
        isa_(cpu_isa()),
        group_(isa_ == Isa::Avx512 ? kGroupRows<8>
               : isa_ == Isa::Avx2 ? kGroupRows<4>
                                   : kGroupRows<2>),
        groups_((n_ + group_ - 1) / group_),
        np_(groups_ * group_),
        act_(problem.activation()),
        l2_(problem.l2()),
        project_(project),
        w1_(j_ * d_),
        b1_(j_),
        w2_(k_ * j_),
        b2_(k_),
        w2b2_(k_ * j_ + k_),
        w1f_(j_ * d_),
        // The forward pass alone (no residuals) needs the activations, not the pre-activations.
        zs_(r.defined() ? j_ * np_ : 0, 0.0),
        hs_(j_ * np_, 0.0) {
    const int64_t* row_list = nullptr;
    torch::Tensor rows_c;
    if (rows.defined()) {
      rows_c = rows.contiguous();
      row_list = rows_c.data_ptr<int64_t>();
    }
    // Transposed, zero-padded copies: one per stage, read hundreds of times.
    xt_ = blocked<T>(x, row_list);
    // Without residuals only the forward pass runs, which reads none. One unit on float32
    // features and residuals has a kernel of its own that keeps the residuals in float32.
    if (r.defined()) {
      if (std::is_same_v<T, float> && r.scalar_type() == torch::kFloat && j_ == 1 && !project_) {
        rtf_ = blocked<float>(r, row_list);
      } else {
        rt_ = blocked<double>(r, row_list);
      }
    }
    // Column sums and the total square of the residuals (padding rows are zero).
    rsum_.assign(k_, 0.0);
    double rr = 0.0;
    for (int64_t g = 0; g < (r.defined() ? groups_ : 0); ++g) {
      for (int64_t c = 0; c < k_; ++c) {
        const int64_t o = (g * k_ + c) * group_;
        double sum = 0.0;
        for (int64_t l = 0; l < group_; ++l) {
          const double v = rtf_.empty() ? rt_[o + l] : rtf_[o + l];
          sum += v;
          rr += v * v;
        }
        rsum_[c] += sum;
      }
    }
    rr_ = rr;
    mask_.assign(np_, 0.0);
    std::fill(mask_.begin(), mask_.begin() + n_, 1.0);
    threads_ = std::max(1, at::get_num_threads());
    objective_ = pick<T, Kind::Objective>(act_, isa_, lanes_);
    hidden_ = pick<T, Kind::Normal>(act_, isa_, lanes_);
    forward_ = pick<T, Kind::Forward>(act_, isa_, lanes_);
  }

  double evaluate(const std::vector<double>& theta, std::vector<double>* grad) override {
    load(theta);
    if (project_) solve_output_layer();
    const int64_t gsize = j_ * d_ + j_ + k_ * j_ + k_;  // full gradient, sse after it
    Pass s = pass();
    s.hidden_given = project_;
    s.want_grad = grad != nullptr;
    if (j_ == 1) {
      s.w2w2 = 0.0;
      s.w2b2 = 0.0;
      for (int64_t c = 0; c < k_; ++c) {
        s.w2w2 += w2_[c] * w2_[c];
        s.w2b2 += w2_[c] * b2_[c];
      }
    }
    // gradient, sse, and with one unit sum h and sum h^2
    // scratch: the hidden gradient (J x group) and the float32 gradient lanes (J x d x 2L
    // floats); with float32 residuals, float32 lanes for every sum (d + K + 3 vectors) and w2
    run(objective_, s, gsize + 3, j_ * group_ + (j_ * d_ + k_ + 3) * lanes_ + k_);
    std::vector<double>& sum = sum_;
    if (j_ == 1) expand_one_unit(sum.data());
    const double nk = static_cast<double>(n_ * k_);
    const double c = l2_ / static_cast<double>(n_);
    double penalty = 0.0;
    for (double w : w1_) penalty += w * w;
    for (double w : w2_) penalty += w * w;
    const double f = 0.5 * sum[gsize] / nk + 0.5 * c * penalty;
    if (grad != nullptr) {
      const int64_t p = project_ ? j_ * d_ + j_ : gsize;
      grad->resize(p);
      for (int64_t q = 0; q < p; ++q) (*grad)[q] = sum[q] / nk;
      for (int64_t q = 0; q < j_ * d_; ++q) (*grad)[q] += c * w1_[q];
      if (!project_) {
        for (int64_t q = 0; q < k_ * j_; ++q) (*grad)[j_ * d_ + j_ + q] += c * w2_[q];
      }
    }
    return f;
  }

  // With one unit the kernel leaves sum h r_c where the output gradient goes and sum h, sum h^2
  // after the squared error; expands them into the squared error and the output gradient.
  void expand_one_unit(double* sum) const {
    const int64_t ow = d_ + 1, ob = ow + k_, os = ob + k_;
    const double sh = sum[os + 1], shh = sum[os + 2], rows = static_cast<double>(n_);
    double sse = rr_;
    for (int64_t c = 0; c < k_; ++c) {
      const double w = w2_[c], b = b2_[c], shr = sum[ow + c];
      sse += w * (w * shh + 2.0 * (b * sh - shr)) + b * (rows * b - 2.0 * rsum_[c]);
      sum[ow + c] = w * shh + b * sh - shr;
      sum[ob + c] = w * sh + rows * b - rsum_[c];
    }
    sum[os] = sse;
  }

  // One OpenMP region for the whole solve: thread 0 runs it, the others wait for passes in a
  // spin loop. Starting a region for every pass cost about 1.5 us of a 7 us pass on two threads;
  // handing a pass to a spinning thread costs a cache line or two. Nothing else runs on the
  // team's threads meanwhile (the solve calls no LibTorch ops).
  void session(const std::function<void()>& solve) override {
#ifdef _OPENMP
    if (parts() > 1 && !omp_in_parallel()) {
      std::exception_ptr error;
      stop_.store(false, std::memory_order_relaxed);
#pragma omp parallel num_threads(threads_)
      {
        const int t = omp_get_thread_num();
        if (t == 0) {
          team_size_ = omp_get_num_threads();
          done_.reset(new Done[static_cast<size_t>(team_size_)]);
          session_start_ = generation_.load(std::memory_order_relaxed);
          team_ready_.store(true, std::memory_order_release);
          try {
            solve();
          } catch (...) {
            error = std::current_exception();
          }
          team_size_ = 1;
          stop_.store(true, std::memory_order_relaxed);
          generation_.fetch_add(1, std::memory_order_release);
        } else {
          while (!team_ready_.load(std::memory_order_acquire)) spin_pause();
          team_wait(t);
        }
      }
      team_ready_.store(false, std::memory_order_relaxed);
      if (error) std::rethrow_exception(error);
      return;
    }
#endif
    solve();
  }

  // The stage output b2 + W2 act(W1 x + b1) of every row for the weights in p, N x K in `dtype`.
  torch::Tensor forward_rows(const StageParams& p, torch::ScalarType dtype) {
    load(pack_params(p, /*project_output=*/false));
    run(forward_, pass(), 0, 0);
    auto out = torch::empty({n_, k_}, torch::TensorOptions().dtype(dtype));
    if (dtype == torch::kFloat) {
      write_outputs(out.data_ptr<float>());
    } else {
      write_outputs(out.data_ptr<double>());
    }
    return out;
  }

  // A row's few outputs do not vectorise; what matters is to keep the loop over them short.
  // One unit: b2 + w2 h straight into each row (a Satellite stage's 4,290 rows: 31 -> 11 us).
  // More units: each output column over a group's rows first (those loops vectorise), then the
  // group's rows written out.
  template <typename U>
  void write_outputs(U* o) const {
    const int64_t k = k_, j = j_, group = group_;
    const double* w2 = w2_.data();
    const double* b2 = b2_.data();
    std::vector<double> cols(j == 1 ? 0 : k * group);
    for (int64_t g = 0; g < groups_; ++g) {
      const double* h = hs_.data() + g * group * j;
      const int64_t rows = std::min(group, n_ - g * group);
      if (j == 1) {
        for (int64_t l = 0; l < rows; ++l, o += k) {
          const double hl = h[l];
          for (int64_t c = 0; c < k; ++c) o[c] = static_cast<U>(b2[c] + w2[c] * hl);
        }
        continue;
      }
      for (int64_t c = 0; c < k; ++c) {
        double* col = cols.data() + c * group;
        std::fill(col, col + rows, b2[c]);
        for (int64_t u = 0; u < j; ++u) {
          const double w = w2[c * j + u];
          const double* hu = h + u * group;
          for (int64_t l = 0; l < rows; ++l) col[l] += w * hu[l];
        }
      }
      for (int64_t l = 0; l < rows; ++l, o += k) {
        for (int64_t c = 0; c < k; ++c) o[c] = static_cast<U>(cols[c * group + l]);
      }
    }
  }

  // Distinct threads that ran a part of the last pass.
  int threads_used() const {
    std::vector<std::thread::id> ids;
    for (const auto& r : ran_by_) {
      if (r.id != std::thread::id() && std::find(ids.begin(), ids.end(), r.id) == ids.end()) {
        ids.push_back(r.id);
      }
    }
    return static_cast<int>(ids.size());
  }

  void finish(const std::vector<double>& theta, StageParams& params) override {
    if (project_) {
      load(theta);
      solve_output_layer();
      write_params(theta, &w2b2_, params);
    } else {
      write_params(theta, nullptr, params);
    }
  }

 private:
  // The rows of `a` (all, or those listed in `rows`) padded with zero rows to whole groups, each
  // group's block stored column by column: groups x cols x group_, so a group's pass reads one
  // contiguous block.
  template <typename U>
  AlignedVector<U> blocked(const torch::Tensor& a, const int64_t* rows) const {
    auto c = a.contiguous();
    const int64_t cols = c.size(1);
    AlignedVector<U> out(static_cast<size_t>(np_) * cols);
    if (c.scalar_type() == torch::kFloat) {
      fill_blocked(c.data_ptr<float>(), cols, rows, out.data());
    } else {
      c = c.to(torch::kDouble);
      fill_blocked(c.data_ptr<double>(), cols, rows, out.data());
    }
    return out;
  }

  template <typename S, typename U>
  void fill_blocked(const S* src, int64_t cols, const int64_t* rows, U* out) const {
    auto row = [&](int64_t i) { return src + (rows ? rows[i] : i) * cols; };
    for (int64_t i0 = 0; i0 < np_; i0 += group_) {
      U* block = out + i0 * cols;
      const int64_t real = std::clamp<int64_t>(n_ - i0, 0, group_);
      int64_t l = 0;
#ifdef __SSE2__
      if constexpr (std::is_same_v<S, float>) {
        // Four rows at a time, 4 x 4 tiles transposed in registers: a 16-byte store per four
        // values instead of a store per value (a Satellite stage's 2,145 of 4,290 rows x 36,
        // gathered and laid out: 67 -> 40 us on one thread).
        for (; l + 4 <= real; l += 4) {
          const float* r0 = row(i0 + l);
          const float* r1 = row(i0 + l + 1);
          const float* r2 = row(i0 + l + 2);
          const float* r3 = row(i0 + l + 3);
          int64_t q = 0;
          for (; q + 4 <= cols; q += 4) {
            __m128 t0 = _mm_loadu_ps(r0 + q), t1 = _mm_loadu_ps(r1 + q);
            __m128 t2 = _mm_loadu_ps(r2 + q), t3 = _mm_loadu_ps(r3 + q);
            _MM_TRANSPOSE4_PS(t0, t1, t2, t3);
            store4(block + q * group_ + l, t0);
            store4(block + (q + 1) * group_ + l, t1);
            store4(block + (q + 2) * group_ + l, t2);
            store4(block + (q + 3) * group_ + l, t3);
          }
          for (; q < cols; ++q) {
            U* o = block + q * group_ + l;
            o[0] = static_cast<U>(r0[q]);
            o[1] = static_cast<U>(r1[q]);
            o[2] = static_cast<U>(r2[q]);
            o[3] = static_cast<U>(r3[q]);
          }
        }
      }
#endif
      for (; l < real; ++l) {
        const S* r = row(i0 + l);
        for (int64_t q = 0; q < cols; ++q) block[q * group_ + l] = static_cast<U>(r[q]);
      }
      for (; l < group_; ++l) {
        for (int64_t q = 0; q < cols; ++q) block[q * group_ + l] = U(0);
      }
    }
  }

#ifdef __SSE2__
  // Four float32 values to four consecutive entries of float32 or float64.
  static void store4(float* o, __m128 v) { _mm_storeu_ps(o, v); }
  static void store4(double* o, __m128 v) {
    _mm_storeu_pd(o, _mm_cvtps_pd(v));
    _mm_storeu_pd(o + 2, _mm_cvtps_pd(_mm_movehl_ps(v, v)));
  }
#endif

  Pass pass() {
    Pass s;
    s.xt = xt_.data();
    s.rt = rt_.empty() ? nullptr : rt_.data();
    s.rtf = rtf_.empty() ? nullptr : rtf_.data();
    s.mask = mask_.data();
    s.zs = zs_.empty() ? nullptr : zs_.data();
    s.hs = hs_.data();
    s.w1 = w1_.data();
    s.w1f = w1f_.data();
    s.b1 = b1_.data();
    s.w2 = w2_.data();
    s.b2 = b2_.data();
    s.n = n_;
    s.d = d_;
    s.j = j_;
    s.k = k_;
    s.hidden_given = false;
    s.want_grad = false;
    s.sums = 0;
    return s;
  }

  // Threads a pass is split over: at most threads_, each with at least kTaskWork of work (about
  // rows x (d + K) x J); 1 for small stages.
  int parts() const {
    const int64_t per_group = group_ * (d_ * j_ + k_ * j_ + 8 * j_ + k_);
    const int64_t grain = std::max<int64_t>(1, (kTaskWork + per_group - 1) / per_group);
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads_, groups_ / grain)));
  }

  // Runs `kernel` over all row groups and leaves in sum_ its `count` accumulators summed over
  // lanes and threads. Each thread zeroes, fills and reduces its own block of acc_, so that
  // only the reduced values cross between cores.
  void run(GroupKernel kernel, const Pass& s, int64_t count, int64_t scratch) {
    const int parts = this->parts();
    const int64_t width = count * lanes_;
    const int64_t stride = (width + count + 7) / 8 * 8;  // whole cache lines per thread
    if (acc_.size() < static_cast<size_t>(parts * stride)) acc_.resize(parts * stride, 0.0);
    if (scratch_.size() < static_cast<size_t>(parts * scratch)) {
      scratch_.resize(parts * scratch, 0.0);
    }
    ran_by_.assign(static_cast<size_t>(parts), RanBy{});
    Pass pass = s;
    pass.sums = count;
    auto body = [&](int t) {
      if (t >= parts) return;
      const FlushSubnormals flush;
      ran_by_[t].id = std::this_thread::get_id();
      double* acc = acc_.data() + t * stride;
      std::fill(acc, acc + width, 0.0);
      kernel(pass, groups_ * t / parts, groups_ * (t + 1) / parts, acc,
             scratch_.data() + t * scratch);
    };
    if (parts == 1) {
      // No parallel region: starting one costs more than a small stage's pass.
      body(0);
    } else if (team_size_ >= parts) {
      team_run(body);
    } else {
      at::parallel_for(0, parts, 1, [&](int64_t a, int64_t b) {
        for (int64_t t = a; t < b; ++t) body(static_cast<int>(t));
      });
    }
    sum_.assign(acc_.begin() + width, acc_.begin() + width + count);
    for (int t = 1; t < parts; ++t) {
      const double* src = acc_.data() + t * stride + width;
      for (int64_t q = 0; q < count; ++q) sum_[q] += src[q];
    }
  }

  static void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  // Runs body(t) on every team member (0 here) and waits for them.
  template <typename F>
  void team_run(F& body) {
    job_ = [](void* f, int t) { (*static_cast<F*>(f))(t); };
    job_body_ = &body;
    const uint64_t g = generation_.load(std::memory_order_relaxed) + 1;
    generation_.store(g, std::memory_order_release);
    body(0);
    for (int t = 1; t < team_size_; ++t) {
      while (done_[t].generation.load(std::memory_order_acquire) != g) spin_pause();
    }
  }

  // A team member's loop: a pass for each new generation, until the session ends.
  void team_wait(int t) {
    uint64_t seen = session_start_;
    for (;;) {
      uint64_t g;
      while ((g = generation_.load(std::memory_order_acquire)) == seen) spin_pause();
      seen = g;
      if (stop_.load(std::memory_order_relaxed)) return;
      job_(job_body_, t);
      done_[t].generation.store(g, std::memory_order_release);
    }
  }

  void load(const std::vector<double>& theta) {
    std::copy(theta.begin(), theta.begin() + j_ * d_, w1_.begin());
    std::copy(w1_.begin(), w1_.end(), w1f_.begin());
    std::copy(theta.begin() + j_ * d_, theta.begin() + j_ * d_ + j_, b1_.begin());
    if (!project_) {
      const auto o = theta.begin() + j_ * d_ + j_;
      std::copy(o, o + k_ * j_, w2_.begin());
      std::copy(o + k_ * j_, o + k_ * j_ + k_, b2_.begin());
    }
  }

  // Hidden activations of every row, then the exact ridge solution for the output layer.
  void solve_output_layer() {
    const int64_t m = j_ + 1, cols = m + k_;
    run(hidden_, pass(), m * cols, cols * group_);
    std::vector<double> normal(m * cols, 0.0);
    for (int64_t p = 0; p < m; ++p) {
      for (int64_t q = p; q < cols; ++q) {
        normal[p * cols + q] = sum_[p * cols + q];
        if (q < m) normal[q * cols + p] = sum_[p * cols + q];
      }
    }
    std::vector<double> b;
    solve_output_ridge(normal, m, k_, l2_ * static_cast<double>(k_), b);
    for (int64_t c = 0; c < k_; ++c) {
      for (int64_t u = 0; u < j_; ++u) w2_[c * j_ + u] = b[u * k_ + c];
      b2_[c] = b[j_ * k_ + c];
    }
    std::copy(w2_.begin(), w2_.end(), w2b2_.begin());
    std::copy(b2_.begin(), b2_.end(), w2b2_.begin() + k_ * j_);
  }

  int64_t n_, d_, j_, k_;
  Isa isa_;
  int64_t group_, groups_, np_;
  Activation act_;
  double l2_;
  bool project_;
  int threads_ = 1;
  int lanes_ = 4;
  std::vector<double> w1_, b1_, w2_, b2_, w2b2_;
  std::vector<float> w1f_;
  // Read with 64-byte vector loads: kept on cache-line boundaries.
  AlignedVector<double> zs_, hs_;
  AlignedVector<T> xt_;
  AlignedVector<double> rt_, mask_, acc_, scratch_;
  AlignedVector<float> rtf_;
  std::vector<double> sum_, rsum_;
  double rr_ = 0.0;  // sum of squared residuals
  GroupKernel objective_ = nullptr, hidden_ = nullptr, forward_ = nullptr;
  // The thread that ran each part of the last pass, on separate lines.
  struct alignas(64) RanBy {
    std::thread::id id;
  };
  std::vector<RanBy> ran_by_;
  // The session's team (see session()); team_size_ is 1 outside a session.
  struct alignas(64) Done {
    std::atomic<uint64_t> generation{0};
  };
  int team_size_ = 1;
  std::unique_ptr<Done[]> done_;
  uint64_t session_start_ = 0;  // the generation before the session's first pass
  alignas(64) std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false}, team_ready_{false};
  void (*job_)(void*, int) = nullptr;
  void* job_body_ = nullptr;
};

}  // namespace

int kernel_threads_used(const torch::Tensor& x, const torch::Tensor& r, int64_t units) {
  CpuEvaluator<double> ev(x, r, torch::Tensor(), units, StageProblem(), /*project=*/false);
  std::vector<double> theta(units * x.size(1) + units + r.size(1) * units + r.size(1), 0.1), g;
  ev.evaluate(theta, &g);
  return ev.threads_used();
}

namespace {

template <typename T>
class CpuStageForward final : public StageForward {
 public:
  CpuStageForward(const torch::Tensor& x, int64_t units, int64_t outputs, Activation act)
      : rows_(x, torch::Tensor(), torch::Tensor(), units, StageProblem().activation(act), false,
              outputs),
        dtype_(x.scalar_type()) {}
  torch::Tensor operator()(const StageParams& params) override {
    return rows_.forward_rows(params, dtype_);
  }

 private:
  CpuEvaluator<T> rows_;
  torch::ScalarType dtype_;
};

}  // namespace

std::unique_ptr<StageForward> make_cpu_stage_forward(const torch::Tensor& x, int64_t units,
                                                     int64_t outputs, Activation act) {
  if (!x.device().is_cpu() || x.dim() != 2 || x.size(0) == 0) return nullptr;
  if (x.scalar_type() == torch::kDouble) {
    return std::make_unique<CpuStageForward<double>>(x, units, outputs, act);
  }
  if (x.scalar_type() == torch::kFloat) {
    return std::make_unique<CpuStageForward<float>>(x, units, outputs, act);
  }
  return nullptr;
}

std::unique_ptr<StageEvaluator> make_cpu_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                   const torch::Tensor& rows, int64_t units,
                                                   const StageProblem& problem,
                                                   bool project_output) {
  // Float32 features are multiplied in float32 (twice the lanes and half the bytes of float64:
  // a Satellite stage's evaluation 11.6 -> 10.4 us) and the activations computed in float32;
  // the outputs, the gradients and the sums are float64, except with one hidden unit and float32
  // residuals, where the per-row work stays in float32 until the sums over groups of rows
  // (one_unit_float_groups: 7.2 -> 6.0 us).
  if (x.scalar_type() == torch::kDouble) {
    return std::make_unique<CpuEvaluator<double>>(x, r, rows, units, problem, project_output);
  }
  return std::make_unique<CpuEvaluator<float>>(x, r, rows, units, problem, project_output);
}

}  // namespace boosthead::detail
