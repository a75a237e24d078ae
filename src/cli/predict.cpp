#include <fmt/format.h>
#include <torch/utils.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "common.h"
#include "images.h"

namespace boosthead::cli {
namespace {

struct PredictArgs {
  std::string model;
  std::string data;
  std::string out;
  int64_t stages = 0;
  const CLI::Option* stages_option = nullptr;
  std::string unknown_levels = "zeros";
  std::string id_column;
  bool drop_missing = false;
  std::string images;
  std::string labels;  // accepted and ignored
  int64_t batch_size = 256;
  std::string device = "cpu";
};

// Shortest text that reads back to the same value in the model's precision.
std::string format_value(double value, bool single) {
  return single ? fmt::format("{}", static_cast<float>(value)) : fmt::format("{}", value);
}

void run_predict_images(const PredictArgs& a) {
  if (a.batch_size < 1)
    throw UsageError(fmt::format("--batch-size must be positive, got {}", a.batch_size));
  LoadedPipeline pipeline = load_pipeline(a.model, parse_device(a.device));
  const int64_t stages = stages_to_use(pipeline.stages, a.stages_option->count() > 0, a.stages);
  const auto images = read_images(a.images);
  const auto outputs =
      pipeline.predict(images, stages, a.batch_size).to(torch::kDouble).contiguous();
  const int64_t n = outputs.size(0), k = outputs.size(1);
  const bool single = pipeline.dtype() == torch::kFloat;
  const bool classification = pipeline.task == "classification";
  const auto* v = outputs.data_ptr<double>();
  data::Table result;
  if (classification) result.columns.push_back("prediction");
  for (const auto& name : pipeline.class_names) {
    result.columns.push_back(classification ? "prob_" + name
                                            : (k == 1 ? "prediction" : "prediction_" + name));
  }
  const auto best = outputs.argmax(1);
  const auto* b = best.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::string> row;
    if (classification) row.push_back(pipeline.class_names.at(static_cast<size_t>(b[i])));
    for (int64_t j = 0; j < k; ++j) row.push_back(format_value(v[i * k + j], single));
    result.rows.push_back(std::move(row));
  }
  const std::string text = data::to_csv(result);
  if (a.out.empty()) {
    std::cout << text << std::flush;
  } else {
    write_file_atomic(a.out, text);
  }
}

// Rows with a missing input cell: with --drop-missing they are left unscored (their output
// cells stay empty, so the output keeps one line per input row), otherwise the first is an error.
std::vector<int64_t> rows_to_score(const data::Table& table,
                                   const std::vector<std::string>& columns, bool drop_missing) {
  if (!drop_missing) data::check_no_missing(table, columns);
  const auto missing =
      drop_missing ? data::rows_with_missing(table, columns) : std::vector<int64_t>{};
  const auto keep = rows_except(table.num_rows(), missing);
  if (drop_missing && !missing.empty()) {
    std::cerr << fmt::format(
        "boosthead: {} of {} rows have missing values; their predictions are left empty\n",
        missing.size(), table.num_rows());
  }
  return keep;
}

void run_predict(const PredictArgs& a) {
  if (!a.out.empty()) check_output_path(a.out, "--out");
  if (!a.images.empty()) {
    run_predict_images(a);
    return;
  }
  const auto unknown = parse_unknown_levels(a.unknown_levels);
  const torch::Device device = parse_device(a.device);
  const LoadedModel model = load_tabular_model(a.model, device);
  const ModelInfo& info = model.info;
  const int64_t stages =
      stages_to_use(model.head->num_stages(), a.stages_option->count() > 0, a.stages);

  const data::Table table = read_table(a.data);
  check_model_columns(model, a.model, table);
  if (!a.id_column.empty()) (void)table.column_index(a.id_column);  // names the columns there are
  const auto scored = rows_to_score(table, input_column_names(info), a.drop_missing);
  const bool classification = info.task == "classification";
  const int64_t k = static_cast<int64_t>(info.class_names.size());
  torch::Tensor outputs = torch::empty({0, k}, torch::kDouble);
  if (!scored.empty()) {
    const auto x = model_features(model, a.model, table.select_rows(scored), unknown).to(device);
    torch::NoGradGuard no_grad;
    outputs =
        (classification ? model.head->predict_proba(x, stages) : model.head->predict(x, stages))
            .to(torch::kCPU, torch::kDouble)
            .contiguous();
  }
  if (outputs.size(1) != k) {
    throw std::invalid_argument(fmt::format("model file '{}' has {} outputs but {} output names",
                                            a.model, outputs.size(1), k));
  }
  const bool single = model.head->hidden_weight.scalar_type() == torch::kFloat;
  const auto* v = outputs.data_ptr<double>();

  data::Table result;
  if (!a.id_column.empty()) result.columns.push_back(a.id_column);
  if (classification) result.columns.push_back("prediction");
  for (const auto& name : info.class_names) {
    result.columns.push_back(classification ? "prob_" + name
                                            : (k == 1 ? "prediction" : "prediction_" + name));
  }
  const auto id = a.id_column.empty() ? -1 : table.column_index(a.id_column);
  // One line per input row, in order; a row that was not scored keeps empty cells.
  for (int64_t r = 0, i = 0; r < table.num_rows(); ++r) {
    std::vector<std::string> row;
    if (id >= 0) row.push_back(table.rows[static_cast<size_t>(r)][static_cast<size_t>(id)]);
    const bool has = i < static_cast<int64_t>(scored.size()) && scored[static_cast<size_t>(i)] == r;
    if (classification) {
      std::string label;
      if (has) {
        const auto* p = v + i * k;
        label = info.class_names[static_cast<size_t>(std::max_element(p, p + k) - p)];
      }
      row.push_back(label);
    }
    for (int64_t j = 0; j < k; ++j) row.push_back(has ? format_value(v[i * k + j], single) : "");
    if (has) ++i;
    result.rows.push_back(std::move(row));
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
  auto* data = app->add_option(
      "--data", args->data, "CSV file with the model's input columns (a target column is ignored)");
  args->stages_option =
      app->add_option("--stages", args->stages, "use only the first t stages (default: all)");
  app->add_option("--out", args->out, "CSV file to write (default: stdout)");
  app->add_flag("--drop-missing", args->drop_missing,
                "leave rows with missing values unscored (empty cells; else an error)");
  auto* id = app->add_option("--id-column", args->id_column,
                             "copy this column of --data into the output, as its first column");
  app->add_option("--unknown-levels", args->unknown_levels,
                  "categorical levels not seen in training: zeros (encode as no level, warn) or "
                  "error")
      ->capture_default_str();
  auto* images = app->add_option("--images", args->images,
                                 "images (IDX, may be .gz) for an image pipeline model");
  images->excludes(data)->excludes(id);
  app->add_option("--labels", args->labels,
                  "ignored (accepted so that eval and predict take the same inputs)")
      ->needs(images);
  app->add_option("--batch-size", args->batch_size, "images per batch")->capture_default_str();
  app->add_option("--device", args->device, "cpu or cuda: where the model runs (default: cpu)");
  app->parse_complete_callback([data, images] {
    if (data->count() == 0 && images->count() == 0) throw CLI::RequiredError("--data");
  });
  return {app, [args] { run_predict(*args); }};
}

}  // namespace boosthead::cli
