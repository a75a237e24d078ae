#include <ATen/Parallel.h>
#include <boosthead/activation.h>
#include <boosthead/callbacks.h>
#include <boosthead/data/encoder.h>
#include <boosthead/data/standardizer.h>
#include <boosthead/distributed.h>
#include <boosthead/stage_solver.h>
#include <boosthead/standardized_fit.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "../data_parallel.h"
#include "../io/atomic_file.h"
#include "common.h"
#include "images.h"
#include "shared_data.h"
#include "trainer_flags.h"

namespace boosthead::cli {
namespace {

struct FitArgs {
  std::string data;
  std::string target;
  std::string out;
  std::string task;
  std::string device;
  std::string dtype = "float32";
  std::string report;
  int threads = 0;
  std::vector<std::string> ignore_columns;
  bool drop_missing = false;
  bool quiet = false;
  TrainerFlags trainer;
  uint64_t seed = 0;
  std::string checkpoint;
  bool resume = false;
  std::string init_model;
  // Image mode: a frozen TorchScript backbone on IDX images.
  std::string backbone;
  std::string feature_module;
  std::string images;
  std::string labels;
  std::string class_names;
  std::string feature_cache;
  int64_t batch_size = 256;
  // Data-parallel fits (launched by torchrun).
  double group_timeout = ProcessGroupOptions().timeout();
  std::string group_backend = ProcessGroupOptions().backend();
};

nlohmann::ordered_json history_json(const std::vector<StageRecord>& history) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& r : history) {
    nlohmann::ordered_json j = {{"stage", r.stage}, {"train_loss", r.train_loss}};
    if (r.valid_loss) j["valid_loss"] = *r.valid_loss;
    j["train_metric"] = r.train_metric;
    if (r.valid_metric) j["valid_metric"] = *r.valid_metric;
    j["rho"] = r.rho;
    j["solver_iterations"] = r.solver_iterations;
    j["seconds"] = r.seconds;
    out.push_back(std::move(j));
  }
  return out;
}

// What a data-parallel fit communicated: rank 0's counts (every process sends as much).
nlohmann::ordered_json group_report(const Collective& group, const FitResult& fit,
                                    int64_t local_rows) {
  const auto& st = group.stats();
  int64_t iterations = 0, stages = 0;
  for (const auto& r : fit.history) {
    if (r.stage <= fit.stages_resumed) continue;
    iterations += r.solver_iterations;
    ++stages;
  }
  const double bytes = 8.0 * static_cast<double>(st.values);
  return {{"size", group.size()},
          {"rank0_rows", local_rows},
          {"reductions", st.reductions},
          {"values_reduced", st.values},
          {"bytes_reduced", bytes},
          {"gathers", st.gathers},
          {"seconds_in_collectives", st.seconds},
          {"bytes_per_stage", stages > 0 ? bytes / static_cast<double>(stages) : 0.0},
          {"reductions_per_stage",
           stages > 0 ? static_cast<double>(st.reductions) / static_cast<double>(stages) : 0.0},
          {"bytes_per_solver_iteration",
           iterations > 0 ? bytes / static_cast<double>(iterations) : 0.0}};
}

