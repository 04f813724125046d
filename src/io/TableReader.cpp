#include "bsmhunt/io/TableReader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "Hdf5.hpp"
#include "TableSources.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"

namespace bsmhunt::io {

TableFormat parse_table_format(std::string_view t) {
  if (t == "auto" || t.empty()) return TableFormat::automatic;
  if (t == "pandas") return TableFormat::pandas;
  if (t == "h5py" || t == "hdf5") return TableFormat::h5py;
  if (t == "csv") return TableFormat::csv;
  throw InputError(fmt::format("--format '{}': expected auto, pandas, h5py or csv{}", t,
                               did_you_mean(t, {"auto", "pandas", "h5py", "csv"})));
}

std::string_view to_string(TableFormat f) {
  switch (f) {
    case TableFormat::automatic:
      return "auto";
    case TableFormat::pandas:
      return "pandas";
    case TableFormat::h5py:
      return "h5py";
    case TableFormat::csv:
      return "csv";
  }
  return "?";
}

std::string_view to_string(ColumnKind k) {
  switch (k) {
    case ColumnKind::floating:
      return "floating point";
    case ColumnKind::integer:
      return "integer";
    case ColumnKind::boolean:
      return "bool";
    case ColumnKind::text:
      return "text";
    case ColumnKind::unsupported:
      return "unsupported";
  }
  return "?";
}

std::size_t TableColumn::size() const {
  switch (kind) {
    case ColumnKind::floating:
      return real.size();
    case ColumnKind::text:
      return text.size();
    default:
      return integer.size();
  }
}

double TableColumn::as_double(std::size_t i) const {
  return kind == ColumnKind::floating ? real[i] : double(integer[i]);
}

float TableColumn::as_float(std::size_t i) const {
  return kind == ColumnKind::floating ? float(real[i]) : float(integer[i]);
}

std::string TableColumn::as_text(std::size_t i) const {
  switch (kind) {
    case ColumnKind::text:
      return text[i];
    case ColumnKind::floating:
      return fmt::format("{}", real[i]);
    default:
      return fmt::format("{}", integer[i]);
  }
}

TableReader::TableReader(const dist::Communicator& comm, std::filesystem::path path, TableFormat format,
                         std::string key)
    : path_(std::move(path)), format_(format), key_(std::move(key)) {
  h5::ReadingScope reading(path_.string());
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) throw InputError(fmt::format("{}: no such file", path_.string()));
  if (!std::filesystem::is_regular_file(path_, ec))
    throw InputError(fmt::format("{}: not a regular file", path_.string()));
  const bool hdf5 = is_hdf5_file(path_);
  if (format_ == TableFormat::automatic) format_ = hdf5 ? table::detect_hdf5_flavour(path_, key_) : TableFormat::csv;
  if (format_ == TableFormat::csv) {
    if (hdf5)
      throw InputError(
          fmt::format("{}: this is an HDF5 file, not CSV: use --format pandas (DataFrame.to_hdf) "
                      "or --format h5py (one dataset per column)",
                      path_.string()));
    key_.clear();
    source_ = table::open_csv(comm, path_);
  } else {
    if (!hdf5)
      throw InputError(fmt::format("{}: not an HDF5 file (--format {} expects one; for text use --format csv)",
                                   path_.string(), to_string(format_)));
    source_ = format_ == TableFormat::pandas ? table::open_pandas(path_, key_) : table::open_h5py(path_, key_);
  }
  // Column names must be unique to be addressed by name.
  std::vector<std::string> names;
  for (const auto& c : source_->columns) names.push_back(c.name);
  std::sort(names.begin(), names.end());
  const auto dup = std::adjacent_find(names.begin(), names.end());
  if (dup != names.end())
    throw InputError(fmt::format("{}: column '{}' appears twice; column names must be unique", path_.string(), *dup));
}

TableReader::~TableReader() = default;

const std::filesystem::path& TableReader::path() const { return path_; }
TableFormat TableReader::format() const { return format_; }
const std::string& TableReader::key() const { return key_; }
uint64_t TableReader::rows() const { return source_->rows; }
const std::vector<TableColumnInfo>& TableReader::columns() const { return source_->columns; }

const TableColumnInfo* TableReader::find(std::string_view name) const {
  for (const auto& c : source_->columns)
    if (c.name == name) return &c;
  return nullptr;
}

const TableColumnInfo& TableReader::column(std::string_view name, std::string_view what) const {
  if (const auto* c = find(name)) return *c;
  std::vector<std::string> names;
  for (const auto& c : source_->columns) names.push_back(c.name);
  std::string listed = join(names, ", ");
  if (listed.size() > 2000) listed = listed.substr(0, 2000) + ", ...";
  throw InputError(fmt::format("{}{}: no column '{}' ({}){}; the columns are: {}", path_.string(),
                               key_.empty() || key_ == "/" ? "" : ":/" + key_, name, what, did_you_mean(name, names),
                               listed));
}

std::string TableReader::where(uint64_t row) const { return source_->where(row); }

std::vector<TableColumn> TableReader::read(const std::vector<std::string>& names, uint64_t begin, uint64_t end) const {
  h5::ReadingScope reading(path_.string());
  if (begin > end || end > source_->rows)
    throw InternalError(fmt::format("TableReader::read: rows [{}, {}) outside [0, {})", begin, end, source_->rows));
  std::vector<std::size_t> index;
  for (const auto& n : names) {
    const TableColumnInfo& c = column(n, "requested");
    if (c.kind == ColumnKind::unsupported)
      throw InputError(
          fmt::format("{}: column '{}' ({}) cannot be read: {}", path_.string(), c.name, c.dtype, c.problem));
    index.push_back(std::size_t(&c - source_->columns.data()));
  }
  std::vector<TableColumn> out(index.size());
  for (std::size_t k = 0; k < index.size(); ++k) out[k].kind = source_->columns[index[k]].kind;
  if (!index.empty()) source_->read(index, begin, end, out);
  return out;
}

std::vector<TableColumn> TableReader::read_partition(const dist::Communicator& comm,
                                                     const std::vector<std::string>& names, dist::Range* range) const {
  const dist::Range r = dist::partition(source_->rows, comm.size(), comm.rank());
  if (range) *range = r;
  return read(names, r.begin, r.end);
}

}  // namespace bsmhunt::io
