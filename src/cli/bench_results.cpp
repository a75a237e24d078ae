#include "bench_results.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace boosthead::cli {
namespace {

// The first stage (gbnn) or epoch (baselines) whose test metric reaches `target`, and the fit's
// seconds at its end.
std::optional<std::pair<int64_t, double>> first_reaching(const Run& run, double target,
                                                         bool higher_is_better) {
  const auto& values = run.method == "gbnn" ? run.anytime : run.epoch_metrics;
  for (size_t t = 0; t < values.size() && t < run.curve.seconds.size(); ++t) {
    if (higher_is_better ? values[t] >= target : values[t] <= target)
      return std::make_pair(static_cast<int64_t>(t) + 1, run.curve.seconds[t]);
  }
  return std::nullopt;
}

const char* unit_of(const std::string& method) { return method == "gbnn" ? "stages" : "epochs"; }

// "12.30 s (stage 40)" for gbnn, "28.41 s (epoch 18)" for a baseline.
std::string reach_text(const BenchSummary::Row& r) {
  if (!r.reach) return "not reached";
  return fmt::format("{:.2f} s ({} {})", r.reach->second, r.method == "gbnn" ? "stage" : "epoch",
                     r.reach->first);
}

}  // namespace

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean_of(v);
  double s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

BenchSummary summarise(const std::vector<std::string>& methods, const std::vector<Run>& runs,
                       const BenchInfo& info) {
  BenchSummary out;
  // With one split, gbnn's anytime curve and the baselines' per-epoch test metrics tell when
  // each method first reached the adam head's final test metric (adam itself included).
  const Run* adam = nullptr;
  for (const auto& r : runs) {
    if (r.method == "adam") adam = &r;
  }
  if (info.single_split && adam) out.reference = adam->metric;
  for (const auto& m : methods) {
    BenchSummary::Row row;
    row.method = m;
    std::vector<double> sizes;
    for (const auto& r : runs) {
      if (r.method != m) continue;
      row.metrics.push_back(r.metric);
      row.fit_seconds.push_back(r.fit_seconds);
      sizes.push_back(static_cast<double>(r.size));
      if (out.reference) row.reach = first_reaching(r, *out.reference, info.higher_is_better);
    }
    row.mean = mean_of(row.metrics);
    row.std = std_of(row.metrics);
    row.seconds = mean_of(row.fit_seconds);
    row.size = mean_of(sizes);
    out.rows.push_back(std::move(row));
  }
  return out;
}

nlohmann::ordered_json anytime_json(const std::vector<Run>& runs) {
  size_t longest = 0;
  bool any = false;
  for (const auto& r : runs) {
    if (r.method != "gbnn") continue;
    any = true;
    longest = std::max(longest, r.anytime.size());
  }
  if (!any) return nullptr;
  std::vector<int64_t> stages, counts;
  std::vector<double> means, stds;
  for (size_t t = 0; t < longest; ++t) {
    std::vector<double> v;
    for (const auto& r : runs) {
      if (r.method == "gbnn" && t < r.anytime.size()) v.push_back(r.anytime[t]);
    }
    stages.push_back(static_cast<int64_t>(t) + 1);
    counts.push_back(static_cast<int64_t>(v.size()));
    means.push_back(mean_of(v));
    stds.push_back(std_of(v));
  }
  return {{"stages", stages}, {"mean", means}, {"std", stds}, {"runs", counts}};
}

void print_summary(std::ostream& out, const BenchInfo& info, const BenchSummary& summary) {
  out << info.title << "\n";
  if (info.single_split) {
    out << fmt::format("{:<8} {:>9} {:>9} {:>10}", "method", info.metric, "fit s", "trained");
    if (summary.reference) out << fmt::format("  reaches adam's {}", info.metric);
    out << "\n";
    for (const auto& r : summary.rows) {
      out << fmt::format("{:<8} {:>9.4f} {:>9.2f} {:>10.0f}", r.method, r.mean, r.seconds, r.size);
      if (summary.reference) out << "  " << reach_text(r);
      out << "\n";
    }
  } else {
    out << fmt::format("{:<8} {:>9} {:>9} {:>9} {:>10}\n", "method", "mean", "std", "fit s",
                       "trained");
    for (const auto& r : summary.rows) {
      out << fmt::format("{:<8} {:>9.4f} {:>9.4f} {:>9.3f} {:>10.1f}\n", r.method, r.mean, r.std,
                         r.seconds, r.size);
    }
  }
  out.flush();
}

