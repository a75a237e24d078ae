#include <boosthead/data/csv.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

namespace boosthead::data {

namespace {

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

struct Record {
  std::vector<std::string> fields;
  std::vector<bool> quoted;
  int64_t line = 0;  // 1-based physical line where the record starts
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& source) : text_(text), source_(source) {
    if (text_.size() >= 3 && text_.compare(0, 3, "\xEF\xBB\xBF") == 0) pos_ = 3;
  }

  // Returns false at end of input. Lines holding nothing at all are skipped, so a trailing
  // blank line (or several) does not turn into a one-field record.
  bool next(Record& rec) {
    while (pos_ < text_.size() && at_line_end()) consume_line_end();
    if (pos_ >= text_.size()) return false;

    rec.fields.clear();
    rec.quoted.clear();
    rec.line = line_;
    std::string field;
    while (true) {
      field.clear();
      const bool quoted = pos_ < text_.size() && text_[pos_] == '"';
      rec.quoted.push_back(quoted);
      if (quoted) {
        read_quoted(field);
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && !at_line_end()) field += text_[pos_++];
      }
      rec.fields.push_back(field);
      if (pos_ >= text_.size()) return true;
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      consume_line_end();
      return true;
    }
  }

 private:
  bool at_line_end() const { return text_[pos_] == '\n' || text_[pos_] == '\r'; }

  void consume_line_end() {
    if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    ++line_;
  }

  void read_quoted(std::string& field) {
    const int64_t start_line = line_;
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size()) {
        throw std::invalid_argument(
            fmt::format("{}: unterminated quoted field starting at line {}", source_, start_line));
      }
      const char c = text_[pos_];
      if (c == '"') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
          field += '"';
          pos_ += 2;
          continue;
        }
        ++pos_;
        break;
      }
      if (c == '\r' || c == '\n') {
        // Keep embedded line breaks as written but count them so later line numbers stay right.
        if (c == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') field += text_[pos_++];
        field += text_[pos_++];
        ++line_;
        continue;
      }
      field += c;
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] != ',' && !at_line_end()) {
      throw std::invalid_argument(
          fmt::format("{}: unexpected character '{}' after the closing quote of a field at line {}",
                      source_, text_[pos_], line_));
    }
  }

  const std::string& text_;
  const std::string& source_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

bool needs_quotes(const std::string& cell) {
  if (cell.empty()) return false;
  if (is_blank(cell.front()) || is_blank(cell.back())) return true;
  // At the start of the text the reader would take it for a byte order mark and drop it.
  if (cell.compare(0, 3, "\xEF\xBB\xBF") == 0) return true;
  return cell.find_first_of(",\"\r\n") != std::string::npos;
}

void append_cell(std::string& out, const std::string& cell, bool single_column) {
  // A lone empty cell would be an empty line, which the reader skips; quote it to keep the row.
  if (needs_quotes(cell) || (single_column && cell.empty())) {
    out += '"';
    for (char c : cell) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  } else {
    out += cell;
  }
}

}  // namespace

int64_t Table::column_index(const std::string& name) const {
  auto it = std::find(columns.begin(), columns.end(), name);
  if (it == columns.end()) {
    throw std::invalid_argument(
        fmt::format("unknown column '{}' in {}; columns are: {}", name, source, join(columns)));
  }
  return static_cast<int64_t>(it - columns.begin());
}

bool Table::has_column(const std::string& name) const {
  return std::find(columns.begin(), columns.end(), name) != columns.end();
}

std::vector<std::string> Table::column(const std::string& name) const {
  const auto idx = static_cast<size_t>(column_index(name));
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(row[idx]);
  return out;
}

Table Table::select_rows(const std::vector<int64_t>& indices) const {
  Table out;
  out.columns = columns;
  out.source = source;
  out.quoted = quoted;
  out.rows.reserve(indices.size());
  out.row_numbers.reserve(indices.size());
  for (int64_t i : indices) {
    if (i < 0 || i >= num_rows()) {
      throw std::out_of_range(
          fmt::format("row index {} out of range for {} with {} rows", i, source, num_rows()));
    }
    out.rows.push_back(rows[static_cast<size_t>(i)]);
    out.row_numbers.push_back(row_number(i));
  }
  return out;
}

Table parse_csv(const std::string& text, const std::string& source) {
  Parser parser(text, source);
  Record rec;
  if (!parser.next(rec)) throw std::invalid_argument(fmt::format("{}: empty file", source));

  Table table;
  table.source = source;
  table.columns = std::move(rec.fields);
  std::unordered_set<std::string> seen;
  for (const auto& name : table.columns) {
    if (!seen.insert(name).second) {
      throw std::invalid_argument(fmt::format(
          "{}: duplicate column name '{}' in the header (line {})", source, name, rec.line));
    }
  }

  const size_t expected = table.columns.size();
  std::vector<bool> all_quoted(expected, true), any_value(expected, false);
  while (parser.next(rec)) {
    if (rec.fields.size() != expected) {
      throw std::invalid_argument(fmt::format("{}: row {} has {} fields, expected {} (line {})",
                                              source, table.rows.size() + 1, rec.fields.size(),
                                              expected, rec.line));
    }
    for (size_t c = 0; c < expected; ++c) {
      if (is_missing(rec.fields[c])) continue;
      any_value[c] = true;
      if (!rec.quoted[c]) all_quoted[c] = false;
    }
    table.rows.push_back(std::move(rec.fields));
    rec.fields = {};
  }
  table.quoted.resize(expected);
  for (size_t c = 0; c < expected; ++c) table.quoted[c] = all_quoted[c] && any_value[c];
  return table;
}

