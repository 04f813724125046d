#include "bsmhunt/io/ArchiveFile.hpp"

#include <fmt/format.h>

#include <cinttypes>
#include <cstdint>

#include <cstring>
#include <fstream>
#include <system_error>

#include "Hdf5.hpp"
#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Fnv.hpp"

namespace bsmhunt::io {

namespace {

std::string parent_of(const std::string& name) {
  const auto slash = name.rfind('/');
  return slash == std::string::npos ? "." : name.substr(0, slash);
}
std::string leaf_of(const std::string& name) {
  const auto slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

// Opens (creating on the way) the group that holds entry `name`.
h5::Handle group_for(hid_t file, const std::string& name, const std::string& context) {
  const std::string parent = parent_of(name);
  if (parent == ".") return h5::checked(H5Gopen2(file, "/", H5P_DEFAULT), H5Gclose, context);
  std::string path;
  for (std::size_t pos = 0; pos <= parent.size();) {
    const auto next = std::min(parent.find('/', pos), parent.size());
    if (!path.empty()) path.push_back('/');
    path.append(parent, pos, next - pos);
    if (!h5::exists(file, path))
      h5::checked(H5Gcreate2(file, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, context);
    pos = next + 1;
  }
  return h5::checked(H5Gopen2(file, parent.c_str(), H5P_DEFAULT), H5Gclose, context);
}

void write_dataset(hid_t group, const std::string& leaf, hid_t type, const std::vector<hsize_t>& dims,
                   const void* data, const std::string& context) {
  h5::Handle space = h5::checked(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose, context);
  h5::Handle ds = h5::checked(H5Dcreate2(group, leaf.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                              H5Dclose, context);
  bool empty = false;
  for (auto d : dims) empty |= d == 0;
  if (!empty) h5::check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), context);
}

struct Walker {
  Archive* archive;
  std::string file_name;
  std::string error;
};

herr_t visit(hid_t root, const char* name_c, const H5O_info_t* info, void* data) {
  auto& w = *static_cast<Walker*>(data);
  const std::string name = name_c;
  const std::string context = fmt::format("{}:/{}", w.file_name, name);
  try {
    if (info->type == H5O_TYPE_GROUP) {
      h5::Handle g = h5::checked(H5Oopen(root, name_c, H5P_DEFAULT), H5Oclose, context);
      const bool is_root = name == ".";
      for (const auto& a : h5::attribute_names(g)) {
        if (is_root && (a == "format" || a == "version" || a == "complete" || a == "checksum")) continue;
        w.archive->strings[is_root ? a : name + "/" + a] = h5::read_string_attribute(g, a, context);
      }
      return 0;
    }
    if (info->type != H5O_TYPE_DATASET) return 0;
    h5::Handle ds = h5::checked(H5Dopen2(root, name_c, H5P_DEFAULT), H5Dclose, context);
    h5::Handle space = h5::checked(H5Dget_space(ds), H5Sclose, context);
    h5::Handle type = h5::checked(H5Dget_type(ds), H5Tclose, context);
    const int ndims = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(std::size_t(std::max(ndims, 0)));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    std::size_t n = 1;
    for (auto d : dims) n = d == 0 || n <= SIZE_MAX / d ? n * std::size_t(d) : SIZE_MAX;
    const H5T_class_t cls = H5Tget_class(type);
    // A damaged header can claim more values than the file stores for them.
    if (cls != H5T_STRING) h5::check_dataset_storage(ds, n, H5Tget_size(type), context);
    if (cls == H5T_STRING) {
      w.archive->string_lists[name] = h5::read_string_dataset(root, name, context);
    } else if (cls == H5T_FLOAT && H5Tget_size(type) == 4) {
      ArchiveArray a;
      a.shape.assign(dims.begin(), dims.end());
      a.values.resize(n);
      if (n) h5::check_read(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.values.data()), context);
      w.archive->floats[name] = std::move(a);
    } else if (cls == H5T_FLOAT) {
      auto& v = w.archive->doubles[name];
      v.resize(n);
      if (n) h5::check_read(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), context);
    } else if (cls == H5T_INTEGER && H5Tget_size(type) == 1) {
      auto& v = w.archive->bytes[name];
      v.resize(n);
      if (n) h5::check_read(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), context);
    } else {
      throw InputError(fmt::format("{}: unexpected dataset type in a bsmhunt model file", context));
    }
  } catch (const std::exception& e) {
    w.error = e.what();
    return -1;
  }
  return 0;
}

