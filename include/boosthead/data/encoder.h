#pragma once
/// \file
/// Turns CSV columns into a numeric feature matrix and targets.

#include <boosthead/data/csv.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace boosthead::data {

/// How one input column becomes encoded feature columns.
struct ColumnEncoding {
  /// Column name in the CSV.
  std::string name;
  /// Numeric columns pass through; categorical ones become one 0/1 column per level.
  bool categorical = false;
  /// Levels of a categorical column, in encoded order (sorted, from the training data).
  std::vector<std::string> levels;
};

/// What to do with a level of a categorical column that training did not see.
enum class UnknownLevels {
  /// Encode it as no level (all zeros) and count it.
  Zeros,
  /// Throw std::invalid_argument naming the level, the column and the row.
  Error,
};

/// The rows of one column that hold levels training did not see.
struct UnknownLevelCount {
  std::string column;
  int64_t rows = 0;
  /// The first such level.
  std::string example;
};

/// Encodes feature columns: numbers as they are, text columns one-hot from the training levels.
/// Standardisation is not done here; it belongs to the model.
class FeatureEncoder {
 public:
  FeatureEncoder() = default;
  explicit FeatureEncoder(std::vector<ColumnEncoding> columns);

  /// Learns the encoding of `feature_columns` from a table: a column is numeric when every
  /// non-missing cell parses as a number and the column was not written quoted (an R factor),
  /// else categorical with its sorted distinct levels.
  static FeatureEncoder fit(const Table& table, const std::vector<std::string>& feature_columns);

  /// Encodes a table as an N x D float64 CPU tensor. Throws std::invalid_argument naming row and
  /// column for: a column missing from the table, a missing cell, a non-number in a numeric
  /// column, NaN or Inf. A level the encoder has not seen follows `unknown`; with Zeros, the
  /// affected columns and row counts are appended to `counts` when given.
  torch::Tensor transform(const Table& table, UnknownLevels unknown = UnknownLevels::Error,
                          std::vector<UnknownLevelCount>* counts = nullptr) const;
  /// Throws std::invalid_argument "<source>: column 'x' is missing from the file; <who> needs it
  /// (its input columns: ...)" for the first input column the table lacks.
  void check_columns(const Table& table, const std::string& who = "the model") const;

  /// Names of the encoded columns: the column name, or "name=level" for one-hot columns.
  std::vector<std::string> encoded_names() const;
  /// The per-column encodings, in input order.
  const std::vector<ColumnEncoding>& columns() const { return columns_; }
  /// Number of encoded columns D.
  int64_t num_encoded() const;

 private:
  std::vector<ColumnEncoding> columns_;
};

/// How the target column is read.
struct TargetEncoding {
  /// Classification (class names) or regression (numbers).
  bool classification = false;
  /// Class names in label order (sorted; numeric names sorted by value).
  std::vector<std::string> classes;
  /// Why this task: the rule that decided it, in words, for the user to see.
  std::string reason;
};

/// The most distinct values an integer target may have to be detected as classes.
constexpr int64_t kMaxDetectedClasses = 50;

/// Decides the task for a target column. A given `task` ("classification" or "regression")
/// wins. Otherwise the target is classification when any non-missing cell is not a number, when
/// the column was written quoted (an R factor such as Glass's "1", "2"), or when every value is
/// an integer with at most kMaxDetectedClasses distinct values and fewer distinct values than
/// half the rows (labels 0..K-1 or 1..7 written bare); regression otherwise. `reason` says
/// which rule decided. For classification, collects the sorted class names. Throws for an
/// unknown task string, for a regression target with non-numeric cells, and for fewer than two
/// classes.
TargetEncoding fit_target(const Table& table, const std::string& column,
                          const std::string& task = "");

/// Encodes the target column: int64 labels (N) for classification, float64 values (N) for
/// regression. Throws std::invalid_argument naming the row for an unknown class, a missing cell
/// or a non-finite value.
torch::Tensor encode_target(const Table& table, const std::string& column,
                            const TargetEncoding& enc);

}  // namespace boosthead::data
