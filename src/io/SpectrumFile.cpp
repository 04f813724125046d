#include "bsmhunt/io/SpectrumFile.hpp"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <system_error>

#include "Hdf5.hpp"
#include "bsmhunt/core/Error.hpp"

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
  std::vector<double> values(h5::dataset_length(ds, where));
  if (!values.empty()) h5::check(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), where);
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

bool is_hdf5_file(const std::filesystem::path& path) {
  static const char signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  if (in.read(head, 8) && std::memcmp(head, signature, 8) == 0) return true;
  h5::silence_library_errors();
  return H5Fis_hdf5(path.c_str()) > 0;
}

std::string hdf5_format_attribute(const std::filesystem::path& path) {
  h5::silence_library_errors();
  if (!is_hdf5_file(path)) return "";
  h5::Handle file = h5::checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                                "opening " + path.string());
  if (H5Aexists(file, "format") <= 0) return "";
  return h5::read_string_attribute(file, "format", path.string());
}

SpectrumArrays read_spectrum_file(const std::filesystem::path& path) {
  h5::silence_library_errors();
  if (!std::filesystem::exists(path)) throw InputError(fmt::format("{}: no such file", path.string()));
  if (!is_hdf5_file(path)) throw InputError(fmt::format("{}: not an HDF5 file", path.string()));
  h5::Handle file = h5::checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                                "opening " + path.string());
  SpectrumArrays s;
  s.edges = read_numbers(file, path, "edges", "bins + 1 bin edges in GeV");
  s.counts = read_numbers(file, path, "counts", "the count of each bin");
  return s;
}

void write_array_file(const std::filesystem::path& path, const std::vector<NamedArray>& arrays,
                      const std::vector<std::pair<std::string, std::string>>& attributes) {
  h5::silence_library_errors();
  const std::string partial = path.string() + ".partial";
  {
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
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error(fmt::format("cannot rename {} to {}: {}", partial, path.string(), ec.message()));
}

}  // namespace bsmhunt::io
