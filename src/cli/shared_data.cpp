#include "shared_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "../data_parallel.h"

namespace boosthead::cli {
namespace {

using nlohmann::json;

std::vector<json> gather_json(Collective& group, const json& mine) {
  std::vector<json> out;
  for (const auto& bytes : group.all_gather(mine.dump())) out.push_back(json::parse(bytes));
  return out;
}

std::set<std::string> distinct_cells(const data::Table& table, size_t column) {
  std::set<std::string> cells;
  for (const auto& row : table.rows) {
    if (!data::is_missing(row[column])) cells.insert(row[column]);
  }
  return cells;
}

// A column counts as written quoted only if every process's cells were (the quoted flag means
// "every non-missing cell was quoted").
void agree_quoted(data::Table& table, Collective& group) {
  json mine = json::array();
  for (int64_t c = 0; c < table.num_columns(); ++c) mine.push_back(table.is_quoted(c));
  const auto all = gather_json(group, mine);
  table.quoted.assign(static_cast<size_t>(table.num_columns()), true);
  for (const auto& flags : all) {
    for (size_t c = 0; c < table.quoted.size(); ++c) {
      table.quoted[c] = table.quoted[c] && flags.at(c).get<bool>();
    }
  }
}

}  // namespace

data::Table read_share(const std::string& data, const Collective& group) {
  const auto at = data.find("{rank}");
  if (at == std::string::npos) return data::read_csv_share(data, group.rank(), group.size());
  auto path = data;
  path.replace(at, 6, std::to_string(group.rank()));
  return data::read_csv(path);
}

void number_rows_globally(data::Table& table, Collective& group) {
  const int64_t first = detail::row_offset(&group, table.num_rows());
  std::vector<int64_t> numbers(static_cast<size_t>(table.num_rows()));
  for (int64_t i = 0; i < table.num_rows(); ++i) numbers[i] = first + table.row_number(i);
  table.row_numbers = std::move(numbers);
}

data::TargetEncoding agree_target(data::Table& table, const std::string& column,
                                  const std::string& task, Collective& group) {
  agree_quoted(table, group);
  const auto idx = static_cast<size_t>(table.column_index(column));
  // What fit_target decides from: text cells, the quoted flag, integers, distinct values, rows.
  json mine = {{"rows", 0}, {"integers", true}, {"text", nullptr}};
  auto cells = distinct_cells(table, idx);
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& cell = table.rows[r][idx];
    if (data::is_missing(cell)) continue;
    mine["rows"] = mine["rows"].get<int64_t>() + 1;
    const auto v = data::parse_number(cell);
    if (!v && mine["text"].is_null()) {
      mine["text"] = {cell, table.row_number(static_cast<int64_t>(r))};
    }
    if (v && !(std::isfinite(*v) && *v == std::floor(*v))) mine["integers"] = false;
  }
  // Numbers: only whether they are few matters, unless they are classes.
  const bool classes_anyway = task == "classification" ||
                              table.is_quoted(static_cast<int64_t>(idx)) || !mine["text"].is_null();
  if (classes_anyway || cells.size() <= static_cast<size_t>(data::kMaxDetectedClasses)) {
    mine["distinct"] = cells;
  } else {
    mine["many"] = true;
  }
  const auto all = gather_json(group, mine);
  int64_t rows = 0;
  bool integers = true, many = false;
  json text = nullptr;
  std::set<std::string> names;
  for (const auto& s : all) {
    rows += s["rows"].get<int64_t>();
    integers = integers && s["integers"].get<bool>();
    if (text.is_null() && !s["text"].is_null()) text = s["text"];
    if (s.contains("many")) many = true;
    if (s.contains("distinct")) {
      for (const auto& v : s["distinct"]) names.insert(v.get<std::string>());
    }
  }
  many = many || names.size() > static_cast<size_t>(data::kMaxDetectedClasses);
  data::TargetEncoding enc;
  if (!task.empty()) {
    enc.classification = task == "classification";
    enc.reason = fmt::format("{} as asked", task);
  } else if (!text.is_null()) {
    enc.classification = true;
    enc.reason = fmt::format("classification: the target holds text ('{}' at row {})",
                             text[0].get<std::string>(), text[1].get<int64_t>());
  } else if (table.is_quoted(static_cast<int64_t>(idx))) {
    enc.classification = true;
    enc.reason = "classification: the target column is quoted (an R factor)";
  } else {
    const auto distinct = static_cast<int64_t>(names.size());
    enc.classification = integers && !many && 2 * distinct < rows;
    enc.reason =
        enc.classification
            ? fmt::format("classification: {} distinct integer values in {} rows", distinct, rows)
            : "regression: the target's values are not few integers";
  }
  if (!enc.classification) {
    if (!text.is_null()) {
      throw std::invalid_argument(fmt::format(
          "{}: target column '{}' is not numeric (row {} holds '{}'), so it cannot be a "
          "regression target",
          table.source, column, text[1].get<int64_t>(), text[0].get<std::string>()));
    }
    return enc;
  }
  // The class order of fit_target, from a table of the distinct names.
  data::Table names_table;
  names_table.columns = {column};
  names_table.source = table.source;
  for (const auto& n : names) names_table.rows.push_back({n});
  enc.classes = data::fit_target(names_table, column, "classification").classes;
  return enc;
}

data::FeatureEncoder agree_encoder(data::Table& table, const std::vector<std::string>& columns,
                                   Collective& group) {
  agree_quoted(table, group);
  auto local = data::FeatureEncoder::fit(table, columns).columns();
  json mine = json::array();
  for (const auto& c : local) mine.push_back(c.categorical);
  const auto flags = gather_json(group, mine);
  // Levels of the columns that are categorical anywhere, from every process.
  json levels = json::array();
  for (size_t c = 0; c < local.size(); ++c) {
    local[c].categorical =
        std::any_of(flags.begin(), flags.end(), [&](const json& f) { return f.at(c).get<bool>(); });
    levels.push_back(
        local[c].categorical
            ? json(distinct_cells(table, static_cast<size_t>(table.column_index(local[c].name))))
            : json::array());
  }
  const auto all = gather_json(group, levels);
  for (size_t c = 0; c < local.size(); ++c) {
    std::set<std::string> merged;
    for (const auto& s : all) {
      for (const auto& v : s.at(c)) merged.insert(v.get<std::string>());
    }
    local[c].levels.assign(merged.begin(), merged.end());
  }
  return data::FeatureEncoder(std::move(local));
}

}  // namespace boosthead::cli
