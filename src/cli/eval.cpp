#include <boosthead/data/encoder.h>
#include <boosthead/trainer.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "common.h"

namespace boosthead::cli {
namespace {

struct EvalArgs {
  std::string model;
  std::string data;
  std::string target;
  std::string report;
  int64_t stages = -1;
  bool drop_missing = false;
};

void run_eval(const EvalArgs& a) {
  if (!a.report.empty()) check_output_path(a.report, "--report");
  const LoadedModel model = load_model(a.model);
  const ModelInfo& info = model.info;
  const int64_t stages = resolve_stages(model, a.stages);
  const std::string target = a.target.empty() ? info.target : a.target;

  data::Table table = read_table(a.data);
  auto columns = input_column_names(info);
  columns.push_back(target);
  handle_missing(table, columns, a.drop_missing, false);

  const auto x = model_features(model, table);
  data::TargetEncoding encoding;
  encoding.classification = info.task == "classification";
  if (encoding.classification) encoding.classes = info.class_names;
  const auto y = data::encode_target(table, target, encoding);

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
  app->add_option("--data", args->data, "CSV file with the model's input columns and the target")
      ->required();
  app->add_option("--target", args->target, "target column (default: the model's)");
  app->add_option("--stages", args->stages, "use only the first t stages (default: all)");
  app->add_option("--report", args->report, "write the result as JSON");
  app->add_flag("--drop-missing", args->drop_missing,
                "drop rows with missing values (else an error)");
  return {app, [args] { run_eval(*args); }};
}

}  // namespace boosthead::cli
