#include <boosthead/data/csv.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>

#include "test_helpers.h"

namespace bd = boosthead::data;
using boosthead::test::data_path;
using boosthead::test::TempDir;

TEST(Csv, ParsesSimpleTable) {
  const auto t = bd::parse_csv("a,b,c\n1,2,3\n4,5,6\n", "x.csv");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(t.num_rows(), 2);
  EXPECT_EQ(t.num_columns(), 3);
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"4", "5", "6"}));
  EXPECT_EQ(t.source, "x.csv");
}

TEST(Csv, DefaultSourceIsString) { EXPECT_EQ(bd::parse_csv("a\n1\n").source, "<string>"); }

TEST(Csv, QuotedFieldsWithCommasQuotesAndNewlines) {
  const auto t = bd::parse_csv(
      "\"name\",\"note\"\n\"a,b\",\"say \"\"hi\"\"\"\n\"multi\nline\",\"\"\n", "q.csv");
  ASSERT_EQ(t.num_rows(), 2);
  EXPECT_EQ(t.rows[0][0], "a,b");
  EXPECT_EQ(t.rows[0][1], "say \"hi\"");
  EXPECT_EQ(t.rows[1][0], "multi\nline");
  EXPECT_EQ(t.rows[1][1], "");
}

TEST(Csv, CrlfAndLfAndNoTrailingNewline) {
  const auto crlf = bd::parse_csv("a,b\r\n1,2\r\n3,4\r\n");
  const auto lf = bd::parse_csv("a,b\n1,2\n3,4");
  EXPECT_EQ(crlf.columns, lf.columns);
  EXPECT_EQ(crlf.rows, lf.rows);
  ASSERT_EQ(lf.num_rows(), 2);
  EXPECT_EQ(lf.rows[1][1], "4");
}

TEST(Csv, CrlfInsideQuotesIsKept) {
  const auto t = bd::parse_csv("a,b\r\n\"x\r\ny\",2\r\n");
  ASSERT_EQ(t.num_rows(), 1);
  EXPECT_EQ(t.rows[0][0], "x\r\ny");
}

TEST(Csv, StripsUtf8Bom) {
  const auto t = bd::parse_csv("\xEF\xBB\xBF\"id\",v\n1,2\n");
  EXPECT_EQ(t.columns[0], "id");
  EXPECT_TRUE(t.has_column("id"));
}

TEST(Csv, EmptyFieldsAndTrailingBlankLines) {
  const auto t = bd::parse_csv("a,b,c\n,,\n1,,3\n\n\n");
  ASSERT_EQ(t.num_rows(), 2);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(t.rows[1][1], "");
}

TEST(Csv, HeaderOnlyGivesZeroRows) {
  const auto t = bd::parse_csv("a,b\n", "h.csv");
  EXPECT_EQ(t.num_rows(), 0);
  EXPECT_EQ(t.num_columns(), 2);
  const auto no_newline = bd::parse_csv("a,b");
  EXPECT_EQ(no_newline.num_rows(), 0);
}

TEST(Csv, EmptyInputThrows) {
  EXPECT_ERROR_HAS(bd::parse_csv("", "x.csv"), "x.csv: empty file");
  EXPECT_ERROR_HAS(bd::parse_csv("\xEF\xBB\xBF", "x.csv"), "x.csv: empty file");
  EXPECT_ERROR_HAS(bd::parse_csv("\r\n\n", "x.csv"), "x.csv: empty file");
}

TEST(Csv, RaggedRowNamesRowLineAndCounts) {
  EXPECT_ERROR_HAS(bd::parse_csv("a,b,c\n1,2,3\n4,5\n", "x.csv"),
                   "x.csv: row 2 has 2 fields, expected 3 (line 3)");
  EXPECT_ERROR_HAS(bd::parse_csv("a,b\n1,2,3\n", "x.csv"),
                   "row 1 has 3 fields, expected 2 (line 2)");
  // Line numbers count line breaks inside quoted fields.
  EXPECT_ERROR_HAS(bd::parse_csv("a,b\n\"x\ny\",1\n1\n", "x.csv"),
                   "row 2 has 1 fields, expected 2 (line 4)");
}

