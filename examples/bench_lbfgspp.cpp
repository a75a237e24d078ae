// The library's L-BFGS (src/lbfgs.cpp) against LBFGSpp (Debian's liblbfgspp-dev) on the same
// stage objectives, evaluated by the same CPU evaluator: time, evaluations, the objective reached,
// and the time spent in each optimizer itself (the solve's time less its evaluations'). Ours runs
// twice: with its own first step, min(1, 1/||g||_1), and with LBFGSpp's, 1/||g||_2. Each solve
// starts from the library's initialisation of a stage (Glorot, seeds 0, 1, ...).
//
//   bench_lbfgspp [seeds]   (default 5; one thread)

#include <ATen/Parallel.h>
#include <LBFGS.h>
#include <boosthead/stage_problem.h>

#include <Eigen/Core>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "fit_inputs.h"
#include "lbfgs.h"
#include "stage/evaluator.h"
#include "stage/params.h"

namespace {

using Clock = std::chrono::steady_clock;
using boosthead::detail::StageEvaluator;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Case {
  const char* name;
  int64_t n, d, j, k, max_iter;
  boosthead::Activation act;
  bool varpro;  // the solver `varpro` (output layer solved per evaluation), else `lbfgs`
};

struct Outcome {
  double secs = 0, eval_secs = 0, objective = 0;
  int64_t iterations = 0, evaluations = 0;
  bool failed = false;
};

// The evaluator counted and timed: what an optimizer spends outside it is its own overhead.
struct Counted {
  StageEvaluator& ev;
  Outcome& out;
  double operator()(const std::vector<double>& theta, std::vector<double>& grad) {
    const auto t0 = Clock::now();
    const double f = ev.evaluate(theta, &grad);
    out.eval_secs += seconds(t0, Clock::now());
    ++out.evaluations;
    return f;
  }
};

Outcome ours(StageEvaluator& ev, std::vector<double> theta, int64_t max_iter, bool first_step_l2) {
  Outcome out;
  Counted fg{ev, out};
  boosthead::detail::LbfgsSettings s;
  s.max_iter = max_iter;
  s.first_step_l2 = first_step_l2;
  const auto t0 = Clock::now();
  const auto r = boosthead::detail::minimize_lbfgs(fg, theta, s);
  out.secs = seconds(t0, Clock::now());
  out.iterations = r.iterations;
  out.objective = r.value;
  return out;
}

// LBFGSpp with the same memory (10 pairs) and stopping rules as ours: scipy's relative decrease
// ftol = 2.2e-9 (LBFGSpp's delta over one iteration) and a gradient bound of 1e-9 (LBFGSpp
// tests the norm where ours tests the largest entry).
template <template <class> class LineSearch>
Outcome lbfgspp(StageEvaluator& ev, const std::vector<double>& theta0, int64_t max_iter) {
  Outcome out;
  Counted fg{ev, out};
  LBFGSpp::LBFGSParam<double> p;
  p.m = 10;
  p.epsilon = 1e-9;
  p.epsilon_rel = 0;
  p.past = 1;
  p.delta = 2.220446049250313e-09;
  p.max_iterations = static_cast<int>(max_iter);
  if (std::is_same_v<LineSearch<double>, LBFGSpp::LineSearchNocedalWright<double>>) {
    p.linesearch = LBFGSpp::LBFGS_LINESEARCH_BACKTRACKING_STRONG_WOLFE;
  }
  LBFGSpp::LBFGSSolver<double, LineSearch> solver(p);
  Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXd>(theta0.data(), theta0.size());
  std::vector<double> xv(theta0.size()), gv(theta0.size());
  auto f = [&](const Eigen::VectorXd& xe, Eigen::VectorXd& ge) {
    Eigen::Map<Eigen::VectorXd>(xv.data(), xv.size()) = xe;
    const double v = fg(xv, gv);
    ge = Eigen::Map<const Eigen::VectorXd>(gv.data(), gv.size());
    return v;
  };
  double fx = 0;
  const auto t0 = Clock::now();
  try {
    out.iterations = solver.minimize(f, x, fx);
  } catch (const std::exception&) {
    // Its line searches throw when they find no step; the point reached still counts.
    out.failed = true;
  }
  out.secs = seconds(t0, Clock::now());
  Eigen::Map<Eigen::VectorXd>(xv.data(), xv.size()) = x;
  out.objective = ev.evaluate(xv, nullptr);
  return out;
}

void report(const char* who, const std::vector<Outcome>& runs) {
  double secs = 0, own = 0, obj = 0, it = 0, ev = 0;
  int failed = 0;
  for (const auto& r : runs) {
    secs += r.secs;
    own += r.secs - r.eval_secs;
    obj += r.objective;
    it += static_cast<double>(r.iterations);
    ev += static_cast<double>(r.evaluations);
    failed += r.failed ? 1 : 0;
  }
  const double n = static_cast<double>(runs.size());
  std::printf(
      "  %-30s %8.2f ms/solve  %6.1f iterations  %6.1f evaluations  own %6.2f us/iteration  "
      "objective %.8f%s\n",
      who, 1e3 * secs / n, it / n, ev / n, 1e6 * own / std::max(it, 1.0), obj / n,
      failed ? (" (" + std::to_string(failed) + " line-search failures)").c_str() : "");
}

}  // namespace

