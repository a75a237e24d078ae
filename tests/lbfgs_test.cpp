#include "lbfgs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <utility>
#include <vector>

#include "isa_util.h"

using Vec = std::vector<double>;

// L-BFGS finds the minimum of a convex quadratic and of the Rosenbrock function.
TEST(Lbfgs, MinimisesQuadraticAndRosenbrock) {
  boosthead::detail::LbfgsSettings settings;
  settings.max_iter = 500;
  settings.ftol = 0.0;
  settings.gtol = 1e-10;
  {
    const size_t n = 30;
    Vec x(n, 0.0);
    auto fg = [&](const Vec& v, Vec& g) {
      double f = 0.0;
      g.assign(n, 0.0);
      for (size_t i = 0; i < n; ++i) {
        const double c = 1.0 + static_cast<double>(i);  // condition number 30
        f += 0.5 * c * (v[i] - 1.0) * (v[i] - 1.0);
        g[i] = c * (v[i] - 1.0);
      }
      return f;
    };
    const auto out = boosthead::detail::minimize_lbfgs(fg, x, settings);
    for (size_t i = 0; i < n; ++i) EXPECT_NEAR(x[i], 1.0, 1e-8) << i;
    EXPECT_LT(out.iterations, settings.max_iter);  // converged, not stopped
  }
  {
    Vec x{-1.2, 1.0};
    auto fg = [](const Vec& v, Vec& g) {
      const double a = 1.0 - v[0], b = v[1] - v[0] * v[0];
      g = {-2.0 * a - 400.0 * v[0] * b, 200.0 * b};
      return a * a + 100.0 * b * b;
    };
    const auto out = boosthead::detail::minimize_lbfgs(fg, x, settings);
    EXPECT_NEAR(x[0], 1.0, 1e-6);
    EXPECT_NEAR(x[1], 1.0, 1e-6);
    EXPECT_LT(out.iterations, settings.max_iter);
  }
}

namespace {

// The textbook two-loop recursion over the pairs, oldest first.
Vec two_loop(const std::vector<std::pair<Vec, Vec>>& pairs, const Vec& g) {
  const size_t n = g.size(), m = pairs.size();
  auto dot = [&](const Vec& a, const Vec& b) {
    double s = 0.0;
    for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
  };
  Vec q(n), alpha(m);
  for (size_t i = 0; i < n; ++i) q[i] = -g[i];
  for (size_t i = m; i-- > 0;) {
    alpha[i] = dot(pairs[i].first, q) / dot(pairs[i].first, pairs[i].second);
    for (size_t j = 0; j < n; ++j) q[j] -= alpha[i] * pairs[i].second[j];
  }
  const double gamma = m == 0 ? 1.0
                              : dot(pairs[m - 1].first, pairs[m - 1].second) /
                                    dot(pairs[m - 1].second, pairs[m - 1].second);
  for (double& v : q) v *= gamma;
  for (size_t i = 0; i < m; ++i) {
    const double beta = dot(pairs[i].second, q) / dot(pairs[i].first, pairs[i].second);
    for (size_t j = 0; j < n; ++j) q[j] += (alpha[i] - beta) * pairs[i].first[j];
  }
  return q;
}

}  // namespace

// LbfgsMemory runs the recursion on inner products and takes the newest pair's products with
// the older pairs from the change of the gradient's products: along a run of steps on a
// quadratic (more steps than the history holds, rejected pairs, one followed by a good one, a
// pair pushed without a direction in between) its directions equal the textbook recursion's, on
// every instruction set.
TEST(Lbfgs, MemoryDirectionsEqualTheTwoLoopRecursion) {
  const size_t n = 13;
  const int history = 4;
  // f = 0.5 x^T A x - c^T x with A = B^T B + I.
  std::vector<Vec> a(n, Vec(n, 0.0)), b(n, Vec(n));
  Vec c(n);
  unsigned state = 12345;
  auto uniform = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<double>(state >> 8) / 16777216.0 - 0.5;
  };
  for (auto& row : b) {
    for (double& v : row) v = uniform();
  }
  for (size_t i = 0; i < n; ++i) {
    c[i] = uniform();
    for (size_t j = 0; j < n; ++j) {
      for (size_t k = 0; k < n; ++k) a[i][j] += b[k][i] * b[k][j];
    }
    a[i][i] += 1.0;
  }
  auto grad = [&](const Vec& x) {
    Vec g(n);
    for (size_t i = 0; i < n; ++i) {
      g[i] = -c[i];
      for (size_t j = 0; j < n; ++j) g[i] += a[i][j] * x[j];
    }
    return g;
  };
  for (const char* isa : boosthead::test::runnable_isas()) {
    boosthead::test::ScopedIsa scoped(isa);
    boosthead::detail::LbfgsMemory memory(n, history);
    std::vector<std::pair<Vec, Vec>> pairs;
    Vec x(n, 0.0), g = grad(x), d;
    int compared = 0;
    for (int step = 0; step < 12; ++step) {
      if (step != 7) {  // step 7: a pair pushed without a direction in between
        memory.direction(g, d);
        const Vec want = two_loop(pairs, g);
        double scale = 0.0;
        for (double v : want) scale = std::max(scale, std::abs(v));
        for (size_t i = 0; i < n; ++i) {
          EXPECT_NEAR(d[i], want[i], 1e-10 * scale) << isa << " step " << step << " " << i;
        }
        ++compared;
      } else {
        for (size_t i = 0; i < n; ++i) d[i] = -g[i];
      }
      Vec x_new(n), s(n), y(n);
      for (size_t i = 0; i < n; ++i) x_new[i] = x[i] + 0.3 * d[i];
      const Vec g_new = grad(x_new);
      for (size_t i = 0; i < n; ++i) {
        s[i] = x_new[i] - x[i];
        y[i] = g_new[i] - g[i];
      }
      if (step == 4 || step == 9) {
        // A pair with s.y <= 0 is not kept; at step 9 the good pair follows it.
        Vec bad = s;
        for (double& v : bad) v = -v;
        EXPECT_FALSE(memory.push(bad, y));
      }
      if (step != 4) {
        EXPECT_TRUE(memory.push(s, y));
        pairs.emplace_back(s, y);
        if (pairs.size() > static_cast<size_t>(history)) pairs.erase(pairs.begin());
      }
      EXPECT_EQ(memory.size(), pairs.size());
      x = x_new;
      g = g_new;
    }
    EXPECT_EQ(compared, 11);
  }
}