TEST(Csv, UnterminatedQuoteNamesStartLine) {
  EXPECT_ERROR_HAS(bd::parse_csv("a,b\n1,2\n\"open,3\n4,5\n", "x.csv"),
                   "x.csv: unterminated quoted field starting at line 3");
}

TEST(Csv, JunkAfterClosingQuoteThrows) {
  EXPECT_ERROR_HAS(bd::parse_csv("a,b\n\"x\"y,2\n", "x.csv"), "line 2");
}

TEST(Csv, StrayQuoteInsideUnquotedFieldIsLiteral) {
  const auto t = bd::parse_csv("h\n5'11\"\n");
  ASSERT_EQ(t.num_rows(), 1);
  EXPECT_EQ(t.rows[0][0], "5'11\"");
}

TEST(Csv, DuplicateColumnNamesThrow) {
  EXPECT_ERROR_HAS(bd::parse_csv("a,b,a\n1,2,3\n", "d.csv"), "duplicate column name 'a'");
}

TEST(Csv, ColumnLookup) {
  const auto t = bd::parse_csv("a,b,c\n1,2,3\n4,5,6\n", "x.csv");
  EXPECT_EQ(t.column_index("c"), 2);
  EXPECT_TRUE(t.has_column("b"));
  EXPECT_FALSE(t.has_column("B"));
  EXPECT_EQ(t.column("b"), (std::vector<std::string>{"2", "5"}));
  EXPECT_ERROR_HAS(t.column_index("foo"), "unknown column 'foo' in x.csv; columns are: a, b, c");
  EXPECT_ERROR_HAS(t.column("foo"), "unknown column 'foo'");
}

TEST(Csv, SelectRows) {
  const auto t = bd::parse_csv("a\n0\n1\n2\n3\n", "s.csv");
  const auto s = t.select_rows({3, 0, 3});
  EXPECT_EQ(s.columns, t.columns);
  EXPECT_EQ(s.source, "s.csv");
  ASSERT_EQ(s.num_rows(), 3);
  EXPECT_EQ(s.rows[0][0], "3");
  EXPECT_EQ(s.rows[1][0], "0");
  EXPECT_EQ(s.select_rows({}).num_rows(), 0);
  EXPECT_THROW(t.select_rows({4}), std::out_of_range);
  EXPECT_THROW(t.select_rows({-1}), std::out_of_range);
}

TEST(Csv, SelectRowsKeepsFileRowNumbers) {
  const auto t = bd::parse_csv("a,b\n0,x\nNA,y\n2,\n3,w\n", "s.csv");
  EXPECT_EQ(t.row_number(2), 3);
  const auto s = t.select_rows({3, 0, 2});
  EXPECT_EQ(s.row_numbers, (std::vector<int64_t>{4, 1, 3}));
  EXPECT_EQ(s.select_rows({2}).row_number(0), 3);
  EXPECT_ERROR_HAS(bd::check_no_missing(s, {"a", "b"}), "column 'b' at row 3");
}

TEST(Csv, DropsTheIndexColumnPandasWrites) {
  auto t = bd::parse_csv(",a,b\n0,1,\"x\"\n1,2,\"y\"\n", "p.csv");
  EXPECT_TRUE(bd::drop_index_column(t));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"2", "y"}));
  EXPECT_FALSE(t.is_quoted(0));
  EXPECT_TRUE(t.is_quoted(1));
  EXPECT_FALSE(bd::drop_index_column(t));  // named first columns stay
  auto u = bd::parse_csv("a,\n1,2\n", "u.csv");
  EXPECT_FALSE(bd::drop_index_column(u));
  EXPECT_EQ(u.num_columns(), 2);
}