// Out-of-range options are usage errors, found before any data is read.
void check_trainer_options(const TrainerOptions& o) {
  try {
    validate_options(o);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (o.patience() > 0 && o.valid_fraction() == 0.0) {
    throw UsageError(fmt::format(
        "--patience {} needs a validation set to watch: add --valid-fraction (for example 0.2)",
        o.patience()));
  }
}

// The feature columns: every column but the target and those of --ignore-columns.
std::vector<std::string> fit_feature_columns(const data::Table& table, const std::string& target,
                                             const std::string& source,
                                             const std::vector<std::string>& ignore) {
  for (const auto& name : ignore) {
    if (name == target) {
      throw UsageError(fmt::format("--ignore-columns lists the target '{}'", target));
    }
    if (!table.has_column(name)) {
      throw std::invalid_argument(
          fmt::format("--ignore-columns: {} has no column '{}' (its columns: {})", source, name,
                      fmt::join(table.columns, ", ")));
    }
  }
  std::vector<std::string> features;
  for (const auto& c : feature_columns(table, target, source)) {
    if (std::find(ignore.begin(), ignore.end(), c) == ignore.end()) features.push_back(c);
  }
  if (features.empty()) {
    throw std::invalid_argument(
        fmt::format("{}: no feature columns left besides the target and --ignore-columns", source));
  }
  return features;
}

// A categorical column with a distinct value in almost every row is likely an identifier: its
// one-hot columns carry nothing to learn and every new identifier is unknown at eval time.
void warn_identifier_columns(const data::FeatureEncoder& encoder, int64_t rows) {
  for (const auto& c : encoder.columns()) {
    const auto levels = static_cast<int64_t>(c.levels.size());
    if (!c.categorical || rows < 20 || 10 * levels < 9 * rows) continue;
    std::cerr << fmt::format(
        "boosthead: warning: column '{}' has {} distinct values in {} rows, like an identifier; "
        "it becomes {} one-hot features (--ignore-columns {} leaves it out)\n",
        c.name, levels, rows, levels, c.name);
  }
}

void run_fit_images(const FitArgs& a, TrainerOptions options) {
  if (a.task == "regression")
    throw UsageError("--task regression is not available with --backbone (labels are classes)");
  if (a.batch_size < 1)
    throw UsageError(fmt::format("--batch-size must be positive, got {}", a.batch_size));
  if (!a.feature_cache.empty()) check_output_path(a.feature_cache, "--feature-cache");
  const auto images = read_images(a.images);
  const auto labels = read_labels(a.labels, images.size(0), a.images);
  const auto classes = class_names_for(labels, a.class_names);
  options.num_classes(static_cast<int64_t>(classes.size()));

  FrozenBackbone backbone(a.backbone, a.feature_module, options.device().value_or(torch::kCPU));
  Trainer trainer(options);
  if (!a.quiet) {
    trainer.add_callback(
        std::make_shared<ProgressCallback>(std::cerr, std::max<int64_t>(1, options.stages() / 20)));
  }
  const auto r =
      fit_on_backbone(backbone, trainer, images, labels,
                      BackboneFitOptions().batch_size(a.batch_size).feature_cache(a.feature_cache),
                      extraction_progress("features", a.quiet));
  const auto& head = *r.fit.head;
  PipelineInfo info;
  info.task = "classification";
  info.class_names = classes;
  info.standardizer = r.standardizer;
  save_pipeline(a.out, backbone, head, info);

  const int64_t stages = head.num_stages();
  const StageRecord* last =
      stages > 0 ? &r.fit.history.at(static_cast<size_t>(stages - 1)) : nullptr;
  if (!a.report.empty()) {
    nlohmann::ordered_json report = {{"task", info.task}, {"classes", classes}};
    report["backbone"] = a.backbone;
    report["feature_module"] = a.feature_module;
    report["loss"] = head.loss();
    report["metric"] = "accuracy";
    report["features"] = head.num_features();
    report["outputs"] = head.num_outputs();
    report["hidden_units"] = head.hidden_weight.size(0);
    report["units_per_stage"] = head.units_per_stage();
    report["stages"] = stages;
    report["stages_trained"] = r.fit.stages_trained;
    report["best_stages"] = r.fit.best_stages;
    report["stop_reason"] = r.fit.stop_reason;
    if (last) {
      report["train_metric"] = last->train_metric;
      if (last->valid_metric) report["valid_metric"] = *last->valid_metric;
    }
    report["features_from_cache"] = r.features_from_cache;
    report["extract_seconds"] = r.extract_seconds;
    report["fit_seconds"] = r.fit.fit_seconds;
    report["rows"] = r.train_rows;
    report["valid_rows"] = r.valid_rows;
    report["threads"] = at::get_num_threads();
    report["model"] = a.out;
    report["options"] = trainer_options_json(options, a.trainer.preset);
    report["history"] = history_json(r.fit.history);
    write_json(a.report, report);
  }
  std::string line = fmt::format("fit: {} stages", stages);
  if (r.fit.stages_trained != stages)
    line += fmt::format(" (best of {} trained)", r.fit.stages_trained);
  if (r.fit.stop_reason != "completed") line += fmt::format(", stopped: {}", r.fit.stop_reason);
  if (last) {
    line += fmt::format(", train accuracy {:.4f}", last->train_metric);
    if (last->valid_metric) line += fmt::format(", valid accuracy {:.4f}", *last->valid_metric);
  }
  line += fmt::format(", {} features {} in {:.2f} s, head {:.2f} s -> {}", head.num_features(),
                      r.features_from_cache ? "read from cache" : "extracted", r.extract_seconds,
                      r.fit.fit_seconds, a.out);
  std::cout << line << std::endl;
}

void run_fit(const FitArgs& a) {
  check_output_path(a.out, "--out");
  if (!a.report.empty()) check_output_path(a.report, "--report");
  if (a.threads < 0)
    throw UsageError(fmt::format("--threads must be 0 (all cores) or more, got {}", a.threads));
  TrainerOptions options =
      a.trainer.resolve().seed(a.seed).checkpoint(a.checkpoint).resume(a.resume);
  check_trainer_options(options);
  set_threads(a.threads);

  if (!a.device.empty()) options.device(parse_device(a.device));
  const torch::ScalarType dtype = a.dtype == "float64" ? torch::kDouble : torch::kFloat;
  options.dtype(dtype);

  std::shared_ptr<Collective> group;
  if (launched_as_process_group()) {
    if (!a.backbone.empty()) {
      throw UsageError(
          "a data-parallel fit (torchrun) trains on CSV data; --backbone is for "
          "one process");
    }
    if (options.valid_fraction() > 0.0) {
      throw UsageError(
          "--valid-fraction splits one process's rows; it is not available in a "
          "data-parallel fit (torchrun)");
    }
    group =
        join_process_group(ProcessGroupOptions().timeout(a.group_timeout).backend(a.group_backend));
    options.collective(group);
  }
  // A fit killed while writing its model leaves the temporary file; the next fit to the same
  // path clears it, as fits do for their checkpoint's.
  if (group == nullptr || group->rank() == 0) io::remove_stale_temporaries(a.out);
  if (!a.backbone.empty()) {
    run_fit_images(a, options);
    return;
  }
  // Only rank 0 speaks, and writes.
  const bool rank0 = group == nullptr || group->rank() == 0;
  const bool quiet = a.quiet || !rank0;
  Collective* comm = group.get();

  // Each process's steps on its own rows are agreed: if one fails, all stop with its error.
  data::Table table = detail::agreed(comm, [&] {
    if (!group) return read_table(a.data, a.quiet);
    data::Table t = read_share(a.data, *group);
    data::drop_index_column(t);
    if (t.num_rows() == 0) throw std::invalid_argument(fmt::format("{}: no data rows", t.source));
    return t;
  });
  if (group) number_rows_globally(table, *group);
  const auto features = detail::agreed(comm, [&] {
    auto f = fit_feature_columns(table, a.target, a.data, a.ignore_columns);
    auto used_columns = f;
    used_columns.push_back(a.target);
    handle_missing(table, used_columns, a.drop_missing, quiet);
    return f;
  });

  // Warm start: the new stages see the features exactly as the initial model encodes them.
  std::optional<LoadedModel> init;
  if (!a.init_model.empty()) {
    init = load_model(a.init_model, options.device().value_or(torch::kCPU));
    options.init_head(init->head);
  }
  data::TargetEncoding target;
  if (init) {
    target.classification = init->info.task == "classification";
    if (target.classification) target.classes = init->info.class_names;
  } else {
    target = group ? agree_target(table, a.target, a.task, *group)
                   : data::fit_target(table, a.target, a.task);
    if (!quiet) std::cerr << "boosthead: task: " << target.reason << std::endl;
  }
  data::FeatureEncoder encoder;
  if (init) {
    encoder = data::FeatureEncoder(init->info.columns);
  } else {
    encoder =
        group ? agree_encoder(table, features, *group) : data::FeatureEncoder::fit(table, features);
    if (rank0) warn_identifier_columns(encoder, table.num_rows());
  }
  auto [x, y] = detail::agreed(comm, [&] {
    if (init) encoder.check_columns(table, fmt::format("the initial model '{}'", a.init_model));
    return std::make_pair(encoder.transform(table), data::encode_target(table, a.target, target));
  });
  if (target.classification) options.num_classes(static_cast<int64_t>(target.classes.size()));

  Trainer trainer(options);
  if (!quiet) {
    trainer.add_callback(
        std::make_shared<ProgressCallback>(std::cerr, std::max<int64_t>(1, options.stages() / 20)));
  }
  const StandardizedFit fitted =
      fit_standardized(trainer, x, y, init ? &init->info.standardizer : nullptr);
  const FitResult& result = fitted.fit;
  const auto& standardizer = fitted.standardizer;
  const auto& head = *result.head;

  ModelInfo info;
  info.task = target.classification ? "classification" : "regression";
  info.target = a.target;
  info.feature_names = encoder.encoded_names();
  info.class_names = target.classification ? target.classes : std::vector<std::string>{a.target};
  info.columns = encoder.columns();
  info.standardizer = standardizer;
  info.ignored_columns = a.ignore_columns;
  const auto total_rows =
      group ? static_cast<int64_t>(group->sum(static_cast<double>(fitted.train_rows)))
            : fitted.train_rows;
  if (!rank0) return;
  save_model(a.out, head, info);

  const int64_t stages = head.num_stages();
  // The record of the head's last stage (history numbers stages from 1, warm starts included).
  const StageRecord* last = nullptr;
  for (const auto& r : result.history) {
    if (r.stage == stages) last = &r;
  }
  if (!a.report.empty()) {
    nlohmann::ordered_json report = {{"task", info.task}, {"target", info.target}};
    report["task_reason"] = init ? "from the initial model" : target.reason;
    if (target.classification) report["classes"] = target.classes;
    report["ignored_columns"] = a.ignore_columns;
    report["loss"] = head.loss();
    report["metric"] = metric_name(info.task);
    report["features"] = head.num_features();
    report["outputs"] = head.num_outputs();
    report["hidden_units"] = head.hidden_weight.size(0);
    report["units_per_stage"] = head.units_per_stage();
    report["stages"] = stages;
    report["stages_trained"] = result.stages_trained;
    report["best_stages"] = result.best_stages;
    report["stop_reason"] = result.stop_reason;
    report["stages_resumed"] = result.stages_resumed;
    if (result.target_shift.defined()) {
      // The head predicts in the target's units; these are the units it was trained in.
      report["target_mean"] = result.target_shift.to(torch::kDouble).cpu().item<double>();
      report["target_scale"] = result.target_scale;
    }
    if (last) {
      report["train_metric"] = last->train_metric;
      if (last->valid_metric) report["valid_metric"] = *last->valid_metric;
    }
    report["fit_seconds"] = result.fit_seconds;
    report["rows"] = total_rows;
    report["valid_rows"] = fitted.valid_rows;
    report["threads"] = at::get_num_threads();
    if (group) report["processes"] = group_report(*group, result, fitted.train_rows);
    report["model"] = a.out;
    report["options"] = trainer_options_json(options, a.trainer.preset);
    report["history"] = history_json(result.history);
    write_json(a.report, report);
  }

  const std::string metric = metric_name(info.task);
  std::string line = fmt::format("fit: {} stages", stages);
  if (result.stages_trained != stages)
    line += fmt::format(" (best of {} trained)", result.stages_trained);
  if (result.stop_reason != "completed") line += fmt::format(", stopped: {}", result.stop_reason);
  if (last) {
    line += fmt::format(", train {} {:.4f}", metric, last->train_metric);
    if (last->valid_metric) line += fmt::format(", valid {} {:.4f}", metric, *last->valid_metric);
  }
  line += fmt::format(", {:.2f} s -> {}", result.fit_seconds, a.out);
  if (group) {
    line += fmt::format(" ({} processes, {} rows, {:.1f} MB reduced, {:.2f} s in collectives)",
                        group->size(), total_rows, 8e-6 * group->stats().values,
                        group->stats().seconds);
  }
  std::cout << line << std::endl;
}

}  // namespace

