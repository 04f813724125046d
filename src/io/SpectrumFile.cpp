#include "bsmhunt/io/SpectrumFile.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/core/AtomicFile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <system_error>

#include "Hdf5.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::io {

namespace {

std::vector<double> read_numbers(hid_t file, const std::filesystem::path& path, const char* name,
                                 const char* meaning) {
  const std::string where = fmt::format("{}:/{}", path.string(), name);
  if (!h5::exists(file, name))
    throw InputError(fmt::format("{}: no dataset '{}' ({}); a spectrum file holds 1-D datasets 'edges' (bins + 1, "
                                 "GeV) and 'counts' (bins)",
                                 path.string(), name, meaning));
  h5::Handle ds = h5::checked(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose, where);
  h5::Handle type = h5::checked(H5Dget_type(ds), H5Tclose, where);
  const H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw InputError(fmt::format("{}: expected numbers (float or integer), found another type", where));
  const uint64_t n = h5::dataset_length(ds, where);
  h5::check_dataset_storage(ds, n, H5Tget_size(h5::Handle(H5Dget_type(ds), H5Tclose)), where);
  std::vector<double> values(n);
  if (!values.empty()) h5::check_read(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), where);
  return values;
}

// Opens (creating on the way) the group holding dataset `name`; returns the leaf name.
h5::Handle parent_group(hid_t file, const std::string& name, std::string& leaf, const std::string& context) {
  std::string path;
  std::size_t pos = 0;
  for (std::size_t slash; (slash = name.find('/', pos)) != std::string::npos; pos = slash + 1) {
    path += (path.empty() ? "" : "/") + name.substr(pos, slash - pos);
    if (!h5::exists(file, path))
      h5::checked(H5Gcreate2(file, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, context);
  }
  leaf = name.substr(pos);
  return h5::checked(H5Gopen2(file, path.empty() ? "/" : path.c_str(), H5P_DEFAULT), H5Gclose, context);
}

}  // namespace

namespace {

bool parse_number(std::string_view text, double& out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  const char* begin = t.data();
  if (*begin == '+') ++begin;  // from_chars refuses a leading '+'
  const auto [end, ec] = std::from_chars(begin, t.data() + t.size(), out);
  return ec == std::errc() && end == t.data() + t.size();
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Cells of a CSV line (commas) or of a text line (whitespace).
std::vector<std::string> cells_of(const std::string& line, bool commas) {
  std::vector<std::string> cells;
  if (commas) {
    for (auto& c : split(line, ',')) cells.push_back(trim(c));
    return cells;
  }
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
    const std::size_t start = pos;
    while (pos < line.size() && !std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
    if (pos > start) cells.push_back(line.substr(start, pos - start));
  }
  return cells;
}

}  // namespace

namespace {

// The header spellings people write (compared in lower case); docs/fit.md lists them.
const std::vector<std::string> kLowNames = {"lo",      "low",  "lower", "edge_low", "low_edge",
                                            "bin_low", "xlow", "x_low", "left"};
const std::vector<std::string> kHighNames = {"hi", "high", "upper", "edge_high", "high_edge", "bin_high", "xhigh",
                                             "x_high", "right"};
const std::vector<std::string> kCentreNames = {"centre", "center", "bin_centre", "bin_center", "x", "mass"};
const std::vector<std::string> kWidthNames = {"width", "bin_width"};
const std::vector<std::string> kCountNames = {"count", "counts", "n", "events", "entries", "content", "contents"};

std::optional<std::size_t> column_of(const std::vector<std::string>& lowered, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    const auto it = std::find(lowered.begin(), lowered.end(), n);
    if (it != lowered.end()) return std::size_t(it - lowered.begin());
  }
  return std::nullopt;
}

}  // namespace

