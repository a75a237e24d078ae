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
  /// column for: a missing column, a missing cell, a non-number in a numeric column, NaN or Inf,
  /// or a level the encoder has not seen.
  torch::Tensor transform(const Table& table) const;

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
};

/// Decides the task for a target column: classification if `task` is "classification", or if
/// `task` is empty and any non-missing cell is not a number or the column was written quoted
/// (an R factor such as Glass's "1", "2"); regression otherwise. For
/// classification, collects the sorted class names. Throws for an unknown task string, for a
/// regression target with non-numeric cells, and for fewer than two classes.
TargetEncoding fit_target(const Table& table, const std::string& column,
                          const std::string& task = "");

/// Encodes the target column: int64 labels (N) for classification, float64 values (N) for
/// regression. Throws std::invalid_argument naming the row for an unknown class, a missing cell
/// or a non-finite value.
torch::Tensor encode_target(const Table& table, const std::string& column,
                            const TargetEncoding& enc);

}  // namespace boosthead::data
