#pragma once
/// \file
/// What `boosthead bench` does with its runs: summaries per method, gbnn's anytime curve, the
/// table on stdout, the markdown table and the JSON report, each from the same summary.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace boosthead::cli {

/// One curve of training (and validation) loss against wall time.
struct Curve {
  std::vector<double> seconds, train_loss, valid_loss;

  /// From a trainer's history (StageRecord or EpochRecord: seconds, train_loss, valid_loss).
  template <typename Record>
  void append(const std::vector<Record>& history) {
    for (const auto& r : history) {
      seconds.push_back(r.seconds);
      train_loss.push_back(r.train_loss);
      if (r.valid_loss) valid_loss.push_back(*r.valid_loss);
    }
  }
};

/// One method's fit on one fold.
struct Run {
  std::string method;
  int64_t repeat = 0, fold = 0;
  double metric = 0.0, fit_seconds = 0.0;
  int64_t size = 0;  ///< stages (gbnn) or epochs (baselines) trained
  int64_t kept = 0;  ///< stages or epoch the returned model holds
  std::string stop_reason;
  Curve curve;
  std::vector<double> anytime;  ///< gbnn: test metric after 1..T stages
  /// Baselines in image mode: test metric after each epoch (its time not counted in the fit's).
  std::vector<double> epoch_metrics;
};

/// What the output says about the data and the protocol, besides the runs.
struct BenchInfo {
  std::string name, task, metric;
  bool higher_is_better = true;
  /// The first line of the table on stdout, and the paragraph above the markdown table.
  std::string title, markdown_title;
  /// Report fields that come before the shared ones (seed, threads, dtype, options, ...).
  nlohmann::ordered_json report;
  /// One train/test split (image mode): the table shows each method's single run.
  bool single_split = false;
};

/// Mean; 0 for no values.
double mean_of(const std::vector<double>& v);
/// Sample standard deviation (n - 1); 0 for fewer than two values.
double std_of(const std::vector<double>& v);

/// Per method, in the order given: the mean and spread of its runs; with one split, when it
/// first reached the adam head's final test metric.
struct BenchSummary {
  struct Row {
    std::string method;
    double mean = 0.0, std = 0.0, seconds = 0.0, size = 0.0;
    std::vector<double> metrics, fit_seconds;
    /// (stage or epoch, seconds) at which the run reached adam's metric; single split only.
    std::optional<std::pair<int64_t, double>> reach;
  };
  std::vector<Row> rows;
  /// The adam run's final metric, when there is one split and an adam run to compare with.
  std::optional<double> reference;
};

BenchSummary summarise(const std::vector<std::string>& methods, const std::vector<Run>& runs,
                       const BenchInfo& info);

/// gbnn's test metric after each stage count: mean, std and run count over the runs that
/// reached it; null without gbnn runs.
nlohmann::ordered_json anytime_json(const std::vector<Run>& runs);

/// The table printed on stdout.
void print_summary(std::ostream& out, const BenchInfo& info, const BenchSummary& summary);

/// The markdown table (--markdown).
std::string summary_markdown(const BenchInfo& info, const BenchSummary& summary);

/// The JSON report (--report): info.report, then `options`, `methods`, `anytime` and `runs`.
nlohmann::ordered_json report_json(const BenchInfo& info, const BenchSummary& summary,
                                   const std::vector<Run>& runs, nlohmann::ordered_json options);

}  // namespace boosthead::cli
