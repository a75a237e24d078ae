// Built instead of the CUDA evaluator when the kernels are not (BOOSTHEAD_CUDA off, or no nvcc
// or CUDA torch): CUDA tensors then train through the ATen evaluator.

#include "../evaluator.h"

namespace boosthead::detail {

std::unique_ptr<StageEvaluator> make_cuda_evaluator(const torch::Tensor&, const torch::Tensor&,
                                                    int64_t, const StageProblem&, bool) {
  return nullptr;
}

bool cuda_kernels_built() { return false; }

}  // namespace boosthead::detail
