// CSV tables with a header line (the ATLAS HiggsML 2014 challenge files and the
// like): comma-separated, optional double quotes ("" inside quotes is one quote,
// no line breaks inside cells), CRLF or LF line ends, blank lines ignored.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>

#include "TableSources.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::io::table {

namespace {

constexpr uint64_t kIndexStride = 1024;  // rows between two entries of the line index

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

std::string_view trim_view(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Splits one line into cells (reusing `cells`' strings); returns the number of
// cells, or -1 if a quoted cell is not closed on this line.
long split_cells(std::string_view line, std::vector<std::string>& cells) {
  std::size_t n = 0, i = 0;
  const std::size_t len = line.size();
  while (true) {
    if (cells.size() <= n) cells.emplace_back();
    std::string& cell = cells[n++];
    cell.clear();
    std::size_t j = i;
    while (j < len && (line[j] == ' ' || line[j] == '\t')) ++j;
    if (j < len && line[j] == '"') {
      i = j + 1;
      bool closed = false;
      while (i < len) {
        if (line[i] == '"') {
          if (i + 1 < len && line[i + 1] == '"') {
            cell.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        cell.push_back(line[i++]);
      }
      if (!closed) return -1;
      while (i < len && line[i] != ',') ++i;  // anything after the closing quote is ignored
    } else {
      const std::size_t comma = line.find(',', i);
      const std::size_t stop = comma == std::string_view::npos ? len : comma;
      cell.assign(trim_view(line.substr(i, stop - i)));
      i = stop;
    }
    if (i >= len) break;
    ++i;  // the comma
  }
  return long(n);
}

// Parses a number as Python's float() does for plain decimals (correctly rounded
// to float64); an empty cell is NaN. False if the cell is not a number.
bool parse_number(std::string_view s, double& v) {
  s = trim_view(s);
  if (s.empty()) {
    v = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  std::string_view body = s;
  if (body.size() > 1 && body[0] == '+' && body[1] != '-' && body[1] != '+') body.remove_prefix(1);
  const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (end != body.data() + body.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // Overflow to +-inf, underflow to (signed) zero or a subnormal, as strtod does.
    const std::string copy(body);
    v = std::strtod(copy.c_str(), nullptr);
    return true;
  }
  return ec == std::errc();
}

std::string ordinal(std::size_t i) {
  const std::size_t n = i + 1;
  const char* suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th"
                       : n % 10 == 1                    ? "st"
                       : n % 10 == 2                    ? "nd"
                       : n % 10 == 3                    ? "rd"
                                                        : "th";
  return fmt::format("{}{}", n, suffix);
}

struct CsvSource final : TableReader::Source {
  std::string file_name;
  uint64_t header_line = 0;
  std::vector<uint64_t> offsets, lines;  // byte offset and line number (1-based) of row k * kIndexStride
  mutable std::ifstream in;
  mutable std::vector<std::string> cells;

  // Calls f(row, line_number, text) for the rows [begin, end), in order.
  template <typename F>
  void for_rows(uint64_t begin, uint64_t end, F&& f) const {
    if (begin >= end) return;
    const uint64_t k = begin / kIndexStride;
    uint64_t row = k * kIndexStride, line_no = lines[k] - 1;
    in.clear();
    in.seekg(std::streamoff(offsets[k]));
    std::string text;
    while (row < end && std::getline(in, text)) {
      ++line_no;
      if (is_blank(text)) continue;
      if (!text.empty() && text.back() == '\r') text.pop_back();
      if (row >= begin) f(row, line_no, std::string_view(text));
      ++row;
    }
    if (row < end)
      throw InputError(fmt::format("{}: ended after {} data rows, expected {} (did the file change while being read?)",
                                   file_name, row, rows));
  }

  std::string where(uint64_t row) const override {
    uint64_t found = 0;
    try {
      for_rows(row, row + 1, [&](uint64_t, uint64_t line_no, std::string_view) { found = line_no; });
    } catch (const Error&) {
    }
    return found ? fmt::format("line {}", found) : fmt::format("data row {}", row);
  }

  void read(const std::vector<std::size_t>& index, uint64_t begin, uint64_t end,
            std::vector<TableColumn>& out) const override {
    const uint64_t n = end - begin;
    for (std::size_t k = 0; k < index.size(); ++k) {
      if (out[k].kind == ColumnKind::text)
        out[k].text.resize(n);
      else
        out[k].real.resize(n);
    }
    for_rows(begin, end, [&](uint64_t row, uint64_t line_no, std::string_view text) {
      const long count = split_cells(text, cells);
      if (count < 0)
        throw InputError(
            fmt::format("{}: line {}: a quoted cell is not closed (cells cannot span lines)", file_name, line_no));
      if (std::size_t(count) != columns.size())
        throw InputError(fmt::format("{}: line {} has {} cells, but the header (line {}) names {} columns", file_name,
                                     line_no, count, header_line, columns.size()));
      const uint64_t i = row - begin;
      for (std::size_t k = 0; k < index.size(); ++k) {
        const std::size_t c = index[k];
        if (out[k].kind == ColumnKind::text) {
          out[k].text[i] = cells[c];
        } else if (!parse_number(cells[c], out[k].real[i])) {
          throw InputError(fmt::format("{}: line {}, column '{}' ({} column): '{}' is not a number", file_name, line_no,
                                       columns[c].name, ordinal(c), cells[c]));
        }
      }
    });
  }
};

// Rank 0's scan: header, kinds from the first data row, cells per line, index.
// Returns "" or the error message.
std::string scan(CsvSource& src) {
  std::ifstream in(src.file_name, std::ios::binary);
  if (!in) return fmt::format("{}: cannot open for reading", src.file_name);
  std::string text;
  uint64_t offset = 0, line_no = 0;
  bool have_header = false;
  std::vector<std::string>& cells = src.cells;
  while (std::getline(in, text)) {
    const uint64_t line_start = offset;
    offset += text.size() + 1;
    ++line_no;
    if (line_no == 1) {
      if (text.size() >= 2 && uint8_t(text[0]) == 0x1f && uint8_t(text[1]) == 0x8b)
        return fmt::format("{}: gzip-compressed; decompress it first (gunzip)", src.file_name);
      if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 byte-order mark
    }
    if (text.find('\0') != std::string::npos)
      return fmt::format("{}: line {} holds a NUL byte: not a text (CSV) file", src.file_name, line_no);
    if (is_blank(text)) continue;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    const long count = split_cells(text, cells);
    if (count < 0)
      return fmt::format("{}: line {}: a quoted cell is not closed (cells cannot span lines)", src.file_name, line_no);
    if (!have_header) {
      have_header = true;
      src.header_line = line_no;
      for (long c = 0; c < count; ++c) {
        if (cells[std::size_t(c)].empty())
          return fmt::format("{}: line {} (the header): the {} column has no name", src.file_name, line_no,
                             ordinal(std::size_t(c)));
        if (cells[std::size_t(c)].find('\n') != std::string::npos)
          return fmt::format("{}: line {} (the header): a column name holds a line break", src.file_name, line_no);
        TableColumnInfo info;
        info.name = cells[std::size_t(c)];
        info.dtype = "number";
        src.columns.push_back(info);
      }
      continue;
    }
    if (std::size_t(count) != src.columns.size())
      return fmt::format("{}: line {} has {} cells, but the header (line {}) names {} columns", src.file_name, line_no,
                         count, src.header_line, src.columns.size());
    if (src.rows == 0) {
      for (std::size_t c = 0; c < src.columns.size(); ++c) {
        double v;
        if (!parse_number(cells[c], v)) {
          src.columns[c].kind = ColumnKind::text;
          src.columns[c].dtype = "text";
        }
      }
    }
    if (src.rows % kIndexStride == 0) {
      src.offsets.push_back(line_start);
      src.lines.push_back(line_no);
    }
    ++src.rows;
  }
  if (!have_header) return fmt::format("{}: empty file: expected a header line with the column names", src.file_name);
  return "";
}

}  // namespace

std::unique_ptr<TableReader::Source> open_csv(const dist::Communicator& comm, const std::filesystem::path& path) {
  auto src = std::make_unique<CsvSource>();
  src->file_name = path.string();
  std::string problem, names, kinds;
  std::vector<uint64_t> meta;
  if (comm.is_root()) {
    problem = scan(*src);
    if (problem.empty()) {
      std::vector<std::string> n;
      for (const auto& c : src->columns) {
        n.push_back(c.name);
        kinds.push_back(c.kind == ColumnKind::text ? 't' : 'n');
      }
      names = join(n, "\n");
      meta = {src->rows, src->header_line};
      for (std::size_t k = 0; k < src->offsets.size(); ++k) {
        meta.push_back(src->offsets[k]);
        meta.push_back(src->lines[k]);
      }
    }
  }
  comm.broadcast(problem);
  if (!problem.empty()) throw InputError(problem);
  if (!comm.is_root()) {
    comm.broadcast(names);
    comm.broadcast(kinds);
    comm.broadcast(meta);
    std::vector<std::string> n;  // not bsmhunt::split, which trims
    for (std::size_t start = 0;;) {
      const std::size_t pos = names.find('\n', start);
      n.push_back(names.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
      if (pos == std::string::npos) break;
      start = pos + 1;
    }
    for (std::size_t c = 0; c < n.size(); ++c) {
      TableColumnInfo info;
      info.name = n[c];
      info.kind = kinds[c] == 't' ? ColumnKind::text : ColumnKind::floating;
      info.dtype = kinds[c] == 't' ? "text" : "number";
      src->columns.push_back(info);
    }
    src->rows = meta[0];
    src->header_line = meta[1];
    for (std::size_t k = 2; k + 1 < meta.size(); k += 2) {
      src->offsets.push_back(meta[k]);
      src->lines.push_back(meta[k + 1]);
    }
  } else {
    comm.broadcast(names);
    comm.broadcast(kinds);
    comm.broadcast(meta);
  }
  src->in.open(path, std::ios::binary);
  if (!src->in) throw InputError(fmt::format("{}: cannot open for reading", src->file_name));
  return src;
}

}  // namespace bsmhunt::io::table
