#pragma once
/// \file
/// Pieces shared by the subcommands of the boosthead command-line tool.

#include <boosthead/data/csv.h>
#include <boosthead/model_file.h>
#include <torch/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace boosthead::cli {

/// A subcommand: its parser and what to run once it was parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<void()> run;
};

Command add_fit_command(CLI::App& parent);
Command add_eval_command(CLI::App& parent);
Command add_predict_command(CLI::App& parent);
Command add_bench_command(CLI::App& parent);

/// Makes --data and --target required unless the image option `backbone` was given (fit, bench).
void require_csv_unless(CLI::App& app, CLI::Option* data, CLI::Option* target,
                        CLI::Option* backbone);

/// Runs `fn`, turning any exception into one line "boosthead: error: ..." on stderr; returns the
/// exit code (0, or 1 after an error).
int run_guarded(const std::function<void()>& fn);

/// Reads a CSV file; throws when it has no data rows.
data::Table read_table(const std::string& path);

/// Every column of `table` except `target` (which must exist: the error lists the columns there
/// are); throws when no feature column is left. `source` names the file in the message.
std::vector<std::string> feature_columns(const data::Table& table, const std::string& target,
                                         const std::string& source);

/// Deals with missing cells in `columns`: with `drop_missing` the rows holding any are dropped
/// (their count goes to stderr unless `quiet`), otherwise the first one is an error naming row
/// and column. Throws when no row is left.
void handle_missing(data::Table& table, const std::vector<std::string>& columns, bool drop_missing,
                    bool quiet);

/// Names of the model's input columns.
std::vector<std::string> input_column_names(const ModelInfo& info);

/// Encodes `table` with the model's column encoding and standardisation, in the head's dtype.
torch::Tensor model_features(const LoadedModel& model, const data::Table& table);

/// Checks an optional --stages value against the model: -1 (not given) means all stages.
int64_t resolve_stages(const LoadedModel& model, int64_t stages);

/// Throws unless the folder that `path` would be written to exists, so that a long fit does not
/// end in an error about its output.
void check_output_path(const std::string& path, const std::string& option);

/// Writes `content` to `path` through a temporary file in the same folder and a rename, so that
/// a failure leaves no partial file.
void write_file_atomic(const std::string& path, const std::string& content);

/// Writes JSON (indented, trailing newline) atomically.
void write_json(const std::string& path, const nlohmann::ordered_json& json);

/// "accuracy" for classification, "rmse" for regression.
std::string metric_name(const std::string& task);

/// The dtype's name as the command line spells it ("float32", "float64").
std::string dtype_name(torch::ScalarType dtype);

/// The device named by --device: "cpu" or "cuda[:N]". CUDA without a visible GPU (or with a
/// torch built without CUDA) is an error that says so.
torch::Device parse_device(const std::string& name);

/// Sets LibTorch's intra-op threads from --threads (0: every core), and OpenBLAS's own thread
/// pool to the same count when the process uses OpenBLAS: its pthread build otherwise keeps
/// every core busy waiting between matrix products even with one LibTorch thread.
void set_threads(int threads);

}  // namespace boosthead::cli
