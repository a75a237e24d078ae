#pragma once
// Internal: what the boosting trainer needs to train on a share of the rows. Every sum over rows
// goes through RowShare, which adds it up across the processes of a data-parallel fit (and
// passes it through on one process), so the trainer's steps read the same in both cases.

#include <boosthead/collective.h>
#include <boosthead/data/standardizer.h>
#include <torch/types.h>

#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace boosthead::detail {

class RowShare {
 public:
  // This process's `rows` of the data; null collective: all of them.
  RowShare(Collective* collective, int64_t rows);

  Collective* collective() const { return collective_; }
  bool shared() const { return collective_ != nullptr; }
  int64_t rows() const { return rows_; }
  // Rows of all processes, and the global index of this process's first row (processes hold
  // consecutive ranges in rank order).
  int64_t total_rows() const { return total_; }
  int64_t first_row() const { return first_; }

  // Sums over all processes, in place / of one or two numbers.
  void sum(std::vector<double>& values) const;
  double sum(double value) const;
  std::pair<double, double> sum(std::pair<double, double> values) const;
  // The mean over all rows of a per-row quantity whose mean over this process's rows is given.
  double mean(double local_mean) const;
  // Column means (K) of y (rows x K) over all rows, float64 on y's device.
  torch::Tensor column_means(const torch::Tensor& y) const;
  // Whether `flag` is set on any process.
  bool any(bool flag) const;

 private:
  Collective* collective_;
  int64_t rows_, total_ = 0, first_ = 0;
};

// splitmix64's finaliser: a 64-bit hash.
uint64_t mix64(uint64_t z);

// Standardizer::fit over the rows of every process holding a share of them (its own rows without
// a collective).
data::Standardizer fit_standardizer(const torch::Tensor& x, Collective* collective);

// The rows of a stage's subsample among this process's share: global row i is in it when a
// counter-based uniform draw from (seed, stage, i) falls below `fraction`, so the subsample does
// not depend on how rows are split among processes.
void stage_subsample(uint64_t seed, int64_t stage, int64_t first_row, int64_t rows, double fraction,
                     std::vector<int64_t>& out);

// Runs `step` on every process; if it throws on any of them, every process throws
// std::invalid_argument with the first failing process's message (so that none is left waiting
// in a collective for one that gave up).
template <typename F>
auto agreed(Collective* collective, F&& step) -> decltype(step());

// Implementation of agreed(): throws on every process if `error` is set on any.
void raise_if_any(Collective* collective, const std::exception_ptr& error);

template <typename F>
auto agreed(Collective* collective, F&& step) -> decltype(step()) {
  if (collective == nullptr) return step();
  std::exception_ptr error;
  decltype(step()) out{};
  try {
    out = step();
  } catch (...) {
    error = std::current_exception();
  }
  raise_if_any(collective, error);
  return out;
}

}  // namespace boosthead::detail
