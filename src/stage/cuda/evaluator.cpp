// The CUDA evaluator: the ATen evaluator with its pass over the rows replaced by the fused kernel
// (objective_kernel.cu) where that applies. Everything stays on the GPU; the solver's loop runs
// there too (AtenEvaluator::minimize).

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include "../aten_evaluator.h"
#include "objective_kernel.h"

namespace boosthead::detail {
namespace {

static_assert(static_cast<int>(Activation::Sigmoid) == static_cast<int>(cuda::Act::Sigmoid) &&
              static_cast<int>(Activation::Tanh) == static_cast<int>(cuda::Act::Tanh) &&
              static_cast<int>(Activation::Relu) == static_cast<int>(cuda::Act::Relu));

// Rows per float32 block of the input layer's gradient dz^T x, whose blocks are added in float64:
// the CPU kernel's 8 groups of 64 rows.
constexpr int64_t kChunkRows = 512;

class CudaEvaluator final : public AtenEvaluator {
 public:
  CudaEvaluator(const torch::Tensor& x, const torch::Tensor& r, int64_t units,
                const StageProblem& problem)
      : AtenEvaluator(x, r, units, problem, /*project_output=*/false),
        sums_(torch::empty({j_ + k_ * j_ + k_ + 1}, x.options().dtype(torch::kDouble))),
        dz_(torch::empty({n_, j_}, x.options())) {}

 protected:
  torch::Tensor data_term(torch::Tensor* grad_sums) override {
    const c10::cuda::CUDAGuard guard(x_.device());
    sums_.zero_();
    cuda::StagePassArgs a{};
    a.x = x_.data_ptr<float>();
    a.r = r_.data_ptr<float>();
    a.w1 = w1_.data_ptr<float>();
    a.b1 = b1_.data_ptr<float>();
    a.w2 = w2_.data_ptr<float>();
    a.b2 = b2_.data_ptr<float>();
    a.n = n_;
    a.d = d_;
    a.j = static_cast<int>(j_);
    a.k = static_cast<int>(k_);
    a.act = static_cast<cuda::Act>(act_);
    a.sums = sums_.data_ptr<double>();
    a.dz = grad_sums != nullptr ? dz_.data_ptr<float>() : nullptr;
    C10_CUDA_CHECK(cuda::launch_stage_pass(a, at::cuda::getCurrentCUDAStream()));
    auto sse = sums_.select(0, sums_.numel() - 1);
    if (grad_sums == nullptr) return sse;
    *grad_sums = torch::cat({input_gradient().view(-1), sums_.narrow(0, 0, sums_.numel() - 1)});
    return sse;
  }

 private:
  // dz^T x in float32 over blocks of kChunkRows rows (one batched product), added in float64.
  torch::Tensor input_gradient() const {
    const int64_t blocks = n_ / kChunkRows, whole = blocks * kChunkRows;
    auto g = torch::zeros({j_, d_}, sums_.options());
    if (blocks > 0) {
      auto dz = dz_.narrow(0, 0, whole).view({blocks, kChunkRows, j_}).transpose(1, 2);
      auto x = x_.narrow(0, 0, whole).view({blocks, kChunkRows, d_});
      g.add_(torch::bmm(dz, x).sum(0, false, torch::kDouble));
    }
    if (whole < n_) {
      const int64_t rest = n_ - whole;
      g.add_(torch::mm(dz_.narrow(0, whole, rest).t(), x_.narrow(0, whole, rest)));
    }
    return g;
  }

  torch::Tensor sums_, dz_;
};

}  // namespace

std::unique_ptr<StageEvaluator> make_cuda_evaluator(const torch::Tensor& x, const torch::Tensor& r,
                                                    int64_t units, const StageProblem& problem,
                                                    bool project_output) {
  const int64_t k = r.size(1);
  // The block's float64 sums live in shared memory: at most the default 48 KiB.
  const bool fits = static_cast<int64_t>(sizeof(double)) * (units + k * units + k + 1) <= 48 * 1024;
  if (!x.is_cuda() || project_output || x.scalar_type() != torch::kFloat ||
      r.scalar_type() != torch::kFloat || units < 1 || units > cuda::kMaxFusedUnits || !fits) {
    return nullptr;
  }
  return std::make_unique<CudaEvaluator>(x, r, units, problem);
}

bool cuda_kernels_built() { return true; }

}  // namespace boosthead::detail
