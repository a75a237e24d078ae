#include "lbfgs.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "simd.h"

namespace boosthead::detail {
namespace {

// Eight partial sums in four two-lane vectors, for the few products outside LbfgsMemory: a
// chain of dependent adds over a stage's parameters would be its latency.
double dot(const std::vector<double>& a, const std::vector<double>& b) {
  using v2 = double __attribute__((vector_size(16)));
  const size_t n = a.size();
  const double* pa = a.data();
  const double* pb = b.data();
  v2 s[4] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 4; ++k) {
      v2 x, y;
      std::memcpy(&x, pa + i + 2 * k, sizeof x);
      std::memcpy(&y, pb + i + 2 * k, sizeof y);
      s[k] += x * y;
    }
  }
  const v2 t = (s[0] + s[1]) + (s[2] + s[3]);
  double r = t[0] + t[1];
  for (; i < n; ++i) r += pa[i] * pb[i];
  return r;
}

double max_abs(const std::vector<double>& a) {
  double m = 0.0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

}  // namespace

// The vector work of LbfgsMemory over L lanes, built for each instruction set.
struct LbfgsKernels {
  template <int L>
  BOOSTHEAD_INLINE static double dot(const double* a, const double* b, size_t np) {
    using vd = typename Lanes<L>::d;
    vd s0{}, s1{};
    size_t j = 0;
    for (; j + 2 * L <= np; j += 2 * L) {
      s0 += load<L>(a + j) * load<L>(b + j);
      s1 += load<L>(a + j + L) * load<L>(b + j + L);
    }
    for (; j < np; j += L) s0 += load<L>(a + j) * load<L>(b + j);
    return lane_sum<L>(s0 + s1);
  }

  // d_pad_ = -H g_pad_.
  template <int L>
  BOOSTHEAD_INLINE static void direction(LbfgsMemory& mem) {
    using vd = typename Lanes<L>::d;
    const size_t m = mem.count_, np = mem.np_, mm = mem.m_;
    const double* g = mem.g_pad_.data();
    double* d = mem.d_pad_.data();
    size_t* order = mem.order_.data();
    double* a = mem.a_.data();
    double* b = mem.b_.data();
    for (size_t i = 0; i < m; ++i) {
      const size_t o = mem.slot(i);
      order[i] = o;
      a[o] = dot<L>(&mem.s_[o * np], g, np);
      b[o] = dot<L>(&mem.y_[o * np], g, np);
    }
    double* sy = mem.sy_.data();
    double* yy = mem.yy_.data();
    if (mem.pending_) {
      // y = g - g_prev for the newest pair: s_i.y = s_i.g - s_i.g_prev, and y_i.y alike.
      const size_t last = order[m - 1];
      for (size_t i = 0; i + 1 < m; ++i) {
        const size_t o = order[i];
        sy[o * mm + last] = a[o] - mem.a_prev_[o];
        yy[o * mm + last] = yy[last * mm + o] = b[o] - mem.b_prev_[o];
      }
      mem.pending_ = false;
    }
    for (size_t i = 0; i < m; ++i) {
      mem.a_prev_[order[i]] = a[order[i]];
      mem.b_prev_[order[i]] = b[order[i]];
    }
    mem.have_prev_ = true;
    // The two-loop recursion on the inner products: q = -g - sum_k alpha_k y_k, so
    // alpha_i = rho_i s_i.q = rho_i (-s_i.g - sum_{k > i} alpha_k s_i.y_k); then
    // r = gamma q + sum_{k < i} c_k s_k and c_i = alpha_i - rho_i y_i.r with
    // y_i.r = gamma (-y_i.g - sum_k alpha_k y_i.y_k) + sum_{k < i} c_k s_k.y_i. Each new alpha_k
    // (c_k) goes into the sums of all the pairs still to come at once, so that the chain from
    // one to the next is a multiply and an add.
    const double gamma = m > 0 ? mem.gamma_ : 1.0;
    double* part = mem.part_.data();
    double* alpha = mem.alpha_.data();
    double* cs = mem.coef_s_.data();
    double* cy = mem.coef_y_.data();
    const double* rho = mem.rho_.data();
    for (size_t i = 0; i < m; ++i) part[i] = -a[order[i]];
    for (size_t k = m; k-- > 0;) {
      const size_t o = order[k];
      alpha[o] = rho[o] * part[k];
      for (size_t i = 0; i < k; ++i) part[i] -= alpha[o] * sy[order[i] * mm + o];
    }
    for (size_t i = 0; i < m; ++i) {
      const double* yyi = yy + order[i] * mm;
      double yq = -b[order[i]];
      for (size_t k = 0; k < m; ++k) yq -= alpha[order[k]] * yyi[order[k]];
      part[i] = gamma * yq;
    }
    for (size_t k = 0; k < m; ++k) {
      const size_t o = order[k];
      cs[o] = alpha[o] - rho[o] * part[k];
      cy[o] = -gamma * alpha[o];
      const double* syk = sy + o * mm;
      for (size_t i = k + 1; i < m; ++i) part[i] += cs[o] * syk[order[i]];
    }
    // d = -gamma g + sum_k (c_k s_k - gamma alpha_k y_k).
    for (size_t j = 0; j < np; j += L) {
      vd acc = -gamma * load<L>(g + j), acc2{};
      for (size_t i = 0; i < m; ++i) {
        const size_t o = order[i];
        acc += cs[o] * load<L>(&mem.s_[o * np + j]);
        acc2 += cy[o] * load<L>(&mem.y_[o * np + j]);
      }
      store(d + j, acc + acc2);
    }
  }
};

