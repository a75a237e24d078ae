#pragma once
// Internal: a data-parallel `fit` (torchrun ... boosthead fit): each process reads its share of
// the rows, and the processes agree on what depends on all rows (the target's task and classes,
// the columns' encodings) before training, so every process encodes alike.

#include <boosthead/collective.h>
#include <boosthead/data/csv.h>
#include <boosthead/data/encoder.h>

#include <string>
#include <vector>

namespace boosthead::cli {

// This process's rows: the file `data` with "{rank}" replaced by the rank, or, without
// "{rank}", the rank-th of equal byte ranges of one file (read_csv_share).
data::Table read_share(const std::string& data, const Collective& group);

// fit_target over all processes' rows.
data::TargetEncoding agree_target(data::Table& table, const std::string& column,
                                  const std::string& task, Collective& group);

// FeatureEncoder::fit over all processes' rows.
data::FeatureEncoder agree_encoder(data::Table& table, const std::vector<std::string>& columns,
                                   Collective& group);

// Gives later errors the file's row numbers: the rows of lower ranks come first.
void number_rows_globally(data::Table& table, Collective& group);

}  // namespace boosthead::cli
