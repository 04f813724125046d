// Tables in HDF5: pandas DataFrame.to_hdf (fixed format) and h5py column files.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>

#include "Hdf5.hpp"
#include "TableSources.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Watchdog.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::io::table {

namespace {

using h5::Handle;

// HDF5 failures while opening or reading a user's file are input problems.
Handle open_checked(hid_t id, Handle::Closer closer, const std::string& context) {
  try {
    return h5::checked(id, closer, context);
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    throw InputError(e.what());
  }
}
void read_checked(herr_t status, const std::string& context) {
  try {
    h5::check(status, context);
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    throw InputError(e.what());
  }
}

Handle open_file(const std::filesystem::path& path) {
  h5::prepare_library();
  return open_checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "opening " + path.string());
}

// The kind of object at `name` (H5I_GROUP, H5I_DATASET, ...), H5I_BADID if none.
// H5Oopen + H5Iget_type works the same under the 1.10 and 1.12+ APIs.
H5I_type_t object_type(hid_t loc, const std::string& name) {
  if (!h5::exists(loc, name)) return H5I_BADID;
  Handle obj(H5Oopen(loc, name.c_str(), H5P_DEFAULT), H5Oclose);
  return obj.valid() ? H5Iget_type(obj) : H5I_BADID;
}
bool is_group(hid_t loc, const std::string& name) { return object_type(loc, name) == H5I_GROUP; }
bool is_dataset(hid_t loc, const std::string& name) { return object_type(loc, name) == H5I_DATASET; }

// The native type of a 1-byte bitfield or enum (booleans of PyTables and h5py). It
// follows the stored precision, which a damaged header can set past the one byte the
// size claims, and a read into bytes would then write past them: invalid unless it is
// one byte too.
Handle one_byte_native_type(hid_t stored) {
  Handle mem(H5Tget_native_type(stored, H5T_DIR_ASCEND), H5Tclose);
  if (mem.valid() && H5Tget_size(mem) != 1) return Handle();
  return mem;
}

// A scalar attribute of any integer, bitfield or enum type as an integer
// (PyTables stores flags such as `transposed` as 1-byte bitfields).
int64_t flag_attribute(hid_t obj, const char* name, int64_t fallback) {
  if (H5Aexists(obj, name) <= 0) return fallback;
  Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) return fallback;
  {
    Handle space(H5Aget_space(attr), H5Sclose);  // one value, or the read writes past `v`
    if (!space.valid() || H5Sget_simple_extent_npoints(space) != 1) return fallback;
  }
  Handle type(H5Aget_type(attr), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_INTEGER) {
    int64_t v = 0;
    return H5Aread(attr, H5T_NATIVE_INT64, &v) < 0 ? fallback : v;
  }
  if ((cls == H5T_BITFIELD || cls == H5T_ENUM) && H5Tget_size(type) == 1) {
    Handle mem = one_byte_native_type(type);
    if (!mem.valid()) return fallback;
    uint8_t v = 0;
    return H5Aread(attr, mem, &v) < 0 ? fallback : int64_t(v);
  }
  return fallback;
}

std::string string_attribute_or(hid_t obj, const std::string& name, const std::string& fallback) {
  if (H5Aexists(obj, name.c_str()) <= 0) return fallback;
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(attr), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING) return fallback;
  return h5::read_string_attribute(obj, name, name);
}

// How a stored type maps onto a column kind.
struct StoredType {
  ColumnKind kind = ColumnKind::unsupported;
  std::string dtype, problem;
  bool unsigned64 = false;
  bool variable_string = false;
  bool space_padded = false;
  std::size_t size = 0;
};

