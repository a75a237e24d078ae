#include <ATen/Parallel.h>
#include <boosthead/activation.h>
#include <boosthead/baselines.h>
#include <boosthead/data/encoder.h>
#include <boosthead/data/standardizer.h>
#include <boosthead/stage_solver.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common.h"

namespace boosthead::cli {
namespace {

struct BenchArgs {
  std::string data;
  std::string target;
  std::string task;
  std::string methods = "gbnn,adam,sgd,lbfgs";
  std::string report;
  std::string markdown;
  std::string dtype = "float32";
  int64_t folds = 3;
  int64_t repeats = 1;
  uint64_t seed = 0;
  int threads = 0;
  int64_t stage_patience = 0;
  bool drop_missing = false;
  bool quiet = false;
  TrainerOptions trainer;
  BaselineOptions baseline;
};

// One curve of training (and validation) loss against wall time.
struct Curve {
  std::vector<double> seconds, train_loss, valid_loss;
};

struct Run {
  std::string method;
  int64_t repeat = 0, fold = 0;
  double metric = 0.0, fit_seconds = 0.0;
  int64_t size = 0;  // stages (gbnn) or epochs (baselines) trained
  int64_t kept = 0;  // stages or epoch the returned model holds
  std::string stop_reason;
  Curve curve;
  std::vector<double> anytime;  // gbnn: test metric after 1..T stages
};

std::vector<std::string> parse_methods(const std::string& list) {
  std::vector<std::string> known = baseline_methods();
  known.insert(known.begin(), "gbnn");
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    if (std::find(known.begin(), known.end(), item) == known.end()) {
      throw std::invalid_argument(fmt::format("--methods: unknown method '{}'; known methods: {}",
                                              item, fmt::join(known, ", ")));
    }
    if (std::find(out.begin(), out.end(), item) != out.end()) {
      throw std::invalid_argument(fmt::format("--methods: '{}' is listed twice", item));
    }
    out.push_back(item);
  }
  if (out.empty()) throw std::invalid_argument(fmt::format("--methods '{}' names no method", list));
  return out;
}

// Fold of every row: stratified by label when `labels` is given (each class dealt round-robin
// over the folds, continuing where the previous class stopped, so fold sizes stay balanced).
std::vector<int64_t> assign_folds(int64_t n, int64_t k, uint64_t seed,
                                  const std::vector<int64_t>* labels) {
  std::mt19937_64 rng(seed ^ 0x5851f42d4c957f2dULL);
  std::map<int64_t, std::vector<int64_t>> groups;
  for (int64_t i = 0; i < n; ++i) groups[labels ? (*labels)[i] : 0].push_back(i);
  std::vector<int64_t> fold(n);
  int64_t next = 0;
  for (auto& [label, rows] : groups) {
    for (size_t i = rows.size(); i > 1; --i) std::swap(rows[i - 1], rows[rng() % i]);
    for (auto r : rows) fold[r] = next++ % k;
  }
  return fold;
}

// Encodes test rows with the training fold's encoding. A level the training fold never saw
// gets all-zero indicator columns (it is counted in `unseen`) instead of being an error.
torch::Tensor encode_test(const data::FeatureEncoder& encoder, const data::Table& table,
                          int64_t& unseen) {
  auto columns = encoder.columns();
  std::vector<size_t> known_levels(columns.size());
  bool extended = false;
  for (size_t c = 0; c < columns.size(); ++c) {
    auto& col = columns[c];
    known_levels[c] = col.levels.size();
    if (!col.categorical) continue;
    std::set<std::string> levels(col.levels.begin(), col.levels.end());
    for (const auto& cell : table.column(col.name)) {
      if (data::is_missing(cell) || levels.count(cell)) continue;
      ++unseen;
      levels.insert(cell);
      col.levels.push_back(cell);
      extended = true;
    }
  }
  if (!extended) return encoder.transform(table);
  const auto wide = data::FeatureEncoder(columns).transform(table);
  std::vector<int64_t> keep;
  int64_t pos = 0;
  for (size_t c = 0; c < columns.size(); ++c) {
    if (!columns[c].categorical) {
      keep.push_back(pos++);
      continue;
    }
    for (size_t l = 0; l < known_levels[c]; ++l) keep.push_back(pos + static_cast<int64_t>(l));
    pos += static_cast<int64_t>(columns[c].levels.size());
  }
  return wide.index_select(1, torch::tensor(keep, torch::kLong));
}

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

// Sample standard deviation (n - 1); 0 for fewer than two values.
double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean_of(v);
  double s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

nlohmann::ordered_json gbnn_options_json(const TrainerOptions& o) {
  return {{"stages", o.stages()},
          {"units_per_stage", o.units_per_stage()},
          {"shrinkage", o.shrinkage()},
          {"subsample", o.subsample()},
          {"max_iter", o.max_iter()},
          {"activation", o.activation()},
          {"solver", o.solver()},
          {"l2", o.l2()},
          {"valid_fraction", o.valid_fraction()},
          {"patience", o.patience()}};
}

nlohmann::ordered_json baseline_options_json(const BaselineOptions& o) {
  return {{"hidden_units", o.hidden_units()},
          {"activation", o.activation()},
          {"epochs", o.epochs()},
          {"batch_size", o.batch_size()},
          {"lr", o.lr()},
          {"lr_default", {{"adam", 1e-3}, {"sgd", 1e-2}, {"lbfgs", 1.0}}},
          {"momentum", o.momentum()},
          {"weight_decay", o.l2()},
          {"lbfgs_iterations", o.lbfgs_iterations()},
          {"valid_fraction", o.valid_fraction()},
          {"patience", o.patience()}};
}

void run_bench(const BenchArgs& a) {
  if (!a.report.empty()) check_output_path(a.report, "--report");
  if (!a.markdown.empty()) check_output_path(a.markdown, "--markdown");
  if (a.threads < 0)
    throw std::invalid_argument(
        fmt::format("--threads must be 0 (all cores) or more, got {}", a.threads));
  if (a.folds < 2)
    throw std::invalid_argument(fmt::format("--folds must be at least 2, got {}", a.folds));
  if (a.repeats < 1)
    throw std::invalid_argument(fmt::format("--repeats must be at least 1, got {}", a.repeats));
  if (a.stage_patience < 0) {
    throw std::invalid_argument(
        fmt::format("--stage-patience must be 0 or more, got {}", a.stage_patience));
  }
  const auto methods = parse_methods(a.methods);
  at::set_num_threads(a.threads > 0
                          ? a.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const torch::ScalarType dtype = a.dtype == "float64" ? torch::kDouble : torch::kFloat;

  data::Table table = read_table(a.data);
  (void)table.column_index(a.target);
  std::vector<std::string> features;
  for (const auto& c : table.columns) {
    if (c != a.target) features.push_back(c);
  }
  if (features.empty()) {
    throw std::invalid_argument(
        fmt::format("{}: no feature columns besides the target '{}'", a.data, a.target));
  }
  const auto all_columns = table.columns;
  handle_missing(table, all_columns, a.drop_missing, a.quiet);
  const int64_t n = table.num_rows();
  if (n < a.folds) {
    throw std::invalid_argument(
        fmt::format("{}: {} rows are too few for --folds {}", a.data, n, a.folds));
  }

  const auto target = data::fit_target(table, a.target, a.task);
  const auto y_all = data::encode_target(table, a.target, target);
  const std::string task = target.classification ? "classification" : "regression";
  const std::string metric = metric_name(task);
  const bool higher_is_better = target.classification;
  std::vector<int64_t> labels;
  if (target.classification) {
    auto l = y_all.contiguous();
    labels.assign(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + n);
  }

  TrainerOptions gbnn = a.trainer;
  gbnn.dtype(dtype);
  if (a.stage_patience > 0)
    gbnn.valid_fraction(a.baseline.valid_fraction()).patience(a.stage_patience);
  BaselineOptions base = a.baseline;
  base.hidden_units(gbnn.stages() * gbnn.units_per_stage())
      .activation(gbnn.activation())
      .dtype(dtype);
  if (target.classification) {
    gbnn.num_classes(static_cast<int64_t>(target.classes.size()));
    base.num_classes(static_cast<int64_t>(target.classes.size()));
  }
  // Checks the options before the first fold rather than after the first fits.
  for (const auto& m : methods) {
    if (m != "gbnn") BaselineTrainer(BaselineOptions(base).method(m));
  }
  (void)activation_from_name(gbnn.activation());
  (void)make_stage_solver(gbnn.solver());

  const std::string name = std::filesystem::path(a.data).stem().string();
  if (!a.quiet) {
    std::cerr << fmt::format("bench {}: {} rows, {} {}, {} folds x {} repeats, methods {}\n", name,
                             n, task, metric, a.folds, a.repeats, fmt::join(methods, ","));
  }

  std::vector<Run> runs;
  int64_t unseen_levels = 0, encoded_features = 0;
  for (int64_t rep = 0; rep < a.repeats; ++rep) {
    const uint64_t seed = a.seed + static_cast<uint64_t>(rep);
    const auto fold_of = assign_folds(n, a.folds, seed, target.classification ? &labels : nullptr);
    for (int64_t fold = 0; fold < a.folds; ++fold) {
      std::vector<int64_t> train_rows, test_rows;
      for (int64_t i = 0; i < n; ++i) (fold_of[i] == fold ? test_rows : train_rows).push_back(i);
      const auto train_table = table.select_rows(train_rows);
      const auto test_table = table.select_rows(test_rows);
      const auto encoder = data::FeatureEncoder::fit(train_table, features);
      const auto x_train_raw = encoder.transform(train_table);
      const auto x_test_raw = encode_test(encoder, test_table, unseen_levels);
      encoded_features = std::max(encoded_features, x_train_raw.size(1));
      const auto standardizer = data::Standardizer::fit(x_train_raw);
      const auto x_train = standardizer.transform(x_train_raw, dtype);
      const auto x_test = standardizer.transform(x_test_raw, dtype);
      const auto y_train = y_all.index_select(0, torch::tensor(train_rows, torch::kLong));
      const auto y_test = y_all.index_select(0, torch::tensor(test_rows, torch::kLong));

      for (const auto& method : methods) {
        Run run;
        run.method = method;
        run.repeat = rep;
        run.fold = fold;
        BoostedHead head{nullptr};
        if (method == "gbnn") {
          FitResult fit = Trainer(TrainerOptions(gbnn).seed(seed)).fit(x_train, y_train);
          head = fit.head;
          run.fit_seconds = fit.fit_seconds;
          run.size = fit.stages_trained;
          run.kept = head->num_stages();
          run.stop_reason = fit.stop_reason;
          for (const auto& r : fit.history) {
            run.curve.seconds.push_back(r.seconds);
            run.curve.train_loss.push_back(r.train_loss);
            if (r.valid_loss) run.curve.valid_loss.push_back(*r.valid_loss);
          }
          torch::NoGradGuard no_grad;
          for (int64_t t = 1; t <= head->num_stages(); ++t)
            run.anytime.push_back(score_metric(head->loss(), head->forward(x_test, t), y_test));
        } else {
          BaselineResult fit = BaselineTrainer(BaselineOptions(base).method(method).seed(seed))
                                   .fit(x_train, y_train);
          head = fit.head;
          run.fit_seconds = fit.fit_seconds;
          run.size = fit.epochs_trained;
          run.kept = fit.best_epoch;
          run.stop_reason = fit.stop_reason;
          for (const auto& r : fit.history) {
            run.curve.seconds.push_back(r.seconds);
            run.curve.train_loss.push_back(r.train_loss);
            if (r.valid_loss) run.curve.valid_loss.push_back(*r.valid_loss);
          }
        }
        {
          torch::NoGradGuard no_grad;
          run.metric = score_metric(head->loss(), head->forward(x_test), y_test);
        }
        if (!a.quiet) {
          std::cerr << fmt::format(
              "  repeat {} fold {}/{} {:<6} {} {:.4f}  {:.2f} s  ({} {}, {})\n", rep + 1, fold + 1,
              a.folds, method, metric, run.metric, run.fit_seconds, run.size,
              method == "gbnn" ? "stages" : "epochs", run.stop_reason);
        }
        runs.push_back(std::move(run));
      }
    }
  }

  // Summaries per method, in the order given.
  nlohmann::ordered_json methods_json = nlohmann::ordered_json::array();
  struct Row {
    std::string method;
    double mean, std, seconds, size;
  };
  std::vector<Row> rows;
  for (const auto& m : methods) {
    std::vector<double> values, seconds, sizes;
    for (const auto& r : runs) {
      if (r.method != m) continue;
      values.push_back(r.metric);
      seconds.push_back(r.fit_seconds);
      sizes.push_back(static_cast<double>(r.size));
    }
    rows.push_back({m, mean_of(values), std_of(values), mean_of(seconds), mean_of(sizes)});
    methods_json.push_back({{"method", m},
                            {"metric_mean", rows.back().mean},
                            {"metric_std", rows.back().std},
                            {"metrics", values},
                            {"fit_seconds_mean", rows.back().seconds},
                            {"fit_seconds", seconds},
                            {"trained_mean", rows.back().size},
                            {"trained_unit", m == "gbnn" ? "stages" : "epochs"}});
  }

  // Anytime curve of gbnn: mean and std over the runs that reached each stage count.
  nlohmann::ordered_json anytime = nullptr;
  if (std::find(methods.begin(), methods.end(), "gbnn") != methods.end()) {
    size_t longest = 0;
    for (const auto& r : runs) longest = std::max(longest, r.anytime.size());
    std::vector<int64_t> stages, counts;
    std::vector<double> means, stds;
    for (size_t t = 0; t < longest; ++t) {
      std::vector<double> v;
      for (const auto& r : runs) {
        if (t < r.anytime.size()) v.push_back(r.anytime[t]);
      }
      stages.push_back(static_cast<int64_t>(t) + 1);
      counts.push_back(static_cast<int64_t>(v.size()));
      means.push_back(mean_of(v));
      stds.push_back(std_of(v));
    }
    anytime = {{"stages", stages}, {"mean", means}, {"std", stds}, {"runs", counts}};
  }

  std::cout << fmt::format(
      "{} ({}, {} rows, {} encoded features, {} folds x {} repeats): test {}\n", name, task, n,
      encoded_features, a.folds, a.repeats, metric);
  std::cout << fmt::format("{:<8} {:>9} {:>9} {:>9} {:>10}\n", "method", "mean", "std", "fit s",
                           "trained");
  for (const auto& r : rows) {
    std::cout << fmt::format("{:<8} {:>9.4f} {:>9.4f} {:>9.3f} {:>10.1f}\n", r.method, r.mean,
                             r.std, r.seconds, r.size);
  }
  std::cout.flush();

  if (!a.markdown.empty()) {
    std::string md = fmt::format(
        "**{}** ({}, {} rows, {} encoded features; {}-fold CV x {} repeat{}; test {}, {} is "
        "better)\n\n",
        name, task, n, encoded_features, a.folds, a.repeats, a.repeats == 1 ? "" : "s", metric,
        higher_is_better ? "higher" : "lower");
    md += fmt::format("| method | {} mean | {} std | fit seconds (mean) | trained (mean) |\n",
                      metric, metric);
    md += "|---|---:|---:|---:|---:|\n";
    for (const auto& r : rows) {
      md += fmt::format("| {} | {:.4f} | {:.4f} | {:.3f} | {:.1f} {} |\n", r.method, r.mean, r.std,
                        r.seconds, r.size, r.method == "gbnn" ? "stages" : "epochs");
    }
    write_file_atomic(a.markdown, md);
  }

  if (!a.report.empty()) {
    nlohmann::ordered_json report = {{"name", name},       {"data", a.data},
                                     {"target", a.target}, {"task", task},
                                     {"metric", metric},   {"higher_is_better", higher_is_better}};
    if (target.classification) report["classes"] = target.classes;
    report["rows"] = n;
    report["encoded_features"] = encoded_features;
    report["unseen_test_levels"] = unseen_levels;
    report["folds"] = a.folds;
    report["repeats"] = a.repeats;
    report["seed"] = a.seed;
    report["threads"] = at::get_num_threads();
    report["dtype"] = dtype_name(dtype);
    report["options"] = {{"gbnn", gbnn_options_json(gbnn)},
                         {"baselines", baseline_options_json(base)}};
    report["methods"] = methods_json;
    report["anytime"] = anytime;
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
      runs_json.push_back(std::move(j));
    }
    report["runs"] = runs_json;
    write_json(a.report, report);
  }
}

}  // namespace

