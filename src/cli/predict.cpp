#include <fmt/format.h>
#include <torch/utils.h>

#include <CLI/CLI.hpp>
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
  int64_t stages = -1;
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
    throw std::invalid_argument(fmt::format("--batch-size must be positive, got {}", a.batch_size));
  LoadedPipeline pipeline = load_pipeline(a.model, parse_device(a.device));
  const int64_t stages = resolve_pipeline_stages(pipeline, a.stages);
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

void run_predict(const PredictArgs& a) {
  if (!a.out.empty()) check_output_path(a.out, "--out");
  if (!a.images.empty()) {
    run_predict_images(a);
    return;
  }
  const torch::Device device = parse_device(a.device);
  const LoadedModel model = load_tabular_model(a.model, device);
  const ModelInfo& info = model.info;
  const int64_t stages = resolve_stages(model, a.stages);

  data::Table table = read_table(a.data);
  handle_missing(table, input_column_names(info), a.drop_missing, false);
  const auto x = model_features(model, table).to(device);

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
  auto* data = app->add_option(
      "--data", args->data, "CSV file with the model's input columns (a target column is ignored)");
  app->add_option("--stages", args->stages, "use only the first t stages (default: all)");
  app->add_option("--out", args->out, "CSV file to write (default: stdout)");
  app->add_flag("--drop-missing", args->drop_missing,
                "drop rows with missing values (else an error)");
  auto* images = app->add_option("--images", args->images,
                                 "images (IDX, may be .gz) for an image pipeline model");
  images->excludes(data);
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
