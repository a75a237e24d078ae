#include "lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>

namespace boosthead::detail {
namespace {

// Four partial sums: a stage has few parameters, and one chain of dependent adds would make the
// two-loop recursion cost as much as a small stage's evaluation.
double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  const size_t n = a.size();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
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
      for (size_t j = 0; j < n; ++j) d[j] -= alpha[i] * pairs[i].y[j];
    }
    for (size_t j = 0; j < n; ++j) d[j] *= gamma;
    for (int i = 0; i < m; ++i) {
      const double beta = pairs[i].rho * dot(pairs[i].y, d);
      for (size_t j = 0; j < n; ++j) d[j] += (alpha[i] - beta) * pairs[i].s[j];
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