namespace {

double dot_baseline(const double* a, const double* b, size_t np) {
  return LbfgsKernels::dot<2>(a, b, np);
}
BOOSTHEAD_AVX2 double dot_avx2(const double* a, const double* b, size_t np) {
  return LbfgsKernels::dot<4>(a, b, np);
}
BOOSTHEAD_AVX512 double dot_avx512(const double* a, const double* b, size_t np) {
  return LbfgsKernels::dot<8>(a, b, np);
}
void direction_baseline(LbfgsMemory& m) { LbfgsKernels::direction<2>(m); }
BOOSTHEAD_AVX2 void direction_avx2(LbfgsMemory& m) { LbfgsKernels::direction<4>(m); }
BOOSTHEAD_AVX512 void direction_avx512(LbfgsMemory& m) { LbfgsKernels::direction<8>(m); }

}  // namespace

LbfgsMemory::LbfgsMemory(size_t n, int history)
    : n_(n),
      np_((n + 7) / 8 * 8),
      m_(static_cast<size_t>(std::max(history, 1))),
      s_(m_ * np_, 0.0),
      y_(m_ * np_, 0.0),
      rho_(m_),
      sy_(m_ * m_),
      yy_(m_ * m_),
      a_(m_),
      b_(m_),
      a_prev_(m_),
      b_prev_(m_),
      alpha_(m_),
      coef_s_(m_),
      coef_y_(m_),
      part_(m_),
      order_(m_),
      g_pad_(np_, 0.0),
      d_pad_(np_, 0.0),
      s_pad_(np_, 0.0),
      y_pad_(np_, 0.0) {
  switch (cpu_isa()) {
    case Isa::Avx512:
      dot_ = dot_avx512;
      direction_ = direction_avx512;
      break;
    case Isa::Avx2:
      dot_ = dot_avx2;
      direction_ = direction_avx2;
      break;
    case Isa::Baseline:
      dot_ = dot_baseline;
      direction_ = direction_baseline;
      break;
  }
}

void LbfgsMemory::clear() {
  count_ = 0;
  first_ = 0;
  pending_ = false;
  have_prev_ = false;
}

void LbfgsMemory::cross_products_directly(size_t slot) {
  const double* y_new = &y_[slot * np_];
  for (size_t i = 0; i < count_; ++i) {
    const size_t o = this->slot(i);
    if (o == slot) continue;
    sy_[o * m_ + slot] = dot_(&s_[o * np_], y_new, np_);
    yy_[o * m_ + slot] = yy_[slot * m_ + o] = dot_(&y_[o * np_], y_new, np_);
  }
}