TEST(Csv, IsMissing) {
  EXPECT_TRUE(bd::is_missing(""));
  EXPECT_TRUE(bd::is_missing("NA"));
  EXPECT_TRUE(bd::is_missing(" NA "));
  EXPECT_TRUE(bd::is_missing("  "));
  EXPECT_FALSE(bd::is_missing("na"));
  EXPECT_FALSE(bd::is_missing("NaN"));
  EXPECT_FALSE(bd::is_missing("0"));
}

TEST(Csv, ParseNumberAcceptsWholeCells) {
  EXPECT_EQ(bd::parse_number("1"), 1.0);
  EXPECT_EQ(bd::parse_number("-2.5e3"), -2500.0);
  EXPECT_EQ(bd::parse_number(" 3 "), 3.0);
  EXPECT_EQ(bd::parse_number("+4.5"), 4.5);
  EXPECT_EQ(bd::parse_number(".5"), 0.5);
  EXPECT_EQ(bd::parse_number("5."), 5.0);
  EXPECT_EQ(bd::parse_number("0.00632"), 0.00632);
  EXPECT_EQ(bd::parse_number("\t7\t"), 7.0);
}

TEST(Csv, ParseNumberNonFiniteSpellings) {
  for (const char* s : {"Inf", "inf", "-Inf", "+Inf", "Infinity", "1e400", "-1e400"}) {
    const auto v = bd::parse_number(s);
    ASSERT_TRUE(v.has_value()) << s;
    EXPECT_TRUE(std::isinf(*v)) << s;
  }
  EXPECT_LT(*bd::parse_number("-Inf"), 0.0);
  EXPECT_LT(*bd::parse_number("-1e400"), 0.0);
  for (const char* s : {"NaN", "nan", "NAN"}) {
    const auto v = bd::parse_number(s);
    ASSERT_TRUE(v.has_value()) << s;
    EXPECT_TRUE(std::isnan(*v)) << s;
  }
  const auto tiny = bd::parse_number("1e-400");
  ASSERT_TRUE(tiny.has_value());
  EXPECT_EQ(*tiny, 0.0);
}

TEST(Csv, ParseNumberRejectsPartialOrOtherText) {
  for (const char* s : {"", " ", "NA", "abc", "1abc", "1 2", "1,5", "--1", "+-1", "+", "-", ".",
                        "e5", "1e", "0x10", "pos", "grey soil"}) {
    EXPECT_FALSE(bd::parse_number(s).has_value()) << "'" << s << "'";
  }
}