StoredType classify(hid_t type) {
  StoredType t;
  t.size = H5Tget_size(type);
  const auto bits = 8 * t.size;
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      t.dtype = fmt::format("float{}", bits);
      if (t.size == 4 || t.size == 8)
        t.kind = ColumnKind::floating;
      else
        t.problem = "only float32 and float64 floating-point columns are read";
      break;
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
      t.dtype = fmt::format("{}int{}", is_signed ? "" : "u", bits);
      if (t.size <= 8) {
        t.kind = ColumnKind::integer;
        t.unsigned64 = !is_signed && t.size == 8;
      } else {
        t.problem = "integers wider than 64 bits are not read";
      }
      break;
    }
    case H5T_BITFIELD:
    case H5T_ENUM:
      t.dtype = H5Tget_class(type) == H5T_ENUM ? "enum (bool)" : "bool";
      if (t.size == 1)
        t.kind = ColumnKind::boolean;
      else
        t.problem = fmt::format("a {}-byte {} is not read (1-byte numpy bool is)", t.size,
                                H5Tget_class(type) == H5T_ENUM ? "enum" : "bitfield");
      break;
    case H5T_STRING:
      t.dtype = "string";
      t.kind = ColumnKind::text;
      t.variable_string = H5Tis_variable_str(type) > 0;
      t.space_padded = H5Tget_strpad(type) == H5T_STR_SPACEPAD;
      break;
    case H5T_VLEN:
      t.dtype = "object";
      t.problem = "variable-length objects (pickled Python objects for pandas object columns) are not read";
      break;
    case H5T_COMPOUND:
      t.dtype = "compound";
      t.problem = "compound (record) datasets are not read; store one dataset per column";
      break;
    default:
      t.dtype = "other";
      t.problem = "this HDF5 type is not read (numbers, bool and strings are)";
  }
  return t;
}

// A rectangular selection of a dataset: `count[0] x count[1]` elements starting at
// `start` (1-D datasets use index 0 only). The buffer is row-major over count.
struct Selection {
  int rank = 1;
  hsize_t start[2] = {0, 0}, count[2] = {0, 1};
  hsize_t elements() const { return count[0] * (rank == 2 ? count[1] : 1); }
};

Handle select(hid_t ds, const Selection& s, Handle& mem_space, const std::string& context) {
  Handle file_space = open_checked(H5Dget_space(ds), H5Sclose, context);
  read_checked(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, s.start, nullptr, s.count, nullptr), context);
  mem_space = open_checked(H5Screate_simple(s.rank, s.count, nullptr), H5Sclose, context);
  return file_space;
}

// Reads the selection of a numeric (or bool) dataset. Floating types land in
// `real`, integers and bools in `integer`.
void read_numbers(hid_t ds, const StoredType& t, const Selection& s, std::vector<double>& real,
                  std::vector<int64_t>& integer, const std::string& context,
                  const std::function<std::string(hsize_t)>& where_element) {
  Handle mem;
  Handle file_space = select(ds, s, mem, context);
  const hsize_t n = s.elements();
  if (t.kind == ColumnKind::floating) {
    real.resize(n);
    read_checked(H5Dread(ds, H5T_NATIVE_DOUBLE, mem, file_space, H5P_DEFAULT, real.data()), "reading " + context);
  } else if (t.kind == ColumnKind::integer && t.unsigned64) {
    std::vector<uint64_t> u(n);
    read_checked(H5Dread(ds, H5T_NATIVE_UINT64, mem, file_space, H5P_DEFAULT, u.data()), "reading " + context);
    integer.resize(n);
    for (hsize_t i = 0; i < n; ++i) {
      if (u[i] > uint64_t(std::numeric_limits<int64_t>::max()))
        throw InputError(fmt::format("{}, {}: value {} does not fit in int64", context, where_element(i), u[i]));
      integer[i] = int64_t(u[i]);
    }
  } else if (t.kind == ColumnKind::integer) {
    integer.resize(n);
    read_checked(H5Dread(ds, H5T_NATIVE_INT64, mem, file_space, H5P_DEFAULT, integer.data()), "reading " + context);
  } else if (t.kind == ColumnKind::boolean) {
    // 1-byte bitfields (PyTables) and enums (h5py): read the bytes as stored.
    Handle file_type = open_checked(H5Dget_type(ds), H5Tclose, context);
    Handle mem_type = one_byte_native_type(file_type);
    if (!mem_type.valid())
      throw InputError(fmt::format("{}: damaged: a 1-byte boolean column whose stored precision is wider than a byte",
                                   context));
    std::vector<uint8_t> bytes(n);
    read_checked(H5Dread(ds, mem_type, mem, file_space, H5P_DEFAULT, bytes.data()), "reading " + context);
    integer.resize(n);
    for (hsize_t i = 0; i < n; ++i) integer[i] = bytes[i] != 0;
  } else {
    throw InternalError(fmt::format("{}: read_numbers on a {} column", context, to_string(t.kind)));
  }
}

