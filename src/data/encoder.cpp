#include <boosthead/data/encoder.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace boosthead::data {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  return out;
}

std::string missing_message(const Table& table, const std::string& cell, const std::string& column,
                            size_t row) {
  const bool na = cell.find("NA") != std::string::npos;
  return fmt::format("{}: missing value ({}) in column '{}' at row {}", table.source,
                     na ? "NA" : "empty cell", column, table.row_number(static_cast<int64_t>(row)));
}

// Parses a cell that must hold a finite number; `what` words the error for the non-number case.
double finite_number(const Table& table, const std::string& cell, const std::string& column,
                     size_t row, const char* what) {
  if (is_missing(cell)) throw std::invalid_argument(missing_message(table, cell, column, row));
  const auto value = parse_number(cell);
  if (!value) {
    throw std::invalid_argument(fmt::format("{}: column '{}' is {} but row {} holds '{}'",
                                            table.source, column, what,
                                            table.row_number(static_cast<int64_t>(row)), cell));
  }
  if (!std::isfinite(*value)) {
    throw std::invalid_argument(fmt::format("{}: non-finite value '{}' in column '{}' at row {}",
                                            table.source, cell, column,
                                            table.row_number(static_cast<int64_t>(row))));
  }
  return *value;
}

}  // namespace

FeatureEncoder::FeatureEncoder(std::vector<ColumnEncoding> columns) : columns_(std::move(columns)) {
  std::unordered_set<std::string> names;
  for (const auto& col : columns_) {
    if (!names.insert(col.name).second) {
      throw std::invalid_argument(fmt::format("feature column '{}' is listed twice", col.name));
    }
    if (!col.categorical) continue;
    if (col.levels.empty()) {
      throw std::invalid_argument(fmt::format("categorical column '{}' has no levels", col.name));
    }
    std::unordered_set<std::string> levels;
    for (const auto& level : col.levels) {
      if (!levels.insert(level).second) {
        throw std::invalid_argument(
            fmt::format("categorical column '{}' lists level '{}' twice", col.name, level));
      }
    }
  }
}

FeatureEncoder FeatureEncoder::fit(const Table& table,
                                   const std::vector<std::string>& feature_columns) {
  std::vector<ColumnEncoding> encodings;
  encodings.reserve(feature_columns.size());
  for (const auto& name : feature_columns) {
    const auto idx = static_cast<size_t>(table.column_index(name));
    ColumnEncoding enc;
    enc.name = name;
    enc.categorical = table.is_quoted(static_cast<int64_t>(idx));
    std::set<std::string> levels;
    for (const auto& row : table.rows) {
      const auto& cell = row[idx];
      if (is_missing(cell)) continue;
      levels.insert(cell);
      if (!parse_number(cell)) enc.categorical = true;
    }
    if (enc.categorical) enc.levels.assign(levels.begin(), levels.end());
    encodings.push_back(std::move(enc));
  }
  return FeatureEncoder(std::move(encodings));
}

void FeatureEncoder::check_columns(const Table& table, const std::string& who) const {
  for (const auto& col : columns_) {
    if (table.has_column(col.name)) continue;
    std::vector<std::string> names;
    for (const auto& c : columns_) names.push_back(c.name);
    throw std::invalid_argument(
        fmt::format("{}: column '{}' is missing from the file; {} needs it (its input columns: {})",
                    table.source, col.name, who, join(names)));
  }
}

torch::Tensor FeatureEncoder::transform(const Table& table, UnknownLevels unknown,
                                        std::vector<UnknownLevelCount>* counts) const {
  check_columns(table);
  const int64_t n = table.num_rows();
  const int64_t d = num_encoded();
  auto out = torch::zeros({n, d}, torch::TensorOptions().dtype(torch::kFloat64));
  auto* data = out.data_ptr<double>();

  int64_t offset = 0;
  for (const auto& col : columns_) {
    const auto idx = static_cast<size_t>(table.column_index(col.name));
    if (!col.categorical) {
      for (int64_t r = 0; r < n; ++r) {
        const auto& cell = table.rows[static_cast<size_t>(r)][idx];
        data[r * d + offset] =
            finite_number(table, cell, col.name, static_cast<size_t>(r), "numeric");
      }
      offset += 1;
      continue;
    }
    std::unordered_map<std::string, int64_t> level_index;
    for (size_t k = 0; k < col.levels.size(); ++k)
      level_index.emplace(col.levels[k], static_cast<int64_t>(k));
    UnknownLevelCount unseen;
    for (int64_t r = 0; r < n; ++r) {
      const auto& cell = table.rows[static_cast<size_t>(r)][idx];
      if (is_missing(cell)) {
        throw std::invalid_argument(missing_message(table, cell, col.name, static_cast<size_t>(r)));
      }
      auto it = level_index.find(cell);
      if (it != level_index.end()) {
        data[r * d + offset + it->second] = 1.0;
        continue;
      }
      if (unknown == UnknownLevels::Error) {
        throw std::invalid_argument(
            fmt::format("{}: unknown level '{}' in column '{}' at row {}; known levels: {}",
                        table.source, cell, col.name, table.row_number(r), join(col.levels)));
      }
      // No level: the row's one-hot columns stay zero.
      unseen.rows += 1;
      if (unseen.rows == 1) unseen.example = cell;
    }
    if (unseen.rows > 0 && counts != nullptr) {
      unseen.column = col.name;
      counts->push_back(unseen);
    }
    offset += static_cast<int64_t>(col.levels.size());
  }
  return out;
}

