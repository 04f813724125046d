#pragma once
// Flat tables written by other tools, read into named columns for a row range:
// pandas `DataFrame.to_hdf(path, key)` (fixed format), h5py files with one 1-D
// dataset per column, and CSV files with a header line (HiggsML 2014 style).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"

namespace bsmhunt::io {

enum class TableFormat {
  automatic,  // CSV unless the file is HDF5; HDF5 with a pandas object -> pandas, else h5py
  pandas,     // DataFrame.to_hdf(path, key), format='fixed' (pandas' default)
  h5py,       // one 1-D dataset per column in a group (--key) or the root
  csv,        // header line with the column names, one row per line, comma-separated
};
// "auto", "pandas", "h5py", "csv"; InputError (with a did-you-mean) otherwise.
TableFormat parse_table_format(std::string_view text);
std::string_view to_string(TableFormat f);

enum class ColumnKind {
  floating,     // float32/float64 (and every CSV number column)
  integer,      // signed or unsigned integers (uint64 values above 2^63 - 1 are refused when read)
  boolean,      // numpy bool (h5py enum, pandas/PyTables bitfield): 0 or 1
  text,         // strings (h5py fixed or variable length, CSV columns whose first value is not a number)
  unsupported,  // a column that exists but cannot be read: see TableColumnInfo::problem
};
std::string_view to_string(ColumnKind k);

struct TableColumnInfo {
  std::string name;
  ColumnKind kind = ColumnKind::floating;
  std::string dtype;    // as stored, e.g. "float64", "int64", "bool", "string", "object"
  std::string problem;  // why an unsupported column cannot be read
  bool numeric() const {
    return kind == ColumnKind::floating || kind == ColumnKind::integer || kind == ColumnKind::boolean;
  }
};

// The values of one column for a row range, in the type they were stored in.
struct TableColumn {
  ColumnKind kind = ColumnKind::floating;
  std::vector<double> real;       // floating
  std::vector<int64_t> integer;   // integer, boolean (0/1)
  std::vector<std::string> text;  // text
  std::size_t size() const;
  // The stored value as double (integers beyond 2^53 round).
  double as_double(std::size_t i) const;
  // float32 of the stored value with ONE rounding, as numpy's np.float32(x) does:
  // float32 sources are exact, float64 sources round to nearest float32, int64
  // sources convert directly. CSV numbers are first parsed to the nearest
  // float64, then rounded to float32 (np.float32(float(text))).
  float as_float(std::size_t i) const;
  // A name for the value: the string, or the number printed shortest-exact.
  std::string as_text(std::size_t i) const;
};

// Opens and validates a table. Collective (every rank constructs it with the same
// arguments): HDF5 inputs are opened read-only by every rank, a CSV file is
// scanned once by rank 0 (header, line count, cells per line, a sparse index of
// line offsets) and the result broadcast. Every problem is an InputError naming
// the file, the dataset or column, the row or line, and what was expected.
class TableReader {
 public:
  TableReader(const dist::Communicator& comm, std::filesystem::path path, TableFormat format, std::string key = "");
  ~TableReader();
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  const std::filesystem::path& path() const;
  TableFormat format() const;      // the resolved format (never automatic)
  const std::string& key() const;  // the group read ("" for CSV, "/" for the h5py root)
  uint64_t rows() const;
  const std::vector<TableColumnInfo>& columns() const;
  // nullptr if there is no such column.
  const TableColumnInfo* find(std::string_view name) const;
  // The column, or an InputError "<file>: no column 'x' (<what> ...); columns: a, b, ..."
  // with a did-you-mean; `what` says what it was wanted for, e.g. "--label-column".
  const TableColumnInfo& column(std::string_view name, std::string_view what) const;
  // Where row `row` (0-based data row) is, for messages: "row 17" or, for CSV, "line 19".
  std::string where(uint64_t row) const;

  // Rows [begin, end) of the named columns, in that order (not collective).
  // InputError for unsupported columns, non-numeric CSV cells, out-of-range integers.
  std::vector<TableColumn> read(const std::vector<std::string>& names, uint64_t begin, uint64_t end) const;
  // This rank's contiguous share of the rows (dist::partition), read with read().
  std::vector<TableColumn> read_partition(const dist::Communicator& comm, const std::vector<std::string>& names,
                                          dist::Range* range = nullptr) const;

  struct Source;  // one implementation per format (private)

 private:
  std::filesystem::path path_;
  TableFormat format_;
  std::string key_;
  std::unique_ptr<Source> source_;
};

}  // namespace bsmhunt::io
