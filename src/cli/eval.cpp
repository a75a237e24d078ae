#include <boosthead/data/encoder.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "common.h"
#include "images.h"

namespace boosthead::cli {
namespace {

struct EvalArgs {
  std::string model;
  std::string data;
  std::string target;
  std::string report;
  int64_t stages = 0;
  const CLI::Option* stages_option = nullptr;
  std::string unknown_levels = "zeros";
  bool drop_missing = false;
  std::string images;
  std::string labels;
  int64_t batch_size = 256;
  std::string device = "cpu";
};

void run_eval_images(const EvalArgs& a) {
  if (a.batch_size < 1)
    throw UsageError(fmt::format("--batch-size must be positive, got {}", a.batch_size));
  LoadedPipeline pipeline = load_pipeline(a.model, parse_device(a.device));
  const int64_t stages = stages_to_use(pipeline.stages, a.stages_option->count() > 0, a.stages);
  const auto images = read_images(a.images);
  const auto labels = read_labels(a.labels, images.size(0), a.images);
  const auto outputs = pipeline.predict(images, stages, a.batch_size);
  const bool classification = pipeline.task == "classification";
  const double value = classification
                           ? outputs.argmax(1).eq(labels).to(torch::kDouble).mean().item<double>()
                           : score_metric(pipeline.loss, outputs, labels.to(outputs.scalar_type()));
  const std::string metric = metric_name(pipeline.task);
  std::cout << fmt::format("{} {:.4f} (stages {}, rows {})", metric, value, stages, images.size(0))
            << std::endl;
  if (!a.report.empty()) {
    write_json(a.report, {{"task", pipeline.task},
                          {"metric", metric},
                          {"value", value},
                          {"stages", stages},
                          {"rows", images.size(0)},
                          {"model", a.model},
                          {"images", a.images},
                          {"labels", a.labels}});
  }
}

void run_eval(const EvalArgs& a) {
  if (!a.report.empty()) check_output_path(a.report, "--report");
  if (!a.images.empty()) {
    run_eval_images(a);
    return;
  }
  const torch::Device device = parse_device(a.device);
  const auto unknown = parse_unknown_levels(a.unknown_levels);
  const LoadedModel model = load_tabular_model(a.model, device);
  const ModelInfo& info = model.info;
  const int64_t stages =
      stages_to_use(model.head->num_stages(), a.stages_option->count() > 0, a.stages);
  const std::string target = a.target.empty() ? info.target : a.target;

  data::Table table = read_table(a.data);
  check_model_columns(model, a.model, table);
  if (!table.has_column(target)) {
    throw std::invalid_argument(
        fmt::format("{}: target column '{}' is missing from the file; the model '{}' was trained "
                    "on it (--target names another)",
                    a.data, target, a.model));
  }
  auto columns = input_column_names(info);
  columns.push_back(target);
  handle_missing(table, columns, a.drop_missing, false);

  const auto x = model_features(model, a.model, table, unknown).to(device);
  data::TargetEncoding encoding;
  encoding.classification = info.task == "classification";
  if (encoding.classification) encoding.classes = info.class_names;
  const auto y = data::encode_target(table, target, encoding).to(device);

  torch::NoGradGuard no_grad;
  const auto scores = model.head->forward(x, stages);
  const double value = score_metric(model.head->loss(), scores, y);
  const std::string metric = metric_name(info.task);

  std::cout << fmt::format("{} {:.4f} (stages {}, rows {})", metric, value, stages,
                           table.num_rows())
            << std::endl;
  if (!a.report.empty()) {
    write_json(a.report, {{"task", info.task},
                          {"metric", metric},
                          {"value", value},
                          {"stages", stages},
                          {"rows", table.num_rows()},
                          {"model", a.model},
                          {"data", a.data},
                          {"target", target}});
  }
}

}  // namespace

Command add_eval_command(CLI::App& parent) {
  auto args = std::make_shared<EvalArgs>();
  auto* app = parent.add_subcommand(
      "eval",
      "Score a model on a labelled CSV file: accuracy (classification) or RMSE (regression)");
  app->add_option("--model", args->model, "model file written by fit")->required();
  auto* data = app->add_option("--data", args->data,
                               "CSV file with the model's input columns and the target");
  auto* target = app->add_option("--target", args->target, "target column (default: the model's)");
  args->stages_option =
      app->add_option("--stages", args->stages, "use only the first t stages (default: all)");
  app->add_option("--unknown-levels", args->unknown_levels,
                  "categorical levels not seen in training: zeros (encode as no level, warn) or "
                  "error")
      ->capture_default_str();
  app->add_option("--report", args->report, "write the result as JSON");
  app->add_flag("--drop-missing", args->drop_missing,
                "drop rows with missing values (else an error)");
  auto* images = app->add_option("--images", args->images,
                                 "images (IDX, may be .gz) for an image pipeline model");
  auto* labels = app->add_option("--labels", args->labels, "their labels (IDX, may be .gz)");
  images->needs(labels)->excludes(data)->excludes(target);
  labels->needs(images);
  app->add_option("--batch-size", args->batch_size, "images per batch")->capture_default_str();
  app->add_option("--device", args->device, "cpu or cuda: where the model runs (default: cpu)");
  app->parse_complete_callback([data, images] {
    if (data->count() == 0 && images->count() == 0) throw CLI::RequiredError("--data");
  });
  return {app, [args] { run_eval(*args); }};
}

}  // namespace boosthead::cli