std::vector<std::string> FeatureEncoder::encoded_names() const {
  std::vector<std::string> names;
  for (const auto& col : columns_) {
    if (!col.categorical) {
      names.push_back(col.name);
      continue;
    }
    for (const auto& level : col.levels) names.push_back(col.name + "=" + level);
  }
  return names;
}

int64_t FeatureEncoder::num_encoded() const {
  int64_t d = 0;
  for (const auto& col : columns_)
    d += col.categorical ? static_cast<int64_t>(col.levels.size()) : 1;
  return d;
}

TargetEncoding fit_target(const Table& table, const std::string& column, const std::string& task) {
  if (!task.empty() && task != "classification" && task != "regression") {
    throw std::invalid_argument(fmt::format(
        "unknown task '{}'; expected 'classification', 'regression' or empty to detect it", task));
  }
  const auto idx = static_cast<size_t>(table.column_index(column));

  TargetEncoding enc;
  std::set<std::string> names;
  std::optional<size_t> first_text_row;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& cell = table.rows[r][idx];
    if (is_missing(cell)) continue;
    names.insert(cell);
    if (!first_text_row && !parse_number(cell)) first_text_row = r;
  }

  const int64_t rows =
      table.num_rows() -
      static_cast<int64_t>(std::count_if(table.rows.begin(), table.rows.end(),
                                         [&](const auto& row) { return is_missing(row[idx]); }));
  if (!task.empty()) {
    enc.classification = task == "classification";
    enc.reason = fmt::format("{} as asked", task);
  } else if (first_text_row) {
    enc.classification = true;
    enc.reason = fmt::format("classification: the target holds text ('{}' at row {})",
                             table.rows[*first_text_row][idx],
                             table.row_number(static_cast<int64_t>(*first_text_row)));
  } else if (table.is_quoted(static_cast<int64_t>(idx))) {
    enc.classification = true;
    enc.reason = "classification: the target column is quoted (an R factor)";
  } else {
    const bool integers = std::all_of(names.begin(), names.end(), [](const std::string& s) {
      const double v = *parse_number(s);
      return std::isfinite(v) && v == std::floor(v);
    });
    const auto distinct = static_cast<int64_t>(names.size());
    enc.classification = integers && distinct <= kMaxDetectedClasses && 2 * distinct < rows;
    if (enc.classification) {
      enc.reason = fmt::format(
          "classification: {} distinct integer values in {} rows (integers, at most {} distinct "
          "and fewer than half the rows; --task regression to override)",
          distinct, rows, kMaxDetectedClasses);
    } else if (integers) {
      enc.reason = fmt::format(
          "regression: {} distinct integer values in {} rows (classes need at most {} distinct "
          "values and fewer than half the rows; --task classification to override)",
          distinct, rows, kMaxDetectedClasses);
    } else {
      enc.reason = "regression: the target holds numbers that are not all integers";
    }
  }
  if (!enc.classification) {
    if (first_text_row) {
      throw std::invalid_argument(
          fmt::format("{}: target column '{}' is not numeric (row {} holds '{}'), so it cannot be "
                      "a regression target",
                      table.source, column, table.row_number(static_cast<int64_t>(*first_text_row)),
                      table.rows[*first_text_row][idx]));
    }
    return enc;
  }

  if (names.empty()) {
    throw std::invalid_argument(fmt::format(
        "{}: target column '{}' has no values; classification needs at least two classes",
        table.source, column));
  }
  if (names.size() == 1) {
    throw std::invalid_argument(fmt::format(
        "{}: target column '{}' has a single class '{}'; classification needs at least two",
        table.source, column, *names.begin()));
  }

  enc.classes.assign(names.begin(), names.end());
  const bool all_numeric =
      std::all_of(enc.classes.begin(), enc.classes.end(), [](const std::string& s) {
        const auto v = parse_number(s);
        return v && std::isfinite(*v);
      });
  if (all_numeric) {
    // Ties ("1" and "1.0") fall back to the text so the order stays deterministic.
    std::stable_sort(enc.classes.begin(), enc.classes.end(),
                     [](const std::string& a, const std::string& b) {
                       return *parse_number(a) < *parse_number(b);
                     });
  }
  return enc;
}

torch::Tensor encode_target(const Table& table, const std::string& column,
                            const TargetEncoding& enc) {
  const auto idx = static_cast<size_t>(table.column_index(column));
  const int64_t n = table.num_rows();

  if (!enc.classification) {
    auto out = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat64));
    auto* data = out.data_ptr<double>();
    for (int64_t r = 0; r < n; ++r) {
      data[r] = finite_number(table, table.rows[static_cast<size_t>(r)][idx], column,
                              static_cast<size_t>(r), "a regression target");
    }
    return out;
  }

  std::unordered_map<std::string, int64_t> label;
  for (size_t k = 0; k < enc.classes.size(); ++k)
    label.emplace(enc.classes[k], static_cast<int64_t>(k));
  auto out = torch::empty({n}, torch::TensorOptions().dtype(torch::kInt64));
  auto* data = out.data_ptr<int64_t>();
  for (int64_t r = 0; r < n; ++r) {
    const auto& cell = table.rows[static_cast<size_t>(r)][idx];
    if (is_missing(cell))
      throw std::invalid_argument(missing_message(table, cell, column, static_cast<size_t>(r)));
    auto it = label.find(cell);
    if (it == label.end()) {
      throw std::invalid_argument(
          fmt::format("{}: unknown class '{}' in column '{}' at row {}; the model knows: {}",
                      table.source, cell, column, table.row_number(r), join(enc.classes)));
    }
    data[r] = it->second;
  }
  return out;
}

}  // namespace boosthead::data
