#include "lbfgs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>

namespace boosthead::detail {
namespace {

// Eight partial sums in four two-lane vectors: a stage has few parameters, and the twenty dot
// products of the two-loop recursion, as one chain of dependent adds each, cost a sixth of a
// small stage's evaluation.
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

// y += a x, two lanes at a time (GCC leaves the plain loop scalar: it cannot rule out that the
// vectors overlap).
void axpy(double a, const std::vector<double>& x, std::vector<double>& y) {
  using v2 = double __attribute__((vector_size(16)));
  const size_t n = x.size();
  const double* px = x.data();
  double* py = y.data();
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    v2 u, v;
    std::memcpy(&u, px + i, sizeof u);
    std::memcpy(&v, py + i, sizeof v);
    v += a * u;
    std::memcpy(py + i, &v, sizeof v);
  }
  for (; i < n; ++i) py[i] += a * px[i];
}

double max_abs(const std::vector<double>& a) {
  double m = 0.0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

struct Pair {
  std::vector<double> s, y;
  double rho;
};

}  // namespace

LbfgsOutcome minimize_lbfgs(const ValueAndGradient& fg, std::vector<double>& x,
                            const LbfgsSettings& settings) {
  const size_t n = x.size();
  LbfgsOutcome out;
  std::vector<double> g(n), d(n), x_new(n), g_new(n), ps(n), py(n), alpha(settings.history);
  double f = fg(x, g);
  out.evaluations = 1;
  out.value = f;
  if (!std::isfinite(f) || max_abs(g) <= settings.gtol) return out;

  std::deque<Pair> pairs;
  double gamma = 1.0;
  for (int64_t iter = 0; iter < settings.max_iter; ++iter) {
    // Two-loop recursion: d = -H g.
    for (size_t i = 0; i < n; ++i) d[i] = -g[i];
    const int m = static_cast<int>(pairs.size());
    for (int i = m - 1; i >= 0; --i) {
      alpha[i] = pairs[i].rho * dot(pairs[i].s, d);
      axpy(-alpha[i], pairs[i].y, d);
    }
    for (size_t j = 0; j < n; ++j) d[j] *= gamma;
    for (int i = 0; i < m; ++i) {
      const double beta = pairs[i].rho * dot(pairs[i].y, d);
      axpy(alpha[i] - beta, pairs[i].s, d);
    }
    double gtd = dot(g, d);
    if (!(gtd < 0.0)) {  // not a descent direction: restart from steepest descent
      pairs.clear();
      gamma = 1.0;
      for (size_t i = 0; i < n; ++i) d[i] = -g[i];
      gtd = -dot(g, g);
    }

    // Backtracking line search (Armijo) with quadratic interpolation.
    double t = 1.0;
    if (pairs.empty()) {
      double l1 = 0.0;
      for (double v : g) l1 += std::abs(v);
      t = std::min(1.0, 1.0 / std::max(l1, 1e-300));
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
    const double sy = dot(ps, py);
    if (sy > 1e-12 * std::max(1.0, dot(py, py))) {
      gamma = sy / dot(py, py);
      // The oldest pair's storage is reused once the history is full.
      Pair p;
      if (static_cast<int>(pairs.size()) == settings.history) {
        p = std::move(pairs.front());
        pairs.pop_front();
      }
      p.s.swap(ps);
      p.y.swap(py);
      p.rho = 1.0 / sy;
      pairs.push_back(std::move(p));
      ps.resize(n);
      py.resize(n);
    }
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
