#pragma once
// Internal: the exact output layer of variable projection, solved on the host.

#include <cstdint>
#include <vector>

namespace boosthead::detail {

// Solves (A + ridge * D) B = C for the output layer, where `normal` holds [A | C] row-major with
// A = [H, 1]^T [H, 1] (m x m) and C = [H, 1]^T R (m x k), and D masks the last (bias) row.
// Writes B (m x k, row-major) into `b`. Adds jitter when A is numerically singular.
void solve_output_ridge(const std::vector<double>& normal, int64_t m, int64_t k, double ridge,
                        std::vector<double>& b);

}  // namespace boosthead::detail