SpectrumArrays read_spectrum_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open the spectrum file", path.string()));
  const std::string file = path.string();
  SpectrumArrays s;
  std::string line;
  // Bins by their edges (lo, hi) or by their centre and width.
  std::size_t line_number = 0, lo_col = 0, hi_col = 0, count_col = 0, columns = 0;
  bool have_header = false, commas = true, by_centre = false;
  const std::string accepted = fmt::format(
      "accepted: the edges ({}) and ({}), or the centre ({}) and width ({}); and the count ({})",
      join(kLowNames, "|"), join(kHighNames, "|"), join(kCentreNames, "|"), join(kWidthNames, "|"),
      join(kCountNames, "|"));
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string content = trim(line);
    if (content.empty() || content[0] == '#') continue;
    if (!have_header) {
      commas = content.find(',') != std::string::npos;
      const auto names = cells_of(content, commas);
      double ignored;
      if (!names.empty() && parse_number(names[0], ignored))
        throw InputError(fmt::format("{}:{}: expected a header line naming the columns lo,hi,count, found numbers",
                                     file, line_number));
      std::vector<std::string> lowered;
      for (const auto& n : names) lowered.push_back(lower(n));
      const auto lo = column_of(lowered, kLowNames), hi = column_of(lowered, kHighNames);
      const auto centre = column_of(lowered, kCentreNames), width = column_of(lowered, kWidthNames);
      const auto count = column_of(lowered, kCountNames);
      const auto missing = [&](const char* what) {
        return InputError(fmt::format("{}:{}: the header has no column '{}' (columns: {}); {}", file, line_number,
                                      what, join(names, ", "), accepted));
      };
      if (!count) throw missing("count");
      if (lo || hi) {
        if (!lo) throw missing("lo");
        if (!hi) throw missing("hi");
        lo_col = *lo, hi_col = *hi;
      } else if (centre && width) {
        by_centre = true, lo_col = *centre, hi_col = *width;
      } else {
        throw missing(centre ? "width" : "lo");
      }
      count_col = *count;
      columns = names.size();
      have_header = true;
      continue;
    }
    const auto cells = cells_of(content, commas);
    if (cells.size() != columns)
      throw InputError(fmt::format("{}:{}: expected {} {} values like the header, found {}", file, line_number, columns,
                                   commas ? "comma-separated" : "whitespace-separated", cells.size()));
    double lo, hi, count;
    const auto number = [&](std::size_t col, const char* name, double& out) {
      if (!parse_number(cells[col], out) || !std::isfinite(out))
        throw InputError(fmt::format("{}:{}: column '{}': '{}' is not a finite number", file, line_number, name,
                                     cells[col]));
    };
    number(lo_col, by_centre ? "centre" : "lo", lo);
    number(hi_col, by_centre ? "width" : "hi", hi);
    number(count_col, "count", count);
    if (by_centre) {
      if (!(hi > 0))
        throw InputError(fmt::format("{}:{}: width {} GeV: a bin width must be positive", file, line_number, hi));
      const double centre = lo, width = hi;
      lo = centre - 0.5 * width, hi = centre + 0.5 * width;
      // Centres and widths written in decimal put neighbouring edges an ulp or so
      // apart: a bin that starts within 1e-9 of its width from the previous end
      // starts there.
      if (!s.edges.empty() && std::fabs(lo - s.edges.back()) <= 1e-9 * width) lo = s.edges.back();
    }
    if (!(lo < hi))
      throw InputError(fmt::format("{}:{}: bin {}-{} GeV: lo must be below hi", file, line_number, lo, hi));
    if (count < 0)
      throw InputError(fmt::format("{}:{}: count {} is negative: a spectrum holds event counts", file, line_number,
                                   count));
    if (s.edges.empty()) {
      s.edges.push_back(lo);
    } else if (lo != s.edges.back()) {
      throw InputError(fmt::format("{}:{}: the bin starting at {} GeV {} the previous bin, which ends at {} GeV (bins "
                                   "must be contiguous and in increasing order)",
                                   file, line_number, lo, lo < s.edges.back() ? "overlaps" : "leaves a gap after",
                                   s.edges.back()));
    }
    s.edges.push_back(hi);
    s.counts.push_back(count);
  }
  if (!have_header) throw InputError(fmt::format("{}: empty spectrum file (expected a header lo,hi,count)", file));
  if (s.counts.empty()) throw InputError(fmt::format("{}: the header is not followed by any bin", file));
  return s;
}

SpectrumArrays read_spectrum_file(const std::filesystem::path& path) {
  h5::prepare_library();
  if (!std::filesystem::exists(path)) throw InputError(fmt::format("{}: no such file", path.string()));
  if (!is_hdf5_file(path)) throw InputError(fmt::format("{}: not an HDF5 file", path.string()));
  h5::ReadingScope reading(path.string());
  h5::Handle file = h5::open_for_reading(path.string());
  SpectrumArrays s;
  s.edges = read_numbers(file, path, "edges", "bins + 1 bin edges in GeV");
  s.counts = read_numbers(file, path, "counts", "the count of each bin");
  return s;
}

void write_array_file(const std::filesystem::path& path, const std::vector<NamedArray>& arrays,
                      const std::vector<std::pair<std::string, std::string>>& attributes) {
  h5::prepare_library();
  const std::string partial = partial_path(path).string();
  try {
    h5::Handle file = h5::checked(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
                                  "creating " + partial);
    for (const auto& [key, value] : attributes) h5::write_attribute(file, key, value);
    for (const auto& a : arrays) {
      const std::string context = fmt::format("{}:/{}", path.string(), a.name);
      std::string leaf;
      h5::Handle group = parent_group(file, a.name, leaf, context);
      const hsize_t n = a.values.size();
      h5::Handle space = h5::checked(H5Screate_simple(1, &n, nullptr), H5Sclose, context);
      h5::Handle ds = h5::checked(
          H5Dcreate2(group, leaf.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
          context);
      if (n) h5::check(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.values.data()), context);
    }
    h5::check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing " + partial);
  } catch (...) {  // the file is closed by now: leave no .partial behind
    std::error_code ec;
    std::filesystem::remove(partial, ec);
    throw;
  }
  commit_partial(partial, path);
}

}  // namespace bsmhunt::io
