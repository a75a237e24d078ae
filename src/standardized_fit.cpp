#include <boosthead/standardized_fit.h>

#include <stdexcept>

#include "data_parallel.h"

namespace boosthead {
namespace {

StandardizedFit fit_split(Trainer& trainer, const torch::Tensor& x, const torch::Tensor& y,
                          const torch::Tensor& x_valid, const torch::Tensor& y_valid,
                          const data::Standardizer* given) {
  const bool unusable = !x.defined() || x.dim() != 2 || x.size(0) == 0;
  Collective* comm = trainer.options().collective().get();
  if (comm != nullptr ? comm->sum(unusable ? 1.0 : 0.0) > 0.0 : unusable) {
    // The trainer words these checks; the statistics below need a matrix with rows first.
    return {trainer.fit(x, y), {}, 0, 0};
  }
  const auto dtype = trainer.options().dtype().value_or(torch::kFloat);
  StandardizedFit out;
  // A data-parallel fit standardises with the statistics of every process's rows.
  out.standardizer =
      given ? *given : detail::fit_standardizer(x, trainer.options().collective().get());
  out.train_rows = x.size(0);
  if (x_valid.defined()) {
    out.valid_rows = x_valid.size(0);
    out.fit = trainer.fit(out.standardizer.transform(x, dtype), y,
                          out.standardizer.transform(x_valid, dtype), y_valid);
  } else {
    out.fit = trainer.fit(out.standardizer.transform(x, dtype), y);
  }
  return out;
}

}  // namespace

StandardizedFit fit_standardized(Trainer& trainer, const torch::Tensor& x, const torch::Tensor& y,
                                 const data::Standardizer* standardizer) {
  const double fraction = trainer.options().valid_fraction();
  if (fraction <= 0.0 || !x.defined() || !y.defined() || x.dim() != 2 || y.dim() < 1 ||
      x.size(0) != y.size(0)) {
    return fit_split(trainer, x, y, {}, {}, standardizer);
  }
  // The trainer's own split, taken here so that the statistics come from training rows only.
  const auto [train, valid] =
      split_indices(x.size(0), fraction, trainer.options().seed(),
                    y.is_floating_point() ? torch::Tensor() : y.to(torch::kCPU, torch::kLong));
  auto rows = [](const torch::Tensor& t, const torch::Tensor& idx) {
    return t.index_select(0, idx.to(t.device()));
  };
  // Given a validation set, the trainer does not split again.
  return fit_split(trainer, rows(x, train), rows(y, train), rows(x, valid), rows(y, valid),
                   standardizer);
}

StandardizedFit fit_standardized(Trainer& trainer, const torch::Tensor& x, const torch::Tensor& y,
                                 const torch::Tensor& x_valid, const torch::Tensor& y_valid,
                                 const data::Standardizer* standardizer) {
  return fit_split(trainer, x, y, x_valid, y_valid, standardizer);
}

}  // namespace boosthead
