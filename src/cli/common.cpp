#include "common.h"

#include <ATen/Parallel.h>
#include <boosthead/data/encoder.h>
#include <c10/util/Exception.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "../io/atomic_file.h"

namespace boosthead::cli {
namespace {

// Error messages may span lines (TorchScript, c10); the contract is one line on stderr.
std::string one_line(const std::string& message) {
  std::string out;
  bool pending_space = false;
  for (char c : message) {
    if (c == '\n' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space && c != ' ') out += ' ';
    pending_space = false;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? "unknown error" : out;
}

}  // namespace

void print_error(const std::string& message, const std::string& command, bool usage) {
  std::cout.flush();
  std::cerr << "boosthead: error: " << one_line(message) << std::endl;
  if (usage) std::cerr << "Run '" << command << " --help' for the options." << std::endl;
}

int run_guarded(const std::function<void()>& fn, const std::string& command) {
  std::string message;
  bool usage = false;
  try {
    fn();
    return 0;
  } catch (const UsageError& e) {
    message = e.what();
    usage = true;
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown error";
  }
  print_error(message, command, usage);
  return usage ? kExitUsage : kExitError;
}

data::Table read_table(const std::string& path, bool quiet) {
  data::Table table = data::read_csv(path);
  if (data::drop_index_column(table) && !quiet) {
    std::cerr << fmt::format(
        "boosthead: {}: the first column has no name, as pandas writes its row index; it is "
        "read as the row index, not as a feature\n",
        path);
  }
  if (table.num_rows() == 0) throw std::invalid_argument(fmt::format("{}: no data rows", path));
  return table;
}

void require_csv_unless(CLI::App& app, CLI::Option* data, CLI::Option* target,
                        CLI::Option* backbone) {
  app.parse_complete_callback([data, target, backbone] {
    if (backbone->count() > 0) return;
    if (data->count() == 0) throw CLI::RequiredError("--data");
    if (target->count() == 0) throw CLI::RequiredError("--target");
  });
}

std::vector<std::string> feature_columns(const data::Table& table, const std::string& target,
                                         const std::string& source) {
  (void)table.column_index(target);  // throws, listing the columns there are
  std::vector<std::string> features;
  for (const auto& c : table.columns) {
    if (c != target) features.push_back(c);
  }
  if (features.empty()) {
    throw std::invalid_argument(
        fmt::format("{}: no feature columns besides the target '{}'", source, target));
  }
  return features;
}

std::vector<int64_t> rows_except(int64_t n, const std::vector<int64_t>& excluded) {
  std::vector<int64_t> keep;
  keep.reserve(static_cast<size_t>(n) - std::min(excluded.size(), static_cast<size_t>(n)));
  size_t next = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (next < excluded.size() && excluded[next] == r) {
      ++next;
    } else {
      keep.push_back(r);
    }
  }
  return keep;
}

void handle_missing(data::Table& table, const std::vector<std::string>& columns, bool drop_missing,
                    bool quiet) {
  if (!drop_missing) {
    data::check_no_missing(table, columns);
    return;
  }
  const auto missing = data::rows_with_missing(table, columns);
  if (missing.empty()) return;
  const auto keep = rows_except(table.num_rows(), missing);
  if (keep.empty()) {
    throw std::invalid_argument(fmt::format("{}: every one of its {} rows has a missing value",
                                            table.source, table.num_rows()));
  }
  if (!quiet) {
    std::cerr << fmt::format("boosthead: dropped {} of {} rows with missing values\n",
                             missing.size(), table.num_rows());
  }
  table = table.select_rows(keep);
}

std::vector<std::string> input_column_names(const ModelInfo& info) {
  std::vector<std::string> names;
  names.reserve(info.columns.size());
  for (const auto& c : info.columns) names.push_back(c.name);
  return names;
}

data::UnknownLevels parse_unknown_levels(const std::string& value) {
  if (value == "zeros") return data::UnknownLevels::Zeros;
  if (value == "error") return data::UnknownLevels::Error;
  throw UsageError(fmt::format("--unknown-levels must be 'zeros' or 'error', got '{}'", value));
}

void check_model_columns(const LoadedModel& model, const std::string& model_path,
                         const data::Table& table) {
  data::FeatureEncoder(model.info.columns)
      .check_columns(table, fmt::format("the model '{}'", model_path));
}

torch::Tensor model_features(const LoadedModel& model, const std::string& model_path,
                             const data::Table& table, data::UnknownLevels unknown) {
  check_model_columns(model, model_path, table);
  const data::FeatureEncoder encoder(model.info.columns);
  std::vector<data::UnknownLevelCount> unseen;
  const auto x = encoder.transform(table, unknown, &unseen);
  for (const auto& u : unseen) {
    std::cerr << fmt::format(
        "boosthead: warning: {}: column '{}' holds levels not seen in training in {} of {} rows "
        "(first: '{}'); they are encoded as no level (--unknown-levels error refuses them)\n",
        table.source, u.column, u.rows, table.num_rows(), u.example);
  }
  return model.info.standardizer.transform(x, model.head->hidden_weight.scalar_type());
}

int64_t stages_to_use(int64_t total, bool given, int64_t stages) {
  if (!given) return total;
  if (stages < 1 || stages > total) {
    throw UsageError(fmt::format(
        "--stages must be between 1 and {} (the model's stage count; leave it out for all), got {}",
        total, stages));
  }
  return stages;
}

void check_output_path(const std::string& path, const std::string& option) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw std::invalid_argument(
        fmt::format("{} '{}': folder '{}' does not exist", option, path, dir.string()));
  }
  if (fs::is_directory(p, ec)) {
    throw std::invalid_argument(fmt::format("{} '{}' is a folder", option, path));
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  io::write_bytes_atomically(path, "output", content);
}

void write_json(const std::string& path, const nlohmann::ordered_json& json) {
  write_file_atomic(path, json.dump(2) + "\n");
}

std::string metric_name(const std::string& task) {
  return task == "classification" ? "accuracy" : "rmse";
}

torch::Device parse_device(const std::string& name) {
  std::optional<torch::Device> device;
  try {
    device = torch::Device(name);
  } catch (const c10::Error&) {
  }
  if (!device || !(device->is_cpu() || device->is_cuda())) {
    throw std::invalid_argument(fmt::format("unknown device '{}'; expected cpu or cuda", name));
  }
  if (device->is_cuda() && !torch::cuda::is_available()) {
    throw std::invalid_argument(fmt::format(
        "device {} was requested but no CUDA device is available (CUDA GPUs visible: {})", name,
        torch::cuda::device_count()));
  }
  if (device->is_cuda() && device->has_index() && device->index() >= torch::cuda::device_count()) {
    throw std::invalid_argument(
        fmt::format("device {} was requested but only {} CUDA device(s) "
                    "are visible",
                    name, torch::cuda::device_count()));
  }
  return *device;
}

void set_threads(int threads) {
  const int n =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(n);
  }
}

}  // namespace boosthead::cli