void read_strings(hid_t ds, const StoredType& t, const Selection& s, std::vector<std::string>& out,
                  const std::string& context) {
  Handle mem;
  Handle file_space = select(ds, s, mem, context);
  const hsize_t n = s.elements();
  out.clear();
  out.reserve(n);
  if (t.variable_string) {
    Handle mem_type = open_checked(H5Tcopy(H5T_C_S1), H5Tclose, context);
    H5Tset_size(mem_type, H5T_VARIABLE);
    H5Tset_cset(mem_type, H5T_CSET_UTF8);
    std::vector<char*> ptrs(n, nullptr);
    {
      const dist::WatchedRead watched(context);  // the global heap
      read_checked(H5Dread(ds, mem_type, mem, file_space, H5P_DEFAULT, ptrs.data()), "reading " + context);
    }
    for (auto* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem_type, mem, H5P_DEFAULT, ptrs.data());
    return;
  }
  Handle file_type = open_checked(H5Dget_type(ds), H5Tclose, context);
  std::string packed(t.size * n, '\0');
  read_checked(H5Dread(ds, file_type, mem, file_space, H5P_DEFAULT, packed.data()), "reading " + context);
  for (hsize_t i = 0; i < n; ++i) {
    std::string v = packed.substr(i * t.size, t.size);
    v.resize(std::min(v.size(), v.find('\0')));
    if (t.space_padded) v.erase(v.find_last_not_of(' ') + 1);
    out.push_back(std::move(v));
  }
}

