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
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include "bench_results.h"
#include "common.h"
#include "images.h"
#include "trainer_flags.h"

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
  std::string device = "cpu";
  int64_t folds = 3;
  int64_t repeats = 1;
  uint64_t seed = 0;
  int threads = 0;
  bool drop_missing = false;
  bool quiet = false;
  TrainerFlags trainer;
  BaselineOptions baseline;
  // Image mode: features of a frozen TorchScript backbone on IDX images, one train/test split.
  std::string backbone;
  std::string feature_module;
  std::string images, labels, test_images, test_labels;
  std::string feature_cache, test_feature_cache;
  int64_t backbone_batch_size = 256;
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

nlohmann::ordered_json baseline_options_json(const BaselineOptions& o) {
  return {{"hidden_units", o.hidden_units()},
          {"activation", o.activation()},
          {"epochs", o.epochs()},
          {"batch_size", o.batch_size()},
          {"lr", o.lr()},
          {"lr_default", {{"adam", 1e-3}, {"sgd", 0.1}, {"lbfgs", 1.0}}},
          {"momentum", o.momentum()},
          {"nesterov", o.momentum() > 0.0},
          {"lr_patience", o.lr_patience()},
          {"lr_patience_default", {{"adam", 0}, {"sgd", 3}, {"lbfgs", 0}}},
          {"standardize_targets", o.standardize_targets()},
          {"weight_decay", o.l2()},
          {"lbfgs_iterations", o.lbfgs_iterations()},
          {"valid_fraction", o.valid_fraction()},
          {"patience", o.patience()}};
}

// Checks the options every mode shares, sets the thread count and returns the methods.
std::vector<std::string> check_common(const BenchArgs& a) {
  if (!a.report.empty()) check_output_path(a.report, "--report");
  if (!a.markdown.empty()) check_output_path(a.markdown, "--markdown");
  if (a.threads < 0)
    throw std::invalid_argument(
        fmt::format("--threads must be 0 (all cores) or more, got {}", a.threads));
  auto methods = parse_methods(a.methods);
  set_threads(a.threads);
  return methods;
}

// The options of every method: the baselines get gbnn's activation, validation split, patience
// and target standardisation, so that every method stops by the same rule.
struct MethodOptions {
  TrainerOptions gbnn;
  BaselineOptions base;
};