// Archives (models, checkpoints, significance and limit files) are sealed. HDF5 leaves
// the first bytes of a file, its user block, to the application: bsmhunt writes there
// the length and a hash of every byte after it, and a reader checks both before HDF5
// parses anything. HDF5 1.10 trusts some metadata that has no checksum (the global heap
// of variable-length strings) and crashes on some flipped bytes there; a sealed file
// whose bytes changed is refused instead. A file that starts with HDF5's signature was
// written before the seal (or by another tool): it is read as before, and its content
// checksum still finds changed values.
constexpr std::size_t kSealBytes = 512;  // HDF5's smallest user block
constexpr char kSealMagic[] = "bsmhunt sealed file v1\n";
constexpr std::size_t kSealMagicLength = sizeof(kSealMagic) - 1;

// The FNV-1a hash of the bytes from the stream's position to its end, and their count.
uint64_t hash_to_end(std::istream& in, uint64_t& length) {
  Fnv1a hash;
  std::vector<char> buffer(std::size_t(1) << 20);
  length = 0;
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    const auto n = std::size_t(in.gcount());
    hash.bytes(buffer.data(), n);
    length += n;
  }
  return hash.h;
}

void seal(const std::string& partial) {
  std::fstream f(partial, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(std::streamoff(kSealBytes));
  uint64_t length = 0;
  const uint64_t hash = hash_to_end(f, length);
  f.clear();
  const std::string text = fmt::format("{}fnv1a64 {:016x}\nbytes {}\n", kSealMagic, hash, length);
  f.seekp(0);
  f.write(text.data(), std::streamsize(text.size()));
  f.flush();
  if (!f) throw Error(fmt::format("{}: cannot write the seal of the file (disk full?)", partial));
}

void check_seal(const std::filesystem::path& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  std::string head(kSealBytes, '\0');
  in.read(head.data(), std::streamsize(kSealBytes));
  const auto got = std::size_t(in.gcount());
  if (got < kSealMagicLength || head.compare(0, kSealMagicLength, kSealMagic) != 0) return;  // not sealed
  uint64_t recorded_hash = 0, recorded_length = 0;
  if (std::sscanf(head.c_str() + kSealMagicLength, "fnv1a64 %16" SCNx64 "\nbytes %" SCNu64, &recorded_hash,
                  &recorded_length) != 2)
    throw InputError(fmt::format("{}: damaged: the seal bsmhunt wrote in its first {} bytes cannot be read", where,
                                 kSealBytes));
  uint64_t length = 0;
  const uint64_t hash = got == kSealBytes ? hash_to_end(in, length) : 0;
  if (got != kSealBytes || length != recorded_length)
    throw InputError(fmt::format("{}: damaged: {} bytes follow its seal, which records {}; the file was cut or "
                                 "changed after bsmhunt wrote it",
                                 where, length, recorded_length));
  if (hash != recorded_hash)
    throw InputError(fmt::format("{}: damaged: its bytes hash to {:016x}, its seal records {:016x}; the file was "
                                 "changed after bsmhunt wrote it",
                                 where, hash, recorded_hash));
}

// The archive as an HDF5 file with room for the seal; closed when this returns.
void write_contents(const std::string& partial, const std::string& where, const Archive& a,
                    const std::string& format, int64_t version) {
  h5::Handle creation = h5::checked(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "creating " + partial);
  h5::check(H5Pset_userblock(creation, kSealBytes), "creating " + partial);
  h5::Handle file = h5::checked(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, creation, H5P_DEFAULT), H5Fclose,
                                "creating " + partial);
  h5::write_attribute(file, "format", format);
  h5::write_attribute(file, "version", version);
  h5::write_attribute(file, "complete", int64_t(0));
  for (const auto& [name, arr] : a.floats) {
    h5::Handle g = group_for(file, name, where + ":/" + name);
    const std::vector<hsize_t> dims = arr.shape.empty() ? std::vector<hsize_t>{hsize_t(arr.values.size())}
                                                        : std::vector<hsize_t>(arr.shape.begin(), arr.shape.end());
    write_dataset(g, leaf_of(name), H5T_NATIVE_FLOAT, dims, arr.values.data(), where + ":/" + name);
  }
  for (const auto& [name, v] : a.doubles) {
    h5::Handle g = group_for(file, name, where + ":/" + name);
    write_dataset(g, leaf_of(name), H5T_NATIVE_DOUBLE, {v.size()}, v.data(), where + ":/" + name);
  }
  for (const auto& [name, v] : a.bytes) {
    h5::Handle g = group_for(file, name, where + ":/" + name);
    write_dataset(g, leaf_of(name), H5T_NATIVE_UINT8, {v.size()}, v.data(), where + ":/" + name);
  }
  for (const auto& [name, list] : a.string_lists) {
    h5::Handle g = group_for(file, name, where + ":/" + name);
    std::size_t width = 1;
    for (const auto& s : list) width = std::max(width, s.size());
    std::vector<char> buffer(width * list.size(), '\0');
    for (std::size_t i = 0; i < list.size(); ++i) std::copy(list[i].begin(), list[i].end(), buffer.begin() + long(i * width));
    h5::Handle type = h5::checked(H5Tcopy(H5T_C_S1), H5Tclose, where);
    H5Tset_size(type, width);
    write_dataset(g, leaf_of(name), type, {list.size()}, buffer.data(), where + ":/" + name);
  }
  for (const auto& [name, value] : a.strings) {
    h5::Handle g = group_for(file, name, where + ":/" + name);
    h5::write_attribute(g, leaf_of(name), value);
  }
  h5::write_attribute(file, "checksum", a.checksum());
  H5Adelete(file, "complete");
  h5::write_attribute(file, "complete", int64_t(1));
  h5::check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing " + partial);
}

}  // namespace