Command add_bench_command(CLI::App& parent) {
  auto args = std::make_shared<BenchArgs>();
  auto& t = args->trainer;
  auto& b = args->baseline;
  auto* app = parent.add_subcommand(
      "bench",
      "Cross-validate boosting (gbnn) against the same network trained by adam, sgd and lbfgs");
  app->add_option("--data", args->data, "data (CSV with a header row)")->required();
  app->add_option("--target", args->target, "target column; every other column is a feature")
      ->required();
  app->add_option("--task", args->task,
                  "default: detected (classification for text or quoted targets)")
      ->check(CLI::IsMember({"classification", "regression"}));
  app->add_option("--methods", args->methods, "comma-separated methods: gbnn, adam, sgd, lbfgs")
      ->capture_default_str();
  app->add_option("--folds", args->folds, "cross-validation folds K (stratified for classes)")
      ->capture_default_str();
  app->add_option("--repeats", args->repeats,
                  "repetitions of the K-fold split, repeat r using seed + r")
      ->capture_default_str();
  app->add_option("--seed", args->seed, "seed for the folds, initialisation and sampling")
      ->capture_default_str();
  app->add_option("--report", args->report, "write a JSON report (summaries, curves, runs)");
  app->add_option("--markdown", args->markdown, "write the summary table as markdown");
  app->add_option("--threads", args->threads, "CPU threads (default, or 0: all cores)");
  app->add_flag("--drop-missing", args->drop_missing,
                "drop rows with missing values (else an error)");
  app->add_flag("--quiet", args->quiet, "no per-fold progress on stderr");
  app->add_option("--dtype", args->dtype, "floating type to train in")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  // Boosting.
  app->add_option("--stages", t.stages(), "gbnn: boosting stages T (baselines get H = T * J)")
      ->capture_default_str();
  app->add_option("--units", t.units_per_stage(), "gbnn: hidden units per stage J")
      ->capture_default_str();
  app->add_option("--shrinkage", t.shrinkage(), "gbnn: shrinkage eta")->capture_default_str();
  app->add_option("--subsample", t.subsample(), "gbnn: fraction of rows each stage is fitted on")
      ->capture_default_str();
  app->add_option("--max-iter", t.max_iter(), "gbnn: solver iterations per stage")
      ->capture_default_str();
  app->add_option(
         "--activation", t.activation(),
         fmt::format("hidden activation of every method: {}", fmt::join(activation_names(), ", ")))
      ->capture_default_str();
  app->add_option("--l2", t.l2(), "gbnn: L2 penalty on stage weights")->capture_default_str();
  app->add_option("--solver", t.solver(),
                  fmt::format("gbnn: stage solver: {}", fmt::join(stage_solver_names(), ", ")))
      ->capture_default_str();
  app->add_option("--stage-patience", args->stage_patience,
                  "gbnn: hold out --valid-fraction and stop after this many stages without "
                  "validation improvement (0: train all stages on all training rows)")
      ->capture_default_str();
  // Baselines.
  app->add_option("--epochs", b.epochs(), "baselines: maximum epochs")->capture_default_str();
  app->add_option("--batch-size", b.batch_size(), "adam, sgd: mini-batch size")
      ->capture_default_str();
  app->add_option("--lr", b.lr(), "baselines: learning rate (0: adam 1e-3, sgd 1e-2, lbfgs 1)")
      ->capture_default_str();
  app->add_option("--momentum", b.momentum(), "sgd: momentum")->capture_default_str();
  app->add_option("--weight-decay", b.l2(), "baselines: L2 penalty (weight decay) on weights")
      ->capture_default_str();
  app->add_option("--lbfgs-iterations", b.lbfgs_iterations(),
                  "lbfgs: iterations per epoch (full batch)")
      ->capture_default_str();
  app->add_option("--valid-fraction", b.valid_fraction(),
                  "baselines: fraction of training rows held out for early stopping (0: none)")
      ->capture_default_str();
  app->add_option("--patience", b.patience(),
                  "baselines: epochs without validation improvement before stopping (0: never)")
      ->capture_default_str();
  return {app, [args] { run_bench(*args); }};
}

}  // namespace boosthead::cli