int main(int argc, char** argv) {
  const int seeds = argc > 1 ? std::atoi(argv[1]) : 5;
  at::set_num_threads(1);
  using boosthead::Activation;
  const Case cases[] = {
      {"paper stage: Satellite subsample, J=1, sigmoid, lbfgs 200 it", 2145, 36, 1, 6, 200,
       Activation::Sigmoid, false},
      {"default stage: Satellite, J=12, relu, varpro 25 it", 5148, 36, 12, 6, 25, Activation::Relu,
       true},
      {"wide stage: J=12, relu, lbfgs 200 it", 5148, 36, 12, 6, 200, Activation::Relu, false},
      {"large: 100000 x 128, J=4, K=10, sigmoid, lbfgs 30 it", 100000, 128, 4, 10, 30,
       Activation::Sigmoid, false},
  };
  for (const auto& c : cases) {
    torch::manual_seed(0);
    auto x = torch::randn({c.n, c.d}, torch::kDouble);
    auto r = (torch::tanh(x.narrow(1, 0, c.k)) + 0.3 * torch::randn({c.n, c.k}, torch::kDouble))
                 .contiguous();
    const auto problem = boosthead::StageProblem().activation(c.act);
    auto ev = boosthead::detail::make_evaluator(x, r, torch::Tensor(), c.j, problem, c.varpro);
    std::vector<Outcome> a, a2, b, w;
    size_t parameters = 0;
    for (int s = 0; s < seeds; ++s) {
      std::mt19937_64 rng(static_cast<uint64_t>(s));
      auto p = boosthead::detail::glorot_init(rng, c.d, c.j, c.k, c.act, x.options());
      const auto theta = boosthead::detail::pack_params(p, c.varpro);
      parameters = theta.size();
      a.push_back(ours(*ev, theta, c.max_iter, false));
      a2.push_back(ours(*ev, theta, c.max_iter, true));
      b.push_back(lbfgspp<LBFGSpp::LineSearchBacktracking>(*ev, theta, c.max_iter));
      w.push_back(lbfgspp<LBFGSpp::LineSearchNocedalWright>(*ev, theta, c.max_iter));
    }
    std::printf("%s (%zu parameters searched, %d starts)\n", c.name, parameters, seeds);
    report("boosthead", a);
    report("boosthead, LBFGSpp's 1st step", a2);
    report("LBFGSpp backtracking", b);
    report("LBFGSpp Nocedal-Wright", w);
  }
  return 0;
}