TEST(Csv, RowsWithMissingAndCheckNoMissing) {
  const auto t = bd::parse_csv("a,b,c\n1,NA,3\n4,5,6\n,8,9\n7,8,NA\n", "m.csv");
  EXPECT_EQ(bd::rows_with_missing(t, {"a", "b"}), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(bd::rows_with_missing(t, {"c"}), (std::vector<int64_t>{3}));
  EXPECT_TRUE(bd::rows_with_missing(t, {}).empty());
  EXPECT_ERROR_HAS(bd::check_no_missing(t, {"b"}), "missing value (NA) in column 'b' at row 1");
  EXPECT_ERROR_HAS(bd::check_no_missing(t, {"a"}), "in column 'a' at row 3");
  EXPECT_ERROR_HAS(bd::check_no_missing(t, {"zz"}), "unknown column 'zz'");
  const auto clean = t.select_rows({1});
  EXPECT_NO_THROW(bd::check_no_missing(clean, {"a", "b", "c"}));
}

TEST(Csv, ToCsvRoundTrips) {
  bd::Table t;
  t.columns = {"plain", "with,comma", "quote\"d"};
  t.rows = {{"1", "a,b", "say \"x\""}, {"", "multi\nline", " padded "}, {"NA", "\r\n", "z"}};
  t.source = "orig";
  const std::string text = bd::to_csv(t);
  EXPECT_EQ(text.substr(0, text.find('\n')), "plain,\"with,comma\",\"quote\"\"d\"");
  const auto back = bd::parse_csv(text);
  EXPECT_EQ(back.columns, t.columns);
  EXPECT_EQ(back.rows, t.rows);
}

TEST(Csv, ToCsvKeepsEmptyCellsOfSingleColumnTables) {
  bd::Table t;
  t.columns = {"only"};
  t.rows = {{"1"}, {""}, {"3"}};
  const auto back = bd::parse_csv(bd::to_csv(t));
  EXPECT_EQ(back.rows, t.rows);
}

// Found by fuzz/csv_fuzz: a byte order mark that is not at the start of the text (here after a
// blank line) belongs to the first column name, and writing it back must keep it there.
TEST(Csv, ToCsvKeepsAByteOrderMarkInTheFirstColumnName) {
  const auto t = bd::parse_csv(
      "\r\xEF\xBB\xBF"
      "a,b\n1,2\n");
  ASSERT_EQ(t.columns, (std::vector<std::string>{"\xEF\xBB\xBF"
                                                 "a",
                                                 "b"}));
  const auto back = bd::parse_csv(bd::to_csv(t));
  EXPECT_EQ(back.columns, t.columns);
  EXPECT_EQ(back.rows, t.rows);
}

TEST(Csv, ReadCsvMissingFile) {
  EXPECT_ERROR_HAS(bd::read_csv("/nonexistent/dir/none.csv"),
                   "cannot open CSV file '/nonexistent/dir/none.csv'");
}

TEST(Csv, ReadCsvFromDiskUsesPathAsSource) {
  TempDir dir;
  const auto path = dir.file("bad.csv");
  {
    std::ofstream out(path, std::ios::binary);
    out << "\xEF\xBB\xBFx,y\r\n1,2\r\n3\r\n";
  }
  EXPECT_ERROR_HAS(bd::read_csv(path), path + ": row 2 has 1 fields, expected 2 (line 3)");
  { std::ofstream out(path, std::ios::binary | std::ios::trunc); }
  EXPECT_ERROR_HAS(bd::read_csv(path), path + ": empty file");
}

TEST(Csv, ReadsEveryBundledDataset) {
  struct Expect {
    const char* file;
    int64_t rows;
    int64_t cols;
    const char* first_column;
  };
  const Expect expected[] = {
      {"BostonHousing.csv", 506, 14, "crim"}, {"Glass.csv", 214, 10, "RI"},
      {"Ionosphere.csv", 351, 35, "V1"},      {"PimaIndiansDiabetes.csv", 768, 9, "pregnant"},
      {"Satellite.csv", 6435, 37, "x.1"},     {"Servo.csv", 167, 5, "Motor"},
      {"Sonar.csv", 208, 61, "V1"},           {"Vehicle.csv", 846, 19, "Comp"},
  };
  for (const auto& e : expected) {
    SCOPED_TRACE(e.file);
    const auto t = bd::read_csv(data_path(e.file));
    EXPECT_EQ(t.num_rows(), e.rows);
    EXPECT_EQ(t.num_columns(), e.cols);
    EXPECT_EQ(t.columns.front(), e.first_column);
    EXPECT_NE(t.source.find(e.file), std::string::npos);
  }
}

TEST(Csv, ServoCellsAreUnquoted) {
  const auto t = bd::read_csv(data_path("Servo.csv"));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"Motor", "Screw", "Pgain", "Vgain", "Class"}));
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"E", "E", "5", "4", "4"}));
}

TEST(Csv, TracksColumnsWrittenQuoted) {
  const auto t = bd::parse_csv("a,b,c,d\n\"1\",2,\"x\",NA\n\"3\",\"4\",NA,NA\n");
  ASSERT_EQ(t.quoted.size(), 4u);
  EXPECT_TRUE(t.is_quoted(0));   // every cell quoted
  EXPECT_FALSE(t.is_quoted(1));  // mixed
  EXPECT_TRUE(t.is_quoted(2));   // missing cells do not count against it
  EXPECT_FALSE(t.is_quoted(3));  // no values at all
  EXPECT_TRUE(t.select_rows({1}).is_quoted(0));
}