MethodOptions method_options(const BenchArgs& a, const std::vector<std::string>& methods,
                             torch::ScalarType dtype, int64_t num_classes) {
  MethodOptions o{a.trainer.resolve(), a.baseline};
  o.gbnn.dtype(dtype).device(parse_device(a.device));
  try {
    validate_options(o.gbnn);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  o.base.device(o.gbnn.device())
      .activation(o.gbnn.activation())
      .valid_fraction(o.gbnn.valid_fraction())
      .patience(o.gbnn.patience())
      .standardize_targets(o.gbnn.standardize_targets())
      .dtype(dtype);
  if (num_classes > 0) {
    o.gbnn.num_classes(num_classes);
    o.base.num_classes(num_classes);
  }
  // Checks the options before the first fit rather than after the first fits.
  for (const auto& m : methods) {
    if (m != "gbnn") BaselineTrainer(BaselineOptions(o.base).method(m));
  }
  (void)activation_from_name(o.gbnn.activation());
  (void)make_stage_solver(o.gbnn.solver());
  return o;
}

// Fits one method on standardised training features and scores it on the test features. With
// `epoch_metrics`, a baseline is also scored on the test features after every epoch, outside
// its fit's time.
Run run_method(const std::string& method, const MethodOptions& o, uint64_t seed,
               const torch::Tensor& x_train, const torch::Tensor& y_train,
               const torch::Tensor& x_test_in, const torch::Tensor& y_test_in,
               bool epoch_metrics = false) {
  // Scored where the methods train (--device).
  const torch::Device device = o.gbnn.device().value_or(x_train.device());
  const auto x_test = x_test_in.to(device), y_test = y_test_in.to(device);
  Run run;
  run.method = method;
  BoostedHead head{nullptr};
  if (method == "gbnn") {
    FitResult fit = Trainer(TrainerOptions(o.gbnn).seed(seed)).fit(x_train, y_train);
    head = fit.head;
    run.fit_seconds = fit.fit_seconds;
    run.size = fit.stages_trained;
    run.kept = head->num_stages();
    run.stop_reason = fit.stop_reason;
    run.curve.append(fit.history);
    torch::NoGradGuard no_grad;
    for (int64_t t = 1; t <= head->num_stages(); ++t)
      run.anytime.push_back(score_metric(head->loss(), head->forward(x_test, t), y_test));
  } else {
    BaselineTrainer trainer(BaselineOptions(o.base).method(method).seed(seed));
    if (epoch_metrics) {
      trainer.add_callback([&](const EpochRecord&, const BoostedHeadImpl& epoch_head) {
        run.epoch_metrics.push_back(
            score_metric(epoch_head.loss(), epoch_head.forward(x_test), y_test));
        return true;
      });
    }
    BaselineResult fit = trainer.fit(x_train, y_train);
    head = fit.head;
    run.fit_seconds = fit.fit_seconds;
    run.size = fit.epochs_trained;
    run.kept = fit.best_epoch;
    run.stop_reason = fit.stop_reason;
    run.curve.append(fit.history);
  }
  torch::NoGradGuard no_grad;
  run.metric = score_metric(head->loss(), head->forward(x_test), y_test);
  return run;
}

void write_results(const BenchArgs& a, const std::vector<std::string>& methods,
                   const MethodOptions& o, torch::ScalarType dtype, BenchInfo info,
                   const std::vector<Run>& runs) {
  const BenchSummary summary = summarise(methods, runs, info);
  print_summary(std::cout, info, summary);
  if (!a.markdown.empty()) write_file_atomic(a.markdown, summary_markdown(info, summary));
  if (!a.report.empty()) {
    info.report["seed"] = a.seed;
    info.report["threads"] = at::get_num_threads();
    info.report["dtype"] = dtype_name(dtype);
    write_json(a.report, report_json(info, summary, runs,
                                     {{"gbnn", trainer_options_json(o.gbnn, a.trainer.preset)},
                                      {"baselines", baseline_options_json(o.base)}}));
  }
}

void run_bench_csv(const BenchArgs& a) {
  const auto methods = check_common(a);
  if (a.folds < 2)
    throw std::invalid_argument(fmt::format("--folds must be at least 2, got {}", a.folds));
  if (a.repeats < 1)
    throw std::invalid_argument(fmt::format("--repeats must be at least 1, got {}", a.repeats));
  const torch::ScalarType dtype = a.dtype == "float64" ? torch::kDouble : torch::kFloat;

  data::Table table = read_table(a.data);
  const auto features = feature_columns(table, a.target, a.data);
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
  const auto o = method_options(
      a, methods, dtype, target.classification ? static_cast<int64_t>(target.classes.size()) : 0);

  const std::string name = std::filesystem::path(a.data).stem().string();
  if (!a.quiet) {
    std::cerr << fmt::format("bench {}: {} rows, {} {}, {} folds x {} repeats, methods {}\n", name,
                             n, task, metric, a.folds, a.repeats, fmt::join(methods, ","));
  }

  std::vector<Run> runs;
  int64_t unseen_levels = 0, encoded_features = 0;
  // The folds go into the report so that other tools can be scored on the very same splits.
  auto folds_json = nlohmann::ordered_json::array();
  for (int64_t rep = 0; rep < a.repeats; ++rep) {
    const uint64_t seed = a.seed + static_cast<uint64_t>(rep);
    const auto fold_of = assign_folds(n, a.folds, seed, target.classification ? &labels : nullptr);
    folds_json.push_back(fold_of);
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
        Run run = run_method(method, o, seed, x_train, y_train, x_test, y_test);
        run.repeat = rep;
        run.fold = fold;
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

  BenchInfo info;
  info.name = name;
  info.task = task;
  info.metric = metric;
  info.higher_is_better = higher_is_better;
  info.title = fmt::format("{} ({}, {} rows, {} encoded features, {} folds x {} repeats): test {}",
                           name, task, n, encoded_features, a.folds, a.repeats, metric);
  info.markdown_title = fmt::format(
      "**{}** ({}, {} rows, {} encoded features; {}-fold CV x {} repeat{}; test {}, {} is "
      "better)",
      name, task, n, encoded_features, a.folds, a.repeats, a.repeats == 1 ? "" : "s", metric,
      higher_is_better ? "higher" : "lower");
  info.report = {{"name", name}, {"data", a.data},   {"target", a.target},
                 {"task", task}, {"metric", metric}, {"higher_is_better", higher_is_better}};
  if (target.classification) info.report["classes"] = target.classes;
  info.report["rows"] = n;
  info.report["encoded_features"] = encoded_features;
  info.report["unseen_test_levels"] = unseen_levels;
  info.report["folds"] = a.folds;
  info.report["repeats"] = a.repeats;
  info.report["fold_of_row"] = folds_json;
  info.report["drop_missing"] = a.drop_missing;
  write_results(a, methods, o, dtype, info, runs);
}

// Image mode: the backbone's features of the training and test images are extracted once,
// standardised with the training features' statistics, and every method is fitted on the same
// training features and scored on the test features.
void run_bench_images(const BenchArgs& a) {
  const auto methods = check_common(a);
  if (a.backbone_batch_size < 1) {
    throw std::invalid_argument(
        fmt::format("--backbone-batch-size must be positive, got {}", a.backbone_batch_size));
  }
  if (!a.feature_cache.empty()) check_output_path(a.feature_cache, "--feature-cache");
  if (!a.test_feature_cache.empty())
    check_output_path(a.test_feature_cache, "--test-feature-cache");
  const torch::ScalarType dtype = a.dtype == "float64" ? torch::kDouble : torch::kFloat;

  FrozenBackbone backbone(a.backbone, a.feature_module);
  const auto train = read_image_features(backbone, a.images, a.labels, a.feature_cache,
                                         a.backbone_batch_size, "--images", "--labels", a.quiet);
  const auto test =
      read_image_features(backbone, a.test_images, a.test_labels, a.test_feature_cache,
                          a.backbone_batch_size, "--test-images", "--test-labels", a.quiet);
  const auto classes = class_names_for(train.labels, "");
  const int64_t num_classes = static_cast<int64_t>(classes.size());
  const int64_t test_max = test.labels.max().item<int64_t>();
  if (test.labels.min().item<int64_t>() < 0 || test_max >= num_classes) {
    throw std::invalid_argument(fmt::format(
        "--test-labels '{}' has label {} but the training labels of --labels '{}' give {} "
        "classes",
        a.test_labels, test_max, a.labels, num_classes));
  }
  const auto o = method_options(a, methods, dtype, num_classes);

  const auto standardizer = data::Standardizer::fit(train.features);
  const auto x_train = standardizer.transform(train.features, dtype);
  const auto x_test = standardizer.transform(test.features, dtype);
  const int64_t d = x_train.size(1);
  std::filesystem::path images_path(a.images);
  std::string name = images_path.parent_path().filename().string();
  if (name.empty()) name = images_path.stem().string();
  const std::string selector = a.feature_module.empty() ? "forward" : a.feature_module;
  if (!a.quiet) {
    std::cerr << fmt::format(
        "bench {}: {} training / {} test images, {} features ({}), {} classes, methods {}\n", name,
        x_train.size(0), x_test.size(0), d, selector, num_classes, fmt::join(methods, ","));
  }

  std::vector<Run> runs;
  for (const auto& method : methods) {
    Run run = run_method(method, o, a.seed, x_train, train.labels, x_test, test.labels,
                         /*epoch_metrics=*/true);
    if (!a.quiet) {
      std::cerr << fmt::format("  {:<6} accuracy {:.4f}  {:.2f} s  ({} {}, {})\n", method,
                               run.metric, run.fit_seconds, run.size,
                               method == "gbnn" ? "stages" : "epochs", run.stop_reason);
    }
    runs.push_back(std::move(run));
  }

  BenchInfo info;
  info.name = name;
  info.task = "classification";
  info.metric = "accuracy";
  info.single_split = true;
  info.title = fmt::format(
      "{} ({} training / {} test images, {} features of the frozen backbone's {}): test accuracy",
      name, x_train.size(0), x_test.size(0), d, selector);
  info.markdown_title = fmt::format(
      "**{}** ({} training / {} test images; {} features of the frozen backbone's `{}`, "
      "standardised on the training images; test accuracy, higher is better)",
      name, x_train.size(0), x_test.size(0), d, selector);
  info.report = {{"name", name},
                 {"backbone", a.backbone},
                 {"feature_module", a.feature_module},
                 {"images", a.images},
                 {"labels", a.labels},
                 {"test_images", a.test_images},
                 {"test_labels", a.test_labels},
                 {"feature_cache", a.feature_cache},
                 {"test_feature_cache", a.test_feature_cache},
                 {"task", "classification"},
                 {"metric", "accuracy"},
                 {"higher_is_better", true},
                 {"classes", classes},
                 {"rows", x_train.size(0)},
                 {"test_rows", x_test.size(0)},
                 {"features", d},
                 {"features_from_cache", train.from_cache},
                 {"test_features_from_cache", test.from_cache},
                 {"extract_seconds", train.seconds},
                 {"test_extract_seconds", test.seconds}};
  write_results(a, methods, o, dtype, info, runs);
}

void run_bench(const BenchArgs& a) {
  if (a.backbone.empty())
    run_bench_csv(a);
  else
    run_bench_images(a);
}

}  // namespace

Command add_bench_command(CLI::App& parent) {
  auto args = std::make_shared<BenchArgs>();
  auto& b = args->baseline;
  auto* app = parent.add_subcommand(
      "bench",
      "Compare boosting (gbnn) with the same network trained by adam, sgd and lbfgs: "
      "cross-validated on a CSV file, or on a frozen backbone's features of training and test "
      "images");
  auto* data = app->add_option("--data", args->data, "data (CSV with a header row)");
  auto* target =
      app->add_option("--target", args->target, "target column; every other column is a feature");
  auto* task = app->add_option("--task", args->task,
                               "default: detected (classification for text or quoted targets)")
                   ->check(CLI::IsMember({"classification", "regression"}));
  app->add_option("--methods", args->methods, "comma-separated methods: gbnn, adam, sgd, lbfgs")
      ->capture_default_str();
  auto* folds =
      app->add_option("--folds", args->folds, "cross-validation folds K (stratified for classes)")
          ->capture_default_str();
  auto* repeats = app->add_option("--repeats", args->repeats,
                                  "repetitions of the K-fold split, repeat r using seed + r")
                      ->capture_default_str();
  // Image mode.
  auto* backbone = app->add_option(
      "--backbone", args->backbone,
      "TorchScript backbone: compare the methods on its frozen features of --images (training) "
      "and --test-images (test) instead of cross-validating a CSV file");
  auto* images = app->add_option("--images", args->images, "training images (IDX, may be .gz)");
  auto* labels = app->add_option("--labels", args->labels, "training labels (IDX, may be .gz)");
  auto* test_images =
      app->add_option("--test-images", args->test_images, "test images (IDX, may be .gz)");
  auto* test_labels =
      app->add_option("--test-labels", args->test_labels, "test labels (IDX, may be .gz)");
  app->add_option("--feature-module", args->feature_module,
                  "submodule or method of the backbone giving the features (default: forward)")
      ->needs(backbone);
  app->add_option("--feature-cache", args->feature_cache,
                  "cache file of the training images' features (the same file as boosthead fit "
                  "--feature-cache)")
      ->needs(backbone);
  app->add_option("--test-feature-cache", args->test_feature_cache,
                  "cache file of the test images' features")
      ->needs(backbone);
  app->add_option("--backbone-batch-size", args->backbone_batch_size, "images per backbone batch")
      ->capture_default_str()
      ->needs(backbone);
  app->add_option("--seed", args->seed, "seed for the folds, initialisation and sampling")
      ->capture_default_str();
  app->add_option("--report", args->report, "write a JSON report (summaries, curves, runs)");
  app->add_option("--markdown", args->markdown, "write the summary table as markdown");
  app->add_option("--threads", args->threads, "CPU threads (default, or 0: all cores)");
  auto* drop_missing = app->add_flag("--drop-missing", args->drop_missing,
                                     "drop rows with missing values (else an error)");
  app->add_flag("--quiet", args->quiet, "no per-fold progress on stderr");
  app->add_option("--device", args->device,
                  "cpu or cuda: where every method trains (default: cpu)");
  app->add_option("--dtype", args->dtype, "floating type to train in")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  // Boosting, and the validation rule every method shares.
  add_trainer_flags(*app, args->trainer, "gbnn: ");
  // Baselines.
  app->add_option("--hidden-units", b.hidden_units(), "baselines: hidden units H")
      ->capture_default_str();
  app->add_option("--epochs", b.epochs(), "baselines: maximum epochs")->capture_default_str();
  app->add_option("--batch-size", b.batch_size(), "adam, sgd: mini-batch size")
      ->capture_default_str();
  app->add_option("--lr", b.lr(), "baselines: learning rate (0: adam 1e-3, sgd 0.1, lbfgs 1)")
      ->capture_default_str();
  app->add_option("--momentum", b.momentum(), "sgd: Nesterov momentum")->capture_default_str();
  app->add_option("--lr-patience", b.lr_patience(),
                  "baselines: divide the learning rate by 5 after this many epochs without "
                  "improvement (-1: sgd 3, adam and lbfgs never)")
      ->capture_default_str();
  app->add_option("--weight-decay", b.l2(), "baselines: L2 penalty (weight decay) on weights")
      ->capture_default_str();
  app->add_option("--lbfgs-iterations", b.lbfgs_iterations(),
                  "lbfgs: iterations per epoch (full batch)")
      ->capture_default_str();
  backbone->needs(images)->needs(labels)->needs(test_images)->needs(test_labels);
  backbone->excludes(data)
      ->excludes(target)
      ->excludes(task)
      ->excludes(folds)
      ->excludes(repeats)
      ->excludes(drop_missing);
  for (auto* o : {images, labels, test_images, test_labels}) o->needs(backbone);
  require_csv_unless(*app, data, target, backbone);
  return {app, [args] { run_bench(*args); }};
}

}  // namespace boosthead::cli
