#include <boosthead/data/standardizer.h>

namespace boosthead::data {

Standardizer Standardizer::fit(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2, "expected a 2-D matrix to standardise, got ", x.dim(), "-D");
  TORCH_CHECK(x.size(0) > 0, "cannot learn standardisation from zero rows");
  auto x64 = x.to(torch::kCPU, torch::kDouble);
  Standardizer s;
  s.mean = x64.mean(0);
  auto sd = (x64 - s.mean).pow(2).mean(0).sqrt();
  // Constant columns keep scale 1: they map to 0 instead of NaN.
  s.scale = torch::where(sd > 1e-12 * (1 + s.mean.abs()), sd, torch::ones_like(sd));
  return s;
}

torch::Tensor Standardizer::transform(const torch::Tensor& x, torch::ScalarType dtype) const {
  TORCH_CHECK(mean.defined(), "standardiser has not been fitted");
  TORCH_CHECK(x.dim() == 2 && x.size(1) == mean.numel(), "expected ", mean.numel(),
              " columns to standardise, got shape ", x.sizes());
  auto m = mean.to(x.device()), s = scale.to(x.device());
  return ((x.to(torch::kDouble) - m) / s).to(dtype);
}

}  // namespace boosthead::data
