#pragma once
/// \file
/// The reductions of a data-parallel fit: each process holds a share of the rows, and every sum
/// over rows (the initial score, the losses, each solver iteration's objective and gradient, the
/// Newton step, the metrics) is added up across the processes in float64. Every process then
/// takes the same decisions and ends with the same head.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace boosthead {

/// What a process has communicated so far.
struct CollectiveStats {
  /// Calls of all_reduce_sum.
  int64_t reductions = 0;
  /// float64 values reduced (8 bytes each, sent and received by every process).
  int64_t values = 0;
  /// Calls of all_gather.
  int64_t gathers = 0;
  /// Seconds spent inside the calls (waiting for the slowest process included).
  double seconds = 0.0;
};

/// The processes of one fit. Implementations: join_process_group() (c10d: Gloo or NCCL) and the
/// Python package's (torch.distributed); tests use threads.
class Collective {
 public:
  virtual ~Collective() = default;
  /// This process's index, 0 .. size() - 1.
  virtual int rank() const = 0;
  /// Number of processes.
  virtual int size() const = 0;

  /// Replaces values[i] by its sum over the processes; every process gets the same result.
  void all_reduce_sum(std::vector<double>& values);
  /// The sum of one number over the processes.
  double sum(double value);
  /// Every process's `bytes`, in rank order.
  std::vector<std::string> all_gather(const std::string& bytes);
  /// What this process has communicated so far.
  const CollectiveStats& stats() const { return stats_; }

 protected:
  virtual void all_reduce_sum(double* values, size_t count) = 0;
  virtual std::vector<std::string> gather_bytes(const std::string& bytes) = 0;

 private:
  CollectiveStats stats_;
};

namespace detail {

// The sum of the processes' values in place; nothing without a collective.
void sum_across(Collective* collective, std::vector<double>& values);
// Rows before this process's share: the sum of the lower ranks' counts (0 without a collective).
int64_t row_offset(Collective* collective, int64_t rows);

}  // namespace detail
}  // namespace boosthead
