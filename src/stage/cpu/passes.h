#pragma once
// Internal: the CPU kernels' passes over groups of rows (objective and gradient, hidden layer and
// normal matrix, hidden layer only), written once over L lanes.

#include <algorithm>
#include <cstdint>

#include "lane_math.h"

namespace boosthead::detail::cpu {

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
  double w2w2, w2b2;  // with one unit: sum of w2^2 and of w2 b2
  bool hidden_given;  // zs and hs already hold this theta's hidden layer
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
      for (int64_t u = 0; u < s.j; ++u)
        store(row + u * kGroup + o, load<L>(h + u * kGroup + o) * mask);
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

}  // namespace boosthead::detail::cpu
