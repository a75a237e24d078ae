#include "lbfgs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

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
