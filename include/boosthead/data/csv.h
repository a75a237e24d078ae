#pragma once
/// \file
/// A small RFC 4180 CSV reader that keeps every cell as text; typing happens in the encoder.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace boosthead::data {

/// A CSV file read into memory: one header row and rows of raw (unquoted) cells.
struct Table {
  /// Column names from the header row, in file order.
  std::vector<std::string> columns;
  /// Cells, row-major; every row has exactly `columns.size()` cells.
  std::vector<std::vector<std::string>> rows;
  /// Where the table came from (a path or "<string>"), used in error messages.
  std::string source;
  /// Per column: every non-missing cell was quoted in the file. R's write.csv quotes factor
  /// columns and leaves numbers bare, so such a column is read as categorical even when its
  /// levels look like numbers ("1", "2"). Empty means no column is quoted.
  std::vector<bool> quoted;
  /// Per row: its 1-based data row number in `source` (the first row below the header is 1), so
  /// that errors still name the file's row after rows were dropped. Empty means row i is i + 1.
  std::vector<int64_t> row_numbers;

  /// Whether column `index` was written quoted (see `quoted`).
  bool is_quoted(int64_t index) const {
    return index >= 0 && static_cast<size_t>(index) < quoted.size() && quoted[index];
  }

  int64_t num_rows() const { return static_cast<int64_t>(rows.size()); }
  int64_t num_columns() const { return static_cast<int64_t>(columns.size()); }
  /// The 1-based row number in `source` of row `index` (see `row_numbers`).
  int64_t row_number(int64_t index) const {
    return static_cast<size_t>(index) < row_numbers.size() ? row_numbers[static_cast<size_t>(index)]
                                                           : index + 1;
  }
  /// Index of a column; throws std::invalid_argument naming the column and listing those that
  /// exist.
  int64_t column_index(const std::string& name) const;
  /// Whether a column of that name exists.
  bool has_column(const std::string& name) const;
  /// Every cell of one column, top to bottom.
  std::vector<std::string> column(const std::string& name) const;
  /// A table with only the rows whose indices are given (in that order); they keep their row
  /// numbers.
  Table select_rows(const std::vector<int64_t>& indices) const;
};

/// Parses CSV text. Throws std::invalid_argument on an empty input, a header without rows
/// is allowed (zero rows), ragged rows (naming the line and the counts), or an unterminated quote.
Table parse_csv(const std::string& text, const std::string& source = "<string>");

/// Reads and parses a CSV file; throws std::invalid_argument if it cannot be opened or is empty.
Table read_csv(const std::string& path);

/// Reads share `part` of `parts` of a CSV file without parsing the other shares: the header and
/// the records that start in the part-th of `parts` equal byte ranges of the rows, so that the
/// shares of parts = 0 .. parts - 1, in order, are the file's rows once each. Needs records
/// without line breaks inside quoted fields.
Table read_csv_share(const std::string& path, int part, int parts);

/// Removes a first column with an empty header, the row index that pandas' DataFrame.to_csv
/// writes by default; returns whether there was one. Other columns with empty headers stay.
bool drop_index_column(Table& table);

/// True for the cells R and spreadsheets write for a missing value: empty or `NA`.
bool is_missing(const std::string& cell);

/// Parses a whole cell as a finite or non-finite double ("1", "-2.5e3", " 3 ", "Inf", "NaN");
/// nullopt when the cell is not a number at all.
std::optional<double> parse_number(const std::string& cell);

/// Rows (0-based data row indices) with a missing value in any of the given columns.
std::vector<int64_t> rows_with_missing(const Table& table, const std::vector<std::string>& columns);

/// Throws std::invalid_argument naming the first missing cell: "missing value (NA) in column
/// 'V3' at row 12" (the row's `row_number`: 1-based data rows, as a user counts them below the
/// header).
void check_no_missing(const Table& table, const std::vector<std::string>& columns);

/// Writes a table as CSV, quoting cells that need it.
std::string to_csv(const Table& table);

}  // namespace boosthead::data
