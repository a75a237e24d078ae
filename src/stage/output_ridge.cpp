#include "output_ridge.h"

#include <algorithm>
#include <cmath>

namespace boosthead::detail {
namespace {

bool cholesky(const std::vector<double>& a, int64_t m, double jitter, std::vector<double>& l) {
  std::fill(l.begin(), l.end(), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      double s = a[i * m + j] + (i == j ? jitter : 0.0);
      for (int64_t q = 0; q < j; ++q) s -= l[i * m + q] * l[j * m + q];
      if (i == j) {
        if (!(s > 0.0) || !std::isfinite(s)) return false;
        l[i * m + i] = std::sqrt(s);
      } else {
        l[i * m + j] = s / l[j * m + j];
      }
    }
  }
  return true;
}

}  // namespace

void solve_output_ridge(const std::vector<double>& normal, int64_t m, int64_t k, double ridge,
                        std::vector<double>& b) {
  const int64_t cols = m + k;
  std::vector<double> g(m * m), l(m * m);
  b.assign(m * k, 0.0);
  double trace = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) g[i * m + j] = normal[i * cols + j];
    for (int64_t c = 0; c < k; ++c) b[i * k + c] = normal[i * cols + m + c];
    trace += g[i * m + i];
  }
  for (int64_t i = 0; i + 1 < m; ++i) g[i * m + i] += ridge;
  // Growing jitter for the rare rank-deficient H (saturated or duplicate units).
  double jitter = 0.0;
  bool ok = false;
  for (int attempt = 0; attempt < 12 && !ok; ++attempt) {
    ok = cholesky(g, m, jitter, l);
    if (!ok) jitter = jitter == 0.0 ? 1e-12 * std::max(trace / m, 1e-300) : jitter * 100;
  }
  if (!ok) {
    std::fill(b.begin(), b.end(), 0.0);
    return;
  }
  for (int64_t c = 0; c < k; ++c) {
    std::vector<double> y(m);
    for (int64_t i = 0; i < m; ++i) {
      double s = b[i * k + c];
      for (int64_t q = 0; q < i; ++q) s -= l[i * m + q] * y[q];
      y[i] = s / l[i * m + i];
    }
    for (int64_t i = m - 1; i >= 0; --i) {
      double s = y[i];
      for (int64_t q = i + 1; q < m; ++q) s -= l[q * m + i] * b[q * k + c];
      b[i * k + c] = s / l[i * m + i];
    }
  }
}

}  // namespace boosthead::detail