Table read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(fmt::format("cannot open CSV file '{}'", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw std::invalid_argument(fmt::format("cannot read CSV file '{}'", path));
  return parse_csv(buffer.str(), path);
}

Table read_csv_share(const std::string& path, int part, int parts) {
  if (parts < 1 || part < 0 || part >= parts) {
    throw std::invalid_argument(fmt::format("share {} of {} does not exist", part, parts));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(fmt::format("cannot open CSV file '{}'", path));
  std::string header;
  std::getline(in, header);
  if (in.bad() || (in.eof() && header.empty())) {
    throw std::invalid_argument(fmt::format("CSV file '{}' is empty", path));
  }
  const auto body = static_cast<int64_t>(in.tellg() < 0 ? 0 : static_cast<int64_t>(in.tellg()));
  in.seekg(0, std::ios::end);
  const auto size = static_cast<int64_t>(in.tellg());
  // Byte range of the share; its records are those that start inside it.
  const int64_t begin = body + (size - body) * part / parts;
  const int64_t end = body + (size - body) * (part + 1) / parts;
  auto record_start = [&](int64_t at) {
    if (at <= body || at >= size) return std::min(std::max(at, body), size);
    in.clear();
    in.seekg(at - 1);
    std::string rest;
    std::getline(in, rest);  // the record under way at `at`, up to its line end
    return in.eof() ? size : at - 1 + static_cast<int64_t>(rest.size()) + 1;
  };
  const int64_t from = record_start(begin), to = record_start(end);
  std::string text = header + "\n";
  if (to > from) {
    in.clear();
    in.seekg(from);
    std::string rows(static_cast<size_t>(to - from), '\0');
    in.read(rows.data(), to - from);
    if (!in) throw std::invalid_argument(fmt::format("cannot read CSV file '{}'", path));
    text += rows;
  }
  return parse_csv(text, parts == 1 ? path : fmt::format("{} (share {} of {})", path, part, parts));
}

bool drop_index_column(Table& table) {
  if (table.columns.empty() || !table.columns.front().empty()) return false;
  table.columns.erase(table.columns.begin());
  for (auto& row : table.rows) row.erase(row.begin());
  if (!table.quoted.empty()) table.quoted.erase(table.quoted.begin());
  return true;
}

bool is_missing(const std::string& cell) {
  const auto t = trim(cell);
  return t.empty() || t == "NA";
}

std::optional<double> parse_number(const std::string& cell) {
  auto t = trim(cell);
  if (t.empty()) return std::nullopt;
  // from_chars is locale-independent but rejects a leading '+', which strtod accepts.
  std::string_view body = t;
  if (body.front() == '+') {
    body.remove_prefix(1);
    if (body.empty() || body.front() == '-' || body.front() == '+') return std::nullopt;
  }
  double value = 0.0;
  const auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), value);
  if (ptr != body.data() + body.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves the value untouched; strtod gives +-HUGE_VAL or the underflowed value.
    const std::string copy(t);
    return std::strtod(copy.c_str(), nullptr);
  }
  if (ec != std::errc()) return std::nullopt;
  return value;
}

std::vector<int64_t> rows_with_missing(const Table& table,
                                       const std::vector<std::string>& columns) {
  std::vector<size_t> idx;
  for (const auto& name : columns) idx.push_back(static_cast<size_t>(table.column_index(name)));
  std::vector<int64_t> out;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    if (std::any_of(idx.begin(), idx.end(), [&](size_t c) { return is_missing(row[c]); })) {
      out.push_back(static_cast<int64_t>(r));
    }
  }
  return out;
}

void check_no_missing(const Table& table, const std::vector<std::string>& columns) {
  std::vector<size_t> idx;
  for (const auto& name : columns) idx.push_back(static_cast<size_t>(table.column_index(name)));
  for (size_t r = 0; r < table.rows.size(); ++r) {
    for (size_t k = 0; k < idx.size(); ++k) {
      const auto& cell = table.rows[r][idx[k]];
      if (is_missing(cell)) {
        throw std::invalid_argument(
            fmt::format("{}: missing value ({}) in column '{}' at row {}", table.source,
                        trim(cell).empty() ? "empty cell" : "NA", columns[k],
                        table.row_number(static_cast<int64_t>(r))));
      }
    }
  }
}

std::string to_csv(const Table& table) {
  const bool single = table.columns.size() == 1;
  std::string out;
  auto write_row = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) out += ',';
      append_cell(out, cells[i], single);
    }
    out += '\n';
  };
  write_row(table.columns);
  for (const auto& row : table.rows) write_row(row);
  return out;
}

}  // namespace boosthead::data