Command add_fit_command(CLI::App& parent) {
  auto args = std::make_shared<FitArgs>();
  auto* app = parent.add_subcommand(
      "fit",
      "Train a boosted head on a CSV file, or on a frozen backbone's image features, and save it");
  auto* data = app->add_option("--data", args->data,
                               "training data (CSV with a header row); under torchrun each "
                               "process reads its share of the rows, or its own file where the "
                               "name holds {rank} (part-{rank}.csv)");
  auto* target =
      app->add_option("--target", args->target, "target column; every other column is a feature");
  app->add_option("--out", args->out, "model file to write")->required();
  app->add_option("--task", args->task,
                  "default: detected: classification for text or quoted targets, or integers "
                  "with at most 50 distinct values and fewer than half the rows; else "
                  "regression")
      ->check(CLI::IsMember({"classification", "regression"}));
  app->add_option("--ignore-columns", args->ignore_columns,
                  "comma-separated columns to leave out (identifiers, leaks); recorded in the "
                  "model, and eval and predict ignore them too")
      ->delimiter(',');
  add_trainer_flags(*app, args->trainer);
  app->add_option("--seed", args->seed, "seed for initialisation, subsampling and the split")
      ->capture_default_str();
  app->add_option("--device", args->device, "cpu or cuda (default: cpu)");
  app->add_option("--threads", args->threads, "CPU threads (default, or 0: all cores)");
  app->add_option("--report", args->report, "write a JSON fit report with the stage history");
  app->add_flag("--drop-missing", args->drop_missing,
                "drop rows with missing values (else an error)");
  app->add_flag("--quiet", args->quiet, "no progress on stderr");
  app->add_option("--checkpoint", args->checkpoint,
                  "save the training state here after every stage (atomic write)");
  app->add_flag("--resume", args->resume,
                "continue from --checkpoint if it exists; the result equals an uninterrupted fit");
  app->add_option("--init-model", args->init_model,
                  "warm start: add --stages new stages to this model (same columns and classes)");
  app->add_option("--dtype", args->dtype, "floating type to train in")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  auto* backbone = app->add_option(
      "--backbone", args->backbone,
      "TorchScript backbone: fit on its frozen features of --images; --out is then a pipeline "
      "file with backbone and head");
  auto* images = app->add_option("--images", args->images, "training images (IDX, may be .gz)");
  auto* labels = app->add_option("--labels", args->labels, "training labels (IDX, may be .gz)");
  backbone->needs(images)->needs(labels)->excludes(data)->excludes(target);
  images->needs(backbone);
  labels->needs(backbone);
  app->add_option("--feature-module", args->feature_module,
                  "submodule or method of the backbone giving the features (default: forward)")
      ->needs(backbone);
  app->add_option("--class-names", args->class_names,
                  "comma-separated class names in label order (default: 0, 1, ...)")
      ->needs(backbone);
  app->add_option("--feature-cache", args->feature_cache,
                  "file caching the backbone's features, so that another fit on the same "
                  "images skips the backbone")
      ->needs(backbone);
  app->add_option("--batch-size", args->batch_size, "images per backbone batch")
      ->capture_default_str();
  app->add_option("--group-timeout", args->group_timeout,
                  "data-parallel fits (torchrun): seconds to wait for the other processes "
                  "before failing, naming those that no longer answer")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--group-backend", args->group_backend,
                  "data-parallel fits (torchrun): c10d backend (gloo; auto: gloo)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "gloo"}));
  require_csv_unless(*app, data, target, backbone);
  return {app, [args] { run_fit(*args); }};
}

}  // namespace boosthead::cli
