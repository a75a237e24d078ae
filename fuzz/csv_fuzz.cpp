// CSV reader and encoders: any text either parses into a rectangular table that survives a
// to_csv round trip and encodes or fails with std::invalid_argument, or is itself rejected with
// std::invalid_argument. Any other exception or a crash is a finding.
#include <boosthead/data/csv.h>
#include <boosthead/data/encoder.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz_util.h"

namespace bd = boosthead::data;
using boosthead::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bd::Table table;
  try {
    table = bd::parse_csv(text, "<fuzz>");
  } catch (const std::invalid_argument&) {
    return 0;
  }
  check(!table.columns.empty(), "a table without columns");
  check(table.quoted.size() == table.columns.size(), "quoted flags do not match the columns");
  for (const auto& row : table.rows) check(row.size() == table.columns.size(), "a ragged row");

  const auto again = bd::parse_csv(bd::to_csv(table), "<round trip>");
  check(again.columns == table.columns, "to_csv changes the header");
  check(again.rows == table.rows, "to_csv changes the rows");

  try {
    bd::check_no_missing(table, table.columns);
    check(bd::rows_with_missing(table, table.columns).empty(), "missing cells disagree");
  } catch (const std::invalid_argument&) {
    check(!bd::rows_with_missing(table, table.columns).empty(), "missing cells disagree");
  }
  try {
    const auto encoder = bd::FeatureEncoder::fit(table, table.columns);
    const auto x = encoder.transform(table);
    check(x.size(0) == table.num_rows() && x.size(1) == encoder.num_encoded(),
          "encoded shape differs from the table");
  } catch (const std::invalid_argument&) {
  }
  try {
    const auto& target = table.columns.back();
    const auto encoding = bd::fit_target(table, target);
    const auto y = bd::encode_target(table, target, encoding);
    check(y.size(0) == table.num_rows(), "encoded target length differs from the table");
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
