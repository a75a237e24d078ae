// Times one stage fit per solver and compares the cost of a solver iteration with a bound: one
// forward and one backward pass over the features as plain matrix products of the same shapes.
//
//   bench_solvers [rows] [features] [units] [outputs] [iterations] [threads]
// defaults: 100000 128 4 10 50 (all cores)

#include <ATen/Parallel.h>
#include <boosthead/stage_solver.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, int64_t def) { return argc > i ? std::atoll(argv[i]) : def; };
  const int64_t n = arg(1, 100000), d = arg(2, 128), j = arg(3, 4), k = arg(4, 10),
                iters = arg(5, 50);
  const int threads = static_cast<int>(arg(6, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  torch::manual_seed(0);
  auto x = torch::randn({n, d});
  auto r = torch::tanh(x.narrow(1, 0, k < d ? k : d)).narrow(1, 0, std::min(k, d));
  if (r.size(1) < k) r = torch::randn({n, k});
  r = r.contiguous();
  std::printf("rows %lld, features %lld, units %lld, outputs %lld, threads %d\n",
              static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(j),
              static_cast<long long>(k), threads);

  // Bound: X W^T (n x d x J) and G^T X (J x n x d), the two passes over X every gradient needs.
  auto w = torch::randn({j, d}), g = torch::randn({n, j});
  auto z = torch::empty({n, j}), gw = torch::empty({j, d});
  for (int i = 0; i < 3; ++i) at::mm_out(z, x, w.t());
  const int reps = 20;
  double t0 = now();
  for (int i = 0; i < reps; ++i) {
    at::mm_out(z, x, w.t());
    at::mm_out(gw, g.t(), x);
  }
  const double bound = (now() - t0) / reps;
  std::printf("bound: forward+backward matrix products  %9.3f ms\n", bound * 1e3);

  auto problem = boosthead::StageProblem()
                     .activation(boosthead::Activation::Sigmoid)
                     .max_iter(iters)
                     .ftol(0)
                     .gtol(0);
  for (const auto& name : boosthead::stage_solver_names()) {
    auto solver = boosthead::make_stage_solver(name);
    auto start = [&] {
      torch::manual_seed(1);
      return boosthead::StageParams{0.1 * torch::randn({j, d}), torch::zeros({j}),
                                    0.1 * torch::randn({k, j}), torch::zeros({k})};
    };
    // A first fit warms caches and lazily initialised state; the second one is timed.
    auto p = start();
    solver->fit(x, r, problem, p);
    p = start();
    t0 = now();
    auto rep = solver->fit(x, r, problem, p);
    const double secs = now() - t0;
    const double per_eval = secs / std::max<int64_t>(1, rep.evaluations);
    std::printf(
        "%-12s %4lld iterations %4lld evaluations  %8.4f ms/iteration  %8.4f ms/evaluation  "
        "evaluation/bound %.2f  objective %.6f\n",
        name.c_str(), static_cast<long long>(rep.iterations),
        static_cast<long long>(rep.evaluations), 1e3 * secs / std::max<int64_t>(1, rep.iterations),
        1e3 * per_eval, per_eval / bound, rep.objective);
  }
  return 0;
}
