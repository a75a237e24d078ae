// The fused pass of one stage over its rows (objective_kernel.h). One warp per row: the lanes
// stride over the features (coalesced loads) and build all J pre-activations in one pass, then
// each lane takes some outputs. Per-row values stay in float32, as on the CPU's float32 path;
// every sum over rows is float64. Outputs 0..31 keep their sums in the owning lane's registers
// for all the rows a warp visits; further outputs (k > 32) add into shared memory.

#include "objective_kernel.h"

namespace boosthead::detail::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <Act A>
__device__ __forceinline__ float activate(float z) {
  if constexpr (A == Act::Sigmoid) return 1.0f / (1.0f + __expf(-z));
  if constexpr (A == Act::Tanh) return tanhf(z);
  return z > 0.0f ? z : 0.0f;
}

// The derivative at z, given h = act(z).
template <Act A>
__device__ __forceinline__ float slope(float z, float h) {
  if constexpr (A == Act::Sigmoid) return h * (1.0f - h);
  if constexpr (A == Act::Tanh) return 1.0f - h * h;
  return z > 0.0f ? 1.0f : 0.0f;
}

template <int J, Act A>
__global__ void __launch_bounds__(kWarp* kWarpsPerBlock) stage_pass(const StagePassArgs a) {
  // [gb1 (J), gw2 (k x J), gb2 (k), sse] of this block.
  extern __shared__ double block_sums[];
  const int k = a.k;
  const int nsums = J + k * J + k + 1;
  double* s_gb1 = block_sums;
  double* s_gw2 = s_gb1 + J;
  double* s_gb2 = s_gw2 + k * J;
  double* s_sse = s_gb2 + k;
  for (int i = threadIdx.x; i < nsums; i += blockDim.x) block_sums[i] = 0.0;
  __syncthreads();

  const int lane = threadIdx.x % kWarp;
  const int64_t warp = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + threadIdx.x / kWarp;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  const int64_t d = a.d;
  // This lane's output (the first pass over outputs): its sums stay in registers.
  const int c0 = lane;
  const bool owns = c0 < k;
  float w2_own[J];
#pragma unroll
  for (int u = 0; u < J; ++u) w2_own[u] = owns ? a.w2[c0 * J + u] : 0.0f;
  const float b2_own = owns ? a.b2[c0] : 0.0f;
  float b1[J];
#pragma unroll
  for (int u = 0; u < J; ++u) b1[u] = a.b1[u];
  double gw2_own[J] = {};
  double gb2_own = 0.0, sse = 0.0, gb1[J] = {};

  for (int64_t row = warp; row < a.n; row += warps) {
    const float* xr = a.x + row * d;
    float z[J] = {};
    for (int64_t c = lane; c < d; c += kWarp) {
      const float xv = __ldg(xr + c);
#pragma unroll
      for (int u = 0; u < J; ++u) z[u] = fmaf(xv, __ldg(a.w1 + u * d + c), z[u]);
    }
    float h[J];
#pragma unroll
    for (int u = 0; u < J; ++u) {
      z[u] = warp_sum(z[u]) + b1[u];
      h[u] = activate<A>(z[u]);
    }
    const float* rr = a.r + row * static_cast<int64_t>(k);
    float back[J] = {};  // sum over outputs of error times output weight, per unit
    if (owns) {
      float p = b2_own;
#pragma unroll
      for (int u = 0; u < J; ++u) p = fmaf(w2_own[u], h[u], p);
      const float e = p - rr[c0];
      sse += static_cast<double>(e) * e;
      gb2_own += e;
#pragma unroll
      for (int u = 0; u < J; ++u) {
        gw2_own[u] += static_cast<double>(e) * h[u];
        back[u] = e * w2_own[u];
      }
    }
    for (int c = c0 + kWarp; c < k; c += kWarp) {
      float p = a.b2[c];
#pragma unroll
      for (int u = 0; u < J; ++u) p = fmaf(a.w2[c * J + u], h[u], p);
      const float e = p - rr[c];
      sse += static_cast<double>(e) * e;
      atomicAdd(s_gb2 + c, static_cast<double>(e));
#pragma unroll
      for (int u = 0; u < J; ++u) {
        atomicAdd(s_gw2 + c * J + u, static_cast<double>(e) * h[u]);
        back[u] = fmaf(e, a.w2[c * J + u], back[u]);
      }
    }
    if (a.dz == nullptr) continue;
#pragma unroll
    for (int u = 0; u < J; ++u) {
      const float dz = warp_sum(back[u]) * slope<A>(z[u], h[u]);
      gb1[u] += dz;
      if (lane == u) a.dz[row * J + u] = dz;
    }
  }

  // Registers -> block sums -> global sums.
  sse = warp_sum(sse);
  if (lane == 0) {
    atomicAdd(s_sse, sse);
#pragma unroll
    for (int u = 0; u < J; ++u) atomicAdd(s_gb1 + u, gb1[u]);
  }
  if (owns) {
    atomicAdd(s_gb2 + c0, gb2_own);
#pragma unroll
    for (int u = 0; u < J; ++u) atomicAdd(s_gw2 + c0 * J + u, gw2_own[u]);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < nsums; i += blockDim.x) atomicAdd(a.sums + i, block_sums[i]);
}

template <int J>
cudaError_t launch_units(const StagePassArgs& a, cudaStream_t stream) {
  const size_t shared = sizeof(double) * (J + a.k * J + a.k + 1);
  // Enough warps for every SM several times over; each warp then walks many rows, so the
  // registers' sums are flushed rarely.
  const int64_t wanted = (a.n + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const unsigned blocks = static_cast<unsigned>(wanted < 2048 ? (wanted > 0 ? wanted : 1) : 2048);
  const dim3 threads(kWarp * kWarpsPerBlock);
  switch (a.act) {
    case Act::Sigmoid:
      stage_pass<J, Act::Sigmoid><<<blocks, threads, shared, stream>>>(a);
      break;
    case Act::Tanh:
      stage_pass<J, Act::Tanh><<<blocks, threads, shared, stream>>>(a);
      break;
    case Act::Relu:
      stage_pass<J, Act::Relu><<<blocks, threads, shared, stream>>>(a);
      break;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_stage_pass(const StagePassArgs& a, cudaStream_t stream) {
  switch (a.j) {
    case 1:
      return launch_units<1>(a, stream);
    case 2:
      return launch_units<2>(a, stream);
    case 3:
      return launch_units<3>(a, stream);
    case 4:
      return launch_units<4>(a, stream);
    case 5:
      return launch_units<5>(a, stream);
    case 6:
      return launch_units<6>(a, stream);
    case 7:
      return launch_units<7>(a, stream);
    case 8:
      return launch_units<8>(a, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace boosthead::detail::cuda
