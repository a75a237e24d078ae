#pragma once
// Internal: the fused CUDA pass of one stage over float32 rows. Plain CUDA on raw pointers, so
// nvcc never compiles LibTorch's headers; src/stage/cuda/evaluator.cpp owns the tensors.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace boosthead::detail::cuda {

// Largest hidden-unit count the fused pass is instantiated for; wider stages use ATen.
constexpr int kMaxFusedUnits = 8;

// Activation codes, as boosthead::Activation numbers them (checked in evaluator.cpp).
enum class Act : int { Sigmoid = 0, Tanh = 1, Relu = 2 };

struct StagePassArgs {
  const float* x;   // n x d, row-major
  const float* r;   // n x k residuals, row-major
  const float* w1;  // j x d
  const float* b1;  // j
  const float* w2;  // k x j
  const float* b2;  // k
  int64_t n, d;
  int j, k;
  Act act;
  // [gb1 (j), gw2 (k x j), gb2 (k), sse]: the sums over rows, added to (the caller zeroes them).
  double* sums;
  // n x j: dL/dz per row (error times output weights times the activation's slope), for the
  // input layer's gradient dz^T x; null when only the objective is wanted.
  float* dz;
};

// One pass over the rows: hidden layer, outputs, errors, their squares and the output layer's
// sums in float64, and dz. j must be in [1, kMaxFusedUnits]. Asynchronous on `stream`.
cudaError_t launch_stage_pass(const StagePassArgs& args, cudaStream_t stream);

}  // namespace boosthead::detail::cuda
