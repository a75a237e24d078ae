// Fits a boosted head on a CSV file with the library API: load, encode, split off a validation
// set, fit with progress and early stopping, print the per-stage history, truncate, save.
//
//   fit_csv data/Vehicle.csv Class vehicle.pt

#include <ATen/Parallel.h>
#include <boosthead/callbacks.h>
#include <boosthead/data/csv.h>
#include <boosthead/data/encoder.h>
#include <boosthead/data/standardizer.h>
#include <boosthead/model_file.h>
#include <boosthead/trainer.h>

#include <cstdio>
#include <iostream>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: fit_csv DATA.csv TARGET_COLUMN OUT_MODEL.pt\n";
    return 2;
  }
  try {
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    namespace data = boosthead::data;
    const auto table = data::read_csv(argv[1]);
    const std::string target = argv[2];
    data::check_no_missing(table, table.columns);

    std::vector<std::string> features;
    for (const auto& c : table.columns) {
      if (c != target) features.push_back(c);
    }
    const auto encoder = data::FeatureEncoder::fit(table, features);
    const auto target_encoding = data::fit_target(table, target);
    const auto x = encoder.transform(table);
    const auto y = data::encode_target(table, target, target_encoding);

    // Hold out 20% for validation; standardise with the training part's statistics only.
    auto split = boosthead::split_indices(x.size(0), 0.2, /*seed=*/0,
                                          target_encoding.classification ? y : torch::Tensor());
    const auto standardizer = data::Standardizer::fit(x.index_select(0, split.first));
    const auto x_train = standardizer.transform(x.index_select(0, split.first));
    const auto x_valid = standardizer.transform(x.index_select(0, split.second));

    auto options = boosthead::TrainerOptions().stages(100).units_per_stage(2).patience(20);
    if (target_encoding.classification) {
      options.num_classes(static_cast<int64_t>(target_encoding.classes.size()));
    }
    boosthead::Trainer trainer(options);
    trainer.add_callback(std::make_shared<boosthead::ProgressCallback>(std::cerr, 10));
    auto result = trainer.fit(x_train, y.index_select(0, split.first), x_valid,
                              y.index_select(0, split.second));

    std::printf("stage  train_loss  valid_loss  valid_metric  seconds\n");
    for (const auto& r : result.history) {
      std::printf("%5lld  %10.5f  %10.5f  %12.4f  %7.3f\n", static_cast<long long>(r.stage),
                  r.train_loss, r.valid_loss.value_or(0.0), r.valid_metric.value_or(0.0),
                  r.seconds);
    }
    std::printf("trained %lld stages, kept the best %lld (%s)\n",
                static_cast<long long>(result.stages_trained),
                static_cast<long long>(result.best_stages), result.stop_reason.c_str());

    // Anytime inference: the first half of the stages is a valid, smaller model.
    const int64_t half = std::max<int64_t>(1, result.head->num_stages() / 2);
    torch::NoGradGuard no_grad;
    const auto yv = y.index_select(0, split.second);
    std::printf(
        "validation metric with %lld stages: %.4f, with all %lld: %.4f\n",
        static_cast<long long>(half),
        boosthead::score_metric(result.head->loss(), result.head->forward(x_valid, half), yv),
        static_cast<long long>(result.head->num_stages()),
        boosthead::score_metric(result.head->loss(), result.head->forward(x_valid), yv));

    boosthead::ModelInfo info;
    info.task = target_encoding.classification ? "classification" : "regression";
    info.target = target;
    info.feature_names = encoder.encoded_names();
    info.class_names =
        target_encoding.classification ? target_encoding.classes : std::vector<std::string>{target};
    info.columns = encoder.columns();
    info.standardizer = standardizer;
    boosthead::save_model(argv[3], *result.head, info);
    std::printf("saved %s\n", argv[3]);
  } catch (const std::exception& e) {
    std::cerr << "fit_csv: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
