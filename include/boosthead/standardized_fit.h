#pragma once
/// \file
/// Fitting on encoded tabular features the way the command line does: the validation split
/// first, standardisation learnt from the training rows alone, then the boosting trainer. The
/// CLI and the Python estimators both fit through here, so the same data and seed give the same
/// model from either.

#include <boosthead/data/standardizer.h>
#include <boosthead/trainer.h>
#include <torch/types.h>

namespace boosthead {

/// The outcome of fit_standardized.
struct StandardizedFit {
  /// The trainer's result.
  FitResult fit;
  /// The standardisation the head expects in front of it (store it with the model).
  data::Standardizer standardizer;
  /// Rows trained on and rows held out for validation.
  int64_t train_rows = 0;
  int64_t valid_rows = 0;
};

/// Fits `trainer` on encoded, unstandardised features `x` (N x D, any floating dtype and device)
/// and targets `y` (int64 labels or floating values). With the trainer's valid_fraction > 0 the
/// rows are split by split_indices (stratified for integer targets) before the statistics are
/// learnt. The features reach the trainer in its dtype, float32 when it has none. A given
/// `standardizer` (a warm start's) is used instead of learning one.
StandardizedFit fit_standardized(Trainer& trainer, const torch::Tensor& x, const torch::Tensor& y,
                                 const data::Standardizer* standardizer = nullptr);

/// The same with an explicit validation set, standardised with the training rows' statistics.
StandardizedFit fit_standardized(Trainer& trainer, const torch::Tensor& x, const torch::Tensor& y,
                                 const torch::Tensor& x_valid, const torch::Tensor& y_valid,
                                 const data::Standardizer* standardizer = nullptr);

}  // namespace boosthead