std::string summary_markdown(const BenchInfo& info, const BenchSummary& summary) {
  std::string md = info.markdown_title + "\n\n";
  const bool reach = summary.reference.has_value();
  if (info.single_split) {
    md += fmt::format("| method | test {} | fit seconds | trained |", info.metric);
    md += reach ? fmt::format(" reaches adam's {} at |\n", info.metric) : "\n";
    md += reach ? "|---|---:|---:|---:|---:|\n" : "|---|---:|---:|---:|\n";
    for (const auto& r : summary.rows) {
      md += fmt::format("| {} | {:.4f} | {:.2f} | {:.0f} {} |", r.method, r.mean, r.seconds, r.size,
                        unit_of(r.method));
      md += reach ? fmt::format(" {} |\n", reach_text(r)) : "\n";
    }
  } else {
    md += fmt::format("| method | {} mean | {} std | fit seconds (mean) | trained (mean) |\n",
                      info.metric, info.metric);
    md += "|---|---:|---:|---:|---:|\n";
    for (const auto& r : summary.rows) {
      md += fmt::format("| {} | {:.4f} | {:.4f} | {:.3f} | {:.1f} {} |\n", r.method, r.mean, r.std,
                        r.seconds, r.size, unit_of(r.method));
    }
  }
  return md;
}

nlohmann::ordered_json report_json(const BenchInfo& info, const BenchSummary& summary,
                                   const std::vector<Run>& runs, nlohmann::ordered_json options) {
  nlohmann::ordered_json report = info.report;
  report["options"] = std::move(options);
  if (info.single_split) {
    report["reference"] = summary.reference ? nlohmann::ordered_json{{"method", "adam"},
                                                                     {"metric", *summary.reference}}
                                            : nullptr;
  }
  auto methods = nlohmann::ordered_json::array();
  for (const auto& r : summary.rows) {
    methods.push_back({{"method", r.method},
                       {"metric_mean", r.mean},
                       {"metric_std", r.std},
                       {"metrics", r.metrics},
                       {"fit_seconds_mean", r.seconds},
                       {"fit_seconds", r.fit_seconds},
                       {"trained_mean", r.size},
                       {"trained_unit", unit_of(r.method)}});
    if (summary.reference) {
      auto& m = methods.back();
      m[r.method == "gbnn" ? "stages_to_reference" : "epochs_to_reference"] =
          r.reach ? nlohmann::ordered_json(r.reach->first) : nullptr;
      m["seconds_to_reference"] = r.reach ? nlohmann::ordered_json(r.reach->second) : nullptr;
    }
  }
  report["methods"] = methods;
  report["anytime"] = anytime_json(runs);
  auto runs_json = nlohmann::ordered_json::array();
  for (const auto& r : runs) {
    nlohmann::ordered_json j = {{"method", r.method},
                                {"repeat", r.repeat},
                                {"fold", r.fold},
                                {"metric", r.metric},
                                {"fit_seconds", r.fit_seconds},
                                {"trained", r.size},
                                {"kept", r.kept},
                                {"stop_reason", r.stop_reason},
                                {"curve",
                                 {{"seconds", r.curve.seconds},
                                  {"train_loss", r.curve.train_loss},
                                  {"valid_loss", r.curve.valid_loss}}}};
    if (!r.anytime.empty()) j["anytime"] = r.anytime;
    if (!r.epoch_metrics.empty()) j["epoch_metrics"] = r.epoch_metrics;
    runs_json.push_back(std::move(j));
  }
  report["runs"] = runs_json;
  return report;
}

}  // namespace boosthead::cli
