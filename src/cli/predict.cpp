#include <fmt/format.h>
#include <torch/utils.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "common.h"

namespace boosthead::cli {
namespace {

struct PredictArgs {
  std::string model;
  std::string data;
  std::string out;
  int64_t stages = -1;
  bool drop_missing = false;
};

// Shortest text that reads back to the same value in the model's precision.
std::string format_value(double value, bool single) {
  return single ? fmt::format("{}", static_cast<float>(value)) : fmt::format("{}", value);
}

void run_predict(const PredictArgs& a) {
  if (!a.out.empty()) check_output_path(a.out, "--out");
  const LoadedModel model = load_model(a.model);
  const ModelInfo& info = model.info;
  const int64_t stages = resolve_stages(model, a.stages);

  data::Table table = read_table(a.data);
  handle_missing(table, input_column_names(info), a.drop_missing, false);
  const auto x = model_features(model, table);

  torch::NoGradGuard no_grad;
  const bool classification = info.task == "classification";
  const auto outputs =
      (classification ? model.head->predict_proba(x, stages) : model.head->predict(x, stages))
          .to(torch::kCPU, torch::kDouble)
          .contiguous();
  const int64_t n = outputs.size(0), k = outputs.size(1);
  if (k != static_cast<int64_t>(info.class_names.size())) {
    throw std::invalid_argument(fmt::format("model file '{}' has {} outputs but {} output names",
                                            a.model, k, info.class_names.size()));
  }
  const bool single = model.head->hidden_weight.scalar_type() == torch::kFloat;
  const auto* v = outputs.data_ptr<double>();

  data::Table result;
  if (classification) {
    result.columns.push_back("prediction");
    for (const auto& name : info.class_names) result.columns.push_back("prob_" + name);
    const auto best = outputs.argmax(1);
    const auto* b = best.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      std::vector<std::string> row{info.class_names[static_cast<size_t>(b[i])]};
      for (int64_t j = 0; j < k; ++j) row.push_back(format_value(v[i * k + j], single));
      result.rows.push_back(std::move(row));
    }
  } else {
    for (const auto& name : info.class_names) {
      result.columns.push_back(k == 1 ? "prediction" : "prediction_" + name);
    }
    for (int64_t i = 0; i < n; ++i) {
      std::vector<std::string> row;
      for (int64_t j = 0; j < k; ++j) row.push_back(format_value(v[i * k + j], single));
      result.rows.push_back(std::move(row));
    }
  }

  const std::string text = data::to_csv(result);
  if (a.out.empty()) {
    std::cout << text << std::flush;
  } else {
    write_file_atomic(a.out, text);
  }
}

}  // namespace

Command add_predict_command(CLI::App& parent) {
  auto args = std::make_shared<PredictArgs>();
  auto* app =
      parent.add_subcommand("predict", "Apply a model to a CSV file and write predictions as CSV");
  app->add_option("--model", args->model, "model file written by fit")->required();
  app->add_option("--data", args->data,
                  "CSV file with the model's input columns (a target column is ignored)")
      ->required();
  app->add_option("--stages", args->stages, "use only the first t stages (default: all)");
  app->add_option("--out", args->out, "CSV file to write (default: stdout)");
  app->add_flag("--drop-missing", args->drop_missing,
                "drop rows with missing values (else an error)");
  return {app, [args] { run_predict(*args); }};
}

}  // namespace boosthead::cli
