#pragma once
// Host-side L-BFGS in double precision for the small parameter vectors of a stage.

#include <cstdint>
#include <functional>
#include <vector>

namespace boosthead::detail {

struct LbfgsSettings {
  int64_t max_iter = 200;
  double ftol = 2.220446049250313e-09;
  double gtol = 1e-9;
  int history = 10;
};

struct LbfgsOutcome {
  int64_t iterations = 0;
  int64_t evaluations = 0;
  double value = 0.0;
};

// fg(x, g) returns f(x) and writes the gradient into g.
using ValueAndGradient = std::function<double(const std::vector<double>&, std::vector<double>&)>;

LbfgsOutcome minimize_lbfgs(const ValueAndGradient& fg, std::vector<double>& x,
                            const LbfgsSettings& settings);

}  // namespace boosthead::detail