std::vector<hsize_t> dims_of(hid_t ds, const std::string& context) {
  Handle space = open_checked(H5Dget_space(ds), H5Sclose, context);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(std::size_t(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

std::string shape_string(const std::vector<hsize_t>& dims) {
  std::vector<std::string> parts;
  for (auto d : dims) parts.push_back(std::to_string(d));
  return "[" + join(parts, ", ") + "]";
}

// Names of a 1-D dataset of strings or integers (pandas axis0 and block items).
std::vector<std::string> read_names(hid_t group, const std::string& name, const std::string& context) {
  if (!is_dataset(group, name)) throw InputError(fmt::format("{}: dataset '{}' is missing", context, name));
  Handle ds = open_checked(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, context + "/" + name);
  Handle type = open_checked(H5Dget_type(ds), H5Tclose, context + "/" + name);
  const auto dims = dims_of(ds, context + "/" + name);
  if (dims.size() != 1)
    throw InputError(
        fmt::format("{}/{}: expected a 1-D dataset of names, found shape {}", context, name, shape_string(dims)));
  const StoredType t = classify(type);
  Selection s;
  s.count[0] = dims[0];
  std::vector<std::string> out;
  // Read whole: a damaged shape must not size the allocation (found by fuzzing).
  h5::check_dataset_storage(ds, dims[0], t.variable_string ? 16 : std::max<std::size_t>(t.size, 1),
                            context + "/" + name);
  if (t.kind == ColumnKind::text) {
    read_strings(ds, t, s, out, context + "/" + name);
  } else if (t.kind == ColumnKind::integer) {
    std::vector<double> unused;
    std::vector<int64_t> v;
    read_numbers(ds, t, s, unused, v, context + "/" + name, [](hsize_t i) { return std::to_string(i); });
    for (auto x : v) out.push_back(std::to_string(x));
  } else {
    throw InputError(
        fmt::format("{}/{}: column names must be strings or integers, found {} (pandas pickles mixed "
                    "names): use df.columns = df.columns.astype(str) before to_hdf",
                    context, name, t.dtype));
  }
  return out;
}

std::vector<std::string> top_level_groups(hid_t file) {
  std::vector<std::string> out;
  for (const auto& c : h5::children(file))
    if (is_group(file, c)) out.push_back(c);
  return out;
}

bool has_pandas_type(hid_t loc, const std::string& name) {
  if (!is_group(loc, name)) return false;
  Handle g(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), H5Gclose);
  return g.valid() && H5Aexists(g, "pandas_type") > 0;
}

std::string normalise_key(std::string key) {
  while (key.size() > 1 && key.front() == '/') key.erase(0, 1);
  while (key.size() > 1 && key.back() == '/') key.pop_back();
  return key;
}

// ---------------------------------------------------------------- pandas

struct PandasSource final : TableReader::Source {
  std::string file_name, group_name;
  Handle file, group;
  struct Block {
    std::string name;  // "block3_values"
    Handle ds;
    StoredType type;
    std::size_t width = 0;
    bool transposed = true;  // stored [rows, items] (pandas writes values.T)
  };
  std::vector<Block> blocks;
  struct Place {
    std::size_t block, item;
  };
  std::vector<Place> places;  // per column

  std::string context(const std::string& object) const {
    return fmt::format("{}:/{}/{}", file_name, group_name, object);
  }

  void read(const std::vector<std::size_t>& index, uint64_t begin, uint64_t end,
            std::vector<TableColumn>& out) const override {
    const uint64_t n = end - begin;
    // One read per block, then scatter the requested items.
    std::map<std::size_t, std::vector<std::size_t>> by_block;
    for (std::size_t k = 0; k < index.size(); ++k) by_block[places[index[k]].block].push_back(k);
    for (const auto& [b, ks] : by_block) {
      const Block& blk = blocks[b];
      Selection s;
      s.rank = 2;
      if (blk.transposed) {
        s.start[0] = begin, s.count[0] = n, s.count[1] = blk.width;
      } else {
        s.start[1] = begin, s.count[0] = blk.width, s.count[1] = n;
      }
      std::vector<double> real;
      std::vector<int64_t> integer;
      if (n > 0)
        read_numbers(blk.ds, blk.type, s, real, integer, context(blk.name), [&](hsize_t e) {
          const hsize_t row = blk.transposed ? e / blk.width : e % n;
          return where(begin + row);
        });
      for (std::size_t k : ks) {
        const std::size_t j = places[index[k]].item;
        TableColumn& c = out[k];
        auto at = [&](uint64_t i) { return blk.transposed ? i * blk.width + j : j * n + i; };
        if (blk.type.kind == ColumnKind::floating) {
          c.real.resize(n);
          for (uint64_t i = 0; i < n; ++i) c.real[i] = real[at(i)];
        } else {
          c.integer.resize(n);
          for (uint64_t i = 0; i < n; ++i) c.integer[i] = integer[at(i)];
        }
      }
    }
  }
};

// ---------------------------------------------------------------- h5py

struct H5pySource final : TableReader::Source {
  std::string file_name, group_name;
  Handle file, group;
  std::vector<Handle> datasets;  // per column (invalid for unsupported ones)
  std::vector<StoredType> types;

  std::string context(const std::string& object) const {
    return fmt::format("{}:{}{}", file_name, group_name == "/" ? "/" : "/" + group_name + "/", object);
  }

  void read(const std::vector<std::size_t>& index, uint64_t begin, uint64_t end,
            std::vector<TableColumn>& out) const override {
    Selection s;
    s.start[0] = begin, s.count[0] = end - begin;
    for (std::size_t k = 0; k < index.size(); ++k) {
      const std::size_t c = index[k];
      if (end == begin) continue;
      const std::string ctx = context(columns[c].name);
      if (types[c].kind == ColumnKind::text)
        read_strings(datasets[c], types[c], s, out[k].text, ctx);
      else
        read_numbers(datasets[c], types[c], s, out[k].real, out[k].integer, ctx,
                     [&](hsize_t i) { return where(begin + i); });
    }
  }
};

}  // namespace

TableFormat detect_hdf5_flavour(const std::filesystem::path& path, const std::string& raw_key) {
  Handle file = open_file(path);
  const std::string key = normalise_key(raw_key);
  if (!key.empty() && key != "/" && h5::exists(file, key))
    return has_pandas_type(file, key) ? TableFormat::pandas : TableFormat::h5py;
  // No key, or one that does not exist: the file's flavour decides (and the
  // reader of that flavour reports the missing key with the keys it has).
  for (const auto& g : top_level_groups(file))
    if (has_pandas_type(file, g)) return TableFormat::pandas;
  return TableFormat::h5py;
}

std::unique_ptr<TableReader::Source> open_pandas(const std::filesystem::path& path, std::string& key) {
  auto src = std::make_unique<PandasSource>();
  src->file_name = path.string();
  src->file = open_file(path);
  const hid_t file = src->file;
  key = normalise_key(key);
  std::vector<std::string> pandas_keys;
  for (const auto& g : top_level_groups(file))
    if (has_pandas_type(file, g)) pandas_keys.push_back(g);
  if (key.empty() || key == "/") {
    if (pandas_keys.empty())
      throw InputError(fmt::format(
          "{}: no pandas object (a group with attribute 'pandas_type', written by "
          "DataFrame.to_hdf) at the top level{}; for one dataset per column use --format h5py",
          src->file_name,
          top_level_groups(file).empty() ? std::string() : " (groups: " + join(top_level_groups(file), ", ") + ")"));
    if (pandas_keys.size() > 1)
      throw InputError(fmt::format("{}: {} pandas objects ({}): choose one with --key", src->file_name,
                                   pandas_keys.size(), join(pandas_keys, ", ")));
    key = pandas_keys.front();
  } else if (!is_group(file, key)) {
    throw InputError(fmt::format("{}: no key '{}'{}; the file holds: {}", src->file_name, key,
                                 did_you_mean(key, pandas_keys),
                                 pandas_keys.empty() ? "no pandas object" : join(pandas_keys, ", ")));
  }
  src->group_name = key;
  const std::string gctx = fmt::format("{}:/{}", src->file_name, key);
  src->group = open_checked(H5Gopen2(file, key.c_str(), H5P_DEFAULT), H5Gclose, gctx);
  const hid_t g = src->group;
  if (H5Aexists(g, "pandas_type") <= 0)
    throw InputError(
        fmt::format("{}: not a pandas object (no attribute 'pandas_type'); for one dataset per column "
                    "use --format h5py",
                    gctx));
  const std::string pandas_type = h5::read_string_attribute(g, "pandas_type", gctx);
  if (pandas_type == "frame_table")
    throw InputError(
        fmt::format("{}: written with to_hdf(..., format='table'); bsmhunt reads the default "
                    "format='fixed': rewrite with df.to_hdf(path, key='{}')",
                    gctx, key));
  if (pandas_type == "series")
    throw InputError(fmt::format("{}: a pandas Series, not a DataFrame: write series.to_frame().to_hdf(...)", gctx));
  if (pandas_type != "frame")
    throw InputError(fmt::format("{}: pandas_type '{}', expected 'frame' (a DataFrame)", gctx, pandas_type));
  if (string_attribute_or(g, "axis0_variety", "regular") != "regular")
    throw InputError(
        fmt::format("{}: the columns are a MultiIndex; flatten them first, e.g. "
                    "df.columns = ['_'.join(map(str, c)) for c in df.columns]",
                    gctx));
  const std::vector<std::string> names = read_names(g, "axis0", gctx);
  const int64_t nblocks = h5::read_int_attribute(g, "nblocks", gctx);
  if (nblocks < 0 || nblocks > 100000) throw InputError(fmt::format("{}: nblocks = {} is not valid", gctx, nblocks));

  std::map<std::string, PandasSource::Place> where_is;
  bool have_rows = false;
  uint64_t rows = 0;
  std::string rows_from;
  for (int64_t b = 0; b < nblocks; ++b) {
    const std::string items_name = fmt::format("block{}_items", b), values_name = fmt::format("block{}_values", b);
    const std::vector<std::string> items = read_names(g, items_name, gctx);
    if (!is_dataset(g, values_name))
      throw InputError(fmt::format("{}: dataset '{}' is missing (attribute nblocks = {})", gctx, values_name, nblocks));
    PandasSource::Block blk;
    blk.name = values_name;
    const std::string ctx = gctx + "/" + values_name;
    blk.ds = open_checked(H5Dopen2(g, values_name.c_str(), H5P_DEFAULT), H5Dclose, ctx);
    Handle type = open_checked(H5Dget_type(blk.ds), H5Tclose, ctx);
    blk.type = classify(type);
    if (blk.type.kind == ColumnKind::text) {
      blk.type.kind = ColumnKind::unsupported;
      blk.type.problem = "fixed-length string blocks are not read";
    }
    const std::string value_type = string_attribute_or(blk.ds, "value_type", "");
    if (!value_type.empty() && blk.type.kind != ColumnKind::unsupported) {
      blk.type.problem = fmt::format("{} columns are not read; convert them to numbers", value_type);
      blk.type.dtype = value_type;
      blk.type.kind = ColumnKind::unsupported;
    }
    if (blk.type.dtype == "object")
      blk.type.problem =
          "pandas stores object columns (e.g. strings) pickled, which only Python can read; convert them before "
          "to_hdf, e.g. df['Label'] = (df['Label'] == 's').astype('int8'), or use df['c'].astype('category').cat.codes";
    blk.width = items.size();
    if (blk.type.kind != ColumnKind::unsupported) {
      const auto dims = dims_of(blk.ds, ctx);
      blk.transposed = flag_attribute(blk.ds, "transposed", 1) != 0;
      if (dims.size() != 2)
        throw InputError(
            fmt::format("{}: expected a 2-D block [rows, {}], found shape {}", ctx, items.size(), shape_string(dims)));
      const hsize_t width = blk.transposed ? dims[1] : dims[0], block_rows = blk.transposed ? dims[0] : dims[1];
      if (width != items.size())
        throw InputError(fmt::format("{}: shape {} does not match the {} names in {}", ctx, shape_string(dims),
                                     items.size(), items_name));
      if (have_rows && block_rows != rows)
        throw InputError(fmt::format("{}: {} rows, but {} has {}", ctx, block_rows, rows_from, rows));
      have_rows = true, rows = block_rows, rows_from = values_name;
    }
    for (std::size_t j = 0; j < items.size(); ++j) {
      if (where_is.count(items[j]))
        throw InputError(fmt::format("{}: column '{}' is stored in two blocks", gctx, items[j]));
      where_is[items[j]] = {src->blocks.size(), j};
    }
    src->blocks.push_back(std::move(blk));
  }
  if (is_dataset(g, "axis1")) {
    Handle ax = open_checked(H5Dopen2(g, "axis1", H5P_DEFAULT), H5Dclose, gctx + "/axis1");
    const auto dims = dims_of(ax, gctx + "/axis1");
    if (dims.size() == 1) {
      if (have_rows && dims[0] != rows)
        throw InputError(fmt::format("{}/axis1: index of {} rows, but {} has {}", gctx, dims[0], rows_from, rows));
      if (!have_rows) rows = dims[0];
    }
  }
  src->rows = rows;
  for (const auto& name : names) {
    const auto it = where_is.find(name);
    if (it == where_is.end())
      throw InputError(
          fmt::format("{}: column '{}' of axis0 is in no block (a corrupt or unsupported file)", gctx, name));
    const auto& blk = src->blocks[it->second.block];
    TableColumnInfo info;
    info.name = name;
    info.kind = blk.type.kind;
    info.dtype = blk.type.dtype;
    info.problem = blk.type.problem;
    src->columns.push_back(info);
    src->places.push_back(it->second);
  }
  if (where_is.size() != names.size())
    throw InputError(
        fmt::format("{}: the blocks hold {} columns but axis0 names {}", gctx, where_is.size(), names.size()));
  return src;
}

std::unique_ptr<TableReader::Source> open_h5py(const std::filesystem::path& path, std::string& key) {
  auto src = std::make_unique<H5pySource>();
  src->file_name = path.string();
  src->file = open_file(path);
  const hid_t file = src->file;
  key = normalise_key(key);
  if (key.empty()) key = "/";
  if (key != "/" && !is_group(file, key)) {
    if (is_dataset(file, key))
      throw InputError(
          fmt::format("{}: '{}' is a dataset; --key names the group that holds one dataset per column "
                      "(leave it out for the root group)",
                      src->file_name, key));
    const auto groups = top_level_groups(file);
    throw InputError(fmt::format("{}: no group '{}'{}; top-level groups: {}", src->file_name, key,
                                 did_you_mean(key, groups), groups.empty() ? "none" : join(groups, ", ")));
  }
  src->group_name = key;
  src->group = open_checked(H5Gopen2(file, key.c_str(), H5P_DEFAULT), H5Gclose, src->context(""));
  const hid_t g = src->group;
  std::vector<std::string> subgroups;
  std::string first_name;
  bool have_rows = false;
  for (const auto& name : h5::children(g)) {
    if (is_group(g, name)) {
      subgroups.push_back(name);
      continue;
    }
    if (!is_dataset(g, name)) continue;
    const std::string ctx = src->context(name);
    Handle ds = open_checked(H5Dopen2(g, name.c_str(), H5P_DEFAULT), H5Dclose, ctx);
    Handle type = open_checked(H5Dget_type(ds), H5Tclose, ctx);
    StoredType t = classify(type);
    const auto dims = dims_of(ds, ctx);
    TableColumnInfo info;
    info.name = name;
    if (dims.size() != 1) {
      t.kind = ColumnKind::unsupported;
      t.problem = dims.empty()
                      ? "a scalar, expected a 1-D dataset with one value per row"
                      : fmt::format("shape {}, expected a 1-D dataset with one value per row", shape_string(dims));
    } else if (!have_rows) {
      have_rows = true, src->rows = dims[0], first_name = name;
    } else if (dims[0] != src->rows) {
      throw InputError(fmt::format("{}: {} rows, but '{}' has {}: every column dataset must have the same length", ctx,
                                   dims[0], first_name, src->rows));
    }
    info.kind = t.kind;
    info.dtype = t.dtype;
    info.problem = t.problem;
    src->columns.push_back(info);
    src->types.push_back(t);
    src->datasets.push_back(std::move(ds));
  }
  if (!have_rows)
    throw InputError(fmt::format("{}: no 1-D column datasets{}", src->context(""),
                                 subgroups.empty()
                                     ? std::string()
                                     : "; it holds the groups " + join(subgroups, ", ") + ": choose one with --key"));
  return src;
}

}  // namespace bsmhunt::io::table