bool LbfgsMemory::push(const std::vector<double>& s, const std::vector<double>& y) {
  if (pending_) {
    cross_products_directly(slot(count_ - 1));
    pending_ = false;
  }
  // The products direction() kept serve this pair only: a later pair's y starts elsewhere.
  const bool from_last_direction = have_prev_;
  have_prev_ = false;
  std::copy(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n_), s_pad_.begin());
  std::copy(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(n_), y_pad_.begin());
  const double sy = dot_(s_pad_.data(), y_pad_.data(), np_);
  const double yy = dot_(y_pad_.data(), y_pad_.data(), np_);
  if (!(sy > 1e-12 * std::max(1.0, yy))) return false;
  size_t slot;
  if (count_ == m_) {
    slot = first_;
    first_ = first_ + 1 == m_ ? 0 : first_ + 1;
  } else {
    slot = this->slot(count_);
    ++count_;
  }
  std::copy(s_pad_.begin(), s_pad_.end(), s_.begin() + static_cast<std::ptrdiff_t>(slot * np_));
  std::copy(y_pad_.begin(), y_pad_.end(), y_.begin() + static_cast<std::ptrdiff_t>(slot * np_));
  rho_[slot] = 1.0 / sy;
  sy_[slot * m_ + slot] = sy;
  yy_[slot * m_ + slot] = yy;
  gamma_ = sy / yy;
  // The older pairs' products with y follow from their products with the next gradient, which
  // direction() takes, if the last ones taken were with this step's start.
  if (from_last_direction) {
    pending_ = true;
  } else {
    cross_products_directly(slot);
  }
  return true;
}

void LbfgsMemory::direction(const std::vector<double>& g, std::vector<double>& d) {
  std::copy(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(n_), g_pad_.begin());
  direction_(*this);
  d.assign(d_pad_.begin(), d_pad_.begin() + static_cast<std::ptrdiff_t>(n_));
}

LbfgsOutcome minimize_lbfgs(const ValueAndGradient& fg, std::vector<double>& x,
                            const LbfgsSettings& settings) {
  const size_t n = x.size();
  LbfgsOutcome out;
  std::vector<double> g(n), d(n), x_new(n), g_new(n), ps(n), py(n);
  double f = fg(x, g);
  out.evaluations = 1;
  out.value = f;
  if (!std::isfinite(f) || max_abs(g) <= settings.gtol) return out;

  LbfgsMemory memory(n, settings.history);
  for (int64_t iter = 0; iter < settings.max_iter; ++iter) {
    memory.direction(g, d);
    double gtd = dot(g, d);
    if (!(gtd < 0.0)) {  // not a descent direction: restart from steepest descent
      memory.clear();
      for (size_t i = 0; i < n; ++i) d[i] = -g[i];
      gtd = -dot(g, g);
    }

    // Backtracking line search (Armijo) with quadratic interpolation.
    double t = 1.0;
    if (memory.size() == 0) {
      double l1 = 0.0;
      for (double v : g) l1 += std::abs(v);
      t = settings.first_step_l2 ? 1.0 / std::max(std::sqrt(dot(g, g)), 1e-300)
                                 : std::min(1.0, 1.0 / std::max(l1, 1e-300));
    }
    double f_new = 0.0;
    bool accepted = false;
    for (int ls = 0; ls < 30; ++ls) {
      for (size_t i = 0; i < n; ++i) x_new[i] = x[i] + t * d[i];
      f_new = fg(x_new, g_new);
      ++out.evaluations;
      if (std::isfinite(f_new) && f_new <= f + 1e-4 * t * gtd) {
        accepted = true;
        break;
      }
      double t_next = 0.5 * t;
      if (std::isfinite(f_new)) {
        const double denom = 2.0 * (f_new - f - gtd * t);
        if (denom > 0.0) t_next = std::clamp(-gtd * t * t / denom, 0.1 * t, 0.5 * t);
      }
      t = t_next;
    }
    if (!accepted) break;
    ++out.iterations;

    for (size_t i = 0; i < n; ++i) {
      ps[i] = x_new[i] - x[i];
      py[i] = g_new[i] - g[i];
    }
    memory.push(ps, py);
    const double f_old = f;
    x.swap(x_new);
    g.swap(g_new);
    f = f_new;
    out.value = f;
    if ((f_old - f) <= settings.ftol * std::max({std::abs(f_old), std::abs(f), 1.0})) break;
    if (max_abs(g) <= settings.gtol) break;
  }
  return out;
}

}  // namespace boosthead::detail
