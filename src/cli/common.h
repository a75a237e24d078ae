#pragma once
/// \file
/// Pieces shared by the subcommands of the boosthead command-line tool.

#include <boosthead/data/csv.h>
#include <boosthead/data/encoder.h>
#include <boosthead/model_file.h>
#include <torch/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "../util/dtype.h"

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

/// Exit statuses: 0 success, 1 an error in the data or while running, 2 a usage error (an
/// unknown option, a missing or malformed argument, a value out of range).
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

/// An option value the command cannot use: reported as a usage error (exit 2, with a hint).
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// Prints "boosthead: error: <message>" and, for usage errors, a hint to `<command> --help`.
void print_error(const std::string& message, const std::string& command, bool usage);

/// Runs `fn`, turning any exception into "boosthead: error: ..." on stderr; returns the exit
/// status: 0, kExitUsage after a UsageError (with a hint to `command --help`), else kExitError.
int run_guarded(const std::function<void()>& fn, const std::string& command = "boosthead");

/// Reads a CSV file; throws when it has no data rows. A first column with an empty header (the
/// row index pandas writes) is dropped, with a notice on stderr unless `quiet`.
data::Table read_table(const std::string& path, bool quiet = false);

/// Every column of `table` except `target` (which must exist: the error lists the columns there
/// are); throws when no feature column is left. `source` names the file in the message.
std::vector<std::string> feature_columns(const data::Table& table, const std::string& target,
                                         const std::string& source);

/// The rows 0..n-1 that are not in `excluded` (sorted, as rows_with_missing gives them).
std::vector<int64_t> rows_except(int64_t n, const std::vector<int64_t>& excluded);

/// Deals with missing cells in `columns`: with `drop_missing` the rows holding any are dropped
/// (their count goes to stderr unless `quiet`), otherwise the first one is an error naming row
/// and column. Throws when no row is left.
void handle_missing(data::Table& table, const std::vector<std::string>& columns, bool drop_missing,
                    bool quiet);

/// Names of the model's input columns.
std::vector<std::string> input_column_names(const ModelInfo& info);

/// Throws, naming the column, the file and the model, when `table` lacks an input column of the
/// model.
void check_model_columns(const LoadedModel& model, const std::string& model_path,
                         const data::Table& table);

/// The --unknown-levels value: "zeros" (the default) or "error".
data::UnknownLevels parse_unknown_levels(const std::string& value);

/// Encodes `table` with the model's column encoding and standardisation, in the head's dtype.
/// A column the model needs but the file lacks is an error naming both; levels not seen in
/// training follow `unknown`, with one warning per column on stderr for Zeros.
torch::Tensor model_features(const LoadedModel& model, const std::string& model_path,
                             const data::Table& table,
                             data::UnknownLevels unknown = data::UnknownLevels::Zeros);

/// The stages to use from a model of `total`: all when --stages was not given, else the given
/// count, which must be in [1, total] (a UsageError otherwise). One convention for every
/// subcommand that applies a model.
int64_t stages_to_use(int64_t total, bool given, int64_t stages);

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
using util::dtype_name;

/// The device named by --device: "cpu" or "cuda[:N]". CUDA without a visible GPU (or with a
/// torch built without CUDA) is an error that says so.
torch::Device parse_device(const std::string& name);

/// Sets LibTorch's intra-op threads from --threads (0: every core), and OpenBLAS's own thread
/// pool to the same count when the process uses OpenBLAS: its pthread build otherwise keeps
/// every core busy waiting between matrix products even with one LibTorch thread.
void set_threads(int threads);

}  // namespace boosthead::cli