void write_archive(const std::filesystem::path& path, const Archive& a, const std::string& format, int64_t version) {
  h5::prepare_library();
  const std::string partial = partial_path(path).string();
  try {
    write_contents(partial, path.string(), a, format, version);
    seal(partial);
  } catch (...) {  // leave no .partial behind (a full disk, say)
    std::error_code ec;
    std::filesystem::remove(partial, ec);
    throw;
  }
  commit_partial(partial, path);
}

bool is_hdf5_file(const std::filesystem::path& path) {
  static const char signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  if (in.read(head, 8) && std::memcmp(head, signature, 8) == 0) return true;
  h5::prepare_library();
  return H5Fis_hdf5(path.c_str()) > 0;
}

std::string hdf5_format_attribute(const std::filesystem::path& path) {
  h5::prepare_library();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || !is_hdf5_file(path)) return "";
  // An HDF5 file that HDF5 cannot open is refused here, with HDF5's reason, not
  // answered with "no format" for the caller to open it a second time and fail
  // again with a vaguer message (or, on a damaged file, run into HDF5 once more).
  h5::Handle file = h5::open_for_reading(path.string());
  if (H5Aexists(file, "format") <= 0) return "";
  try {
    return h5::read_string_attribute(file, "format", path.string());
  } catch (const std::exception&) {
    return "";
  }
}

Archive read_archive(const std::filesystem::path& path, const std::string& format) {
  h5::prepare_library();
  const std::string where = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(fmt::format("{}: no such file", where));
  check_seal(path, where);
  h5::ReadingScope reading(where);
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(fmt::format("{}: not an HDF5 file", where));
  h5::Handle file = h5::open_for_reading(where);
  if (H5Aexists(file, "format") <= 0)
    throw InputError(fmt::format("{}: not a bsmhunt model or checkpoint (no format attribute)", where));
  const std::string found = h5::read_string_attribute(file, "format", where);
  if (!format.empty() && found != format)
    throw InputError(fmt::format("{}: format is '{}', expected '{}'", where, found, format));
  if (H5Aexists(file, "complete") <= 0 || h5::read_int_attribute(file, "complete", where) != 1)
    throw InputError(fmt::format("{}: incomplete file (complete != 1): the job writing it did not finish", where));
  Archive a;
  Walker w{&a, where, ""};
  if (H5Ovisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit, &w) < 0)
    throw InputError(w.error.empty() ? fmt::format("{}: unreadable", where) : w.error);
  // The seal and HDF5's own metadata checksums catch damage; this catches changed
  // values in a file without a seal.
  if (H5Aexists(file, "checksum") <= 0)
    throw InputError(fmt::format("{}: no content checksum: written by an older bsmhunt or by another tool; write "
                                 "it again with this bsmhunt",
                                 where));
  const std::string stored = h5::read_string_attribute(file, "checksum", where), actual = a.checksum();
  if (stored != actual)
    throw InputError(fmt::format("{}: damaged: the content checksum is {}, the file records {}; the file was "
                                 "changed after bsmhunt wrote it",
                                 where, actual, stored));
  return a;
}

}  // namespace bsmhunt::io
