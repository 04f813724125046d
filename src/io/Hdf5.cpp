#include "Hdf5.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/Hdf5State.hpp"
#include "bsmhunt/dist/Watchdog.hpp"
#include "bsmhunt/core/AtomicFile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>

namespace bsmhunt::io::h5 {

void prepare_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    (void)deflate_implementation();  // references FastDeflate.o, so the static library links it
  });
}

namespace {
// What the HDF5 error stack says about the failed call: its message (the API call's,
// e.g. "can't get info for object", with the deepest reason when that differs, e.g.
// "incorrect metadata checksum after all read attempts"), and whether the cause is
// metadata that could not be loaded or decoded from the file, i.e. a damaged file.
struct Hdf5Failure {
  std::string message;
  bool damaged_file = false;
};
Hdf5Failure last_hdf5_failure() {
  struct Walk {
    std::string outer, inner;
    bool damaged = false;
  } walk;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
        auto& w = *static_cast<Walk*>(data);
        if (!err) return 0;
        if (err->desc && *err->desc) (n == 0 ? w.outer : w.inner) = err->desc;
        // Loading a metadata entry into the cache (checksums, signatures, addresses
        // past the end of the file all fail there), decoding a message, or versions
        // and sizes the format does not have: the bytes on disk are wrong. A write that
        // fails (a full disk) reports H5E_WRITEERROR/H5E_CANTFLUSH instead.
        const hid_t m = err->min_num;
        if (m == H5E_CANTLOAD || m == H5E_CANTDECODE || m == H5E_CANTUNSERIALIZE || m == H5E_VERSION ||
            m == H5E_TRUNCATED || m == H5E_BADMESG || m == H5E_ALIGNMENT)
          w.damaged = true;
        return 0;
      },
      &walk);
  H5Eclear2(H5E_DEFAULT);
  Hdf5Failure f;
  f.message = walk.outer.empty() ? "HDF5 call failed" : walk.outer;
  if (!walk.inner.empty() && walk.inner != walk.outer) f.message += ": " + walk.inner;
  f.damaged_file = walk.damaged;
  return f;
}
std::string last_hdf5_message() { return last_hdf5_failure().message; }

// A failed call on a file whose metadata HDF5 cannot read is bad input (exit 2), as any
// other damage bsmhunt finds itself; anything else stays an Error (exit 1).
[[noreturn]] void throw_failure(const std::string& context) {
  const Hdf5Failure f = last_hdf5_failure();
  if (f.damaged_file)
    throw InputError(fmt::format("{}: the file is damaged: HDF5 cannot read its metadata ({})", context, f.message));
  throw Error(fmt::format("{}: {}", context, f.message));
}
}  // namespace

Handle checked(hid_t id, Handle::Closer closer, const std::string& context) {
  if (id < 0) throw_failure(context);
  return Handle(id, closer);
}
namespace {
std::atomic<bool> g_file_close_failed{false};
}  // namespace
void note_failed_file_close() noexcept { g_file_close_failed = true; }
bool file_close_failed() noexcept { return g_file_close_failed; }
herr_t close_parallel_file(hid_t file) { return H5Fclose(file); }

Handle open_for_reading(const std::string& path, hid_t fapl, Handle::Closer closer) {
  prepare_library();
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl);
  if (id < 0)
    throw InputError(fmt::format("{}: the HDF5 file cannot be opened: truncated, damaged or still being written ({})",
                                 path, last_hdf5_message()));
  return Handle(id, closer);
}
Handle open_parallel_for_reading(const dist::Communicator& comm, const std::string& path) {
  Handle fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path);
  check(H5Pset_fapl_mpio(fapl, comm.native(), MPI_INFO_NULL), "parallel HDF5 for " + path);
  // With one rank the close cannot wait for another: close it even when unwinding.
  return open_for_reading(path, fapl, comm.size() == 1 ? &H5Fclose : &close_parallel_file);
}
void check(herr_t status, const std::string& context) {
  if (status < 0) throw_failure(context);
}
void check_read(herr_t status, const std::string& context) {
  if (status < 0)
    throw InputError(fmt::format("{}: the stored data cannot be read ({}): the file is damaged", context,
                                 last_hdf5_message()));
}

hid_t native_type(physics::ColumnType t) {
  using physics::ColumnType;
  switch (t) {
    case ColumnType::f32: return H5T_NATIVE_FLOAT;
    case ColumnType::f64: return H5T_NATIVE_DOUBLE;
    case ColumnType::i8: return H5T_NATIVE_INT8;
    case ColumnType::i32: return H5T_NATIVE_INT32;
    case ColumnType::u64: return H5T_NATIVE_UINT64;
  }
  throw InternalError("unknown column type");
}

bool column_type_of(hid_t dataset, physics::ColumnType& out) {
  using physics::ColumnType;
  Handle type(H5Dget_type(dataset), H5Tclose);
  if (!type.valid()) return false;
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT) {
    if (size == 4) return out = ColumnType::f32, true;
    if (size == 8) return out = ColumnType::f64, true;
  } else if (cls == H5T_INTEGER) {
    const H5T_sign_t sign = H5Tget_sign(type);
    if (size == 1 && sign == H5T_SGN_2) return out = ColumnType::i8, true;
    if (size == 4 && sign == H5T_SGN_2) return out = ColumnType::i32, true;
    if (size == 8 && sign == H5T_SGN_NONE) return out = ColumnType::u64, true;
  }
  return false;
}

bool exists(hid_t loc, const std::string& path) {
  // Check each component so that a missing parent is not an HDF5 error.
  std::string prefix;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    prefix = path.substr(0, slash);
    if (!prefix.empty() && H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

std::vector<std::string> children(hid_t group) {
  std::vector<std::string> names;
  // Creation order where the file tracks it (ours do), else name order.
  unsigned flags = 0;
  {
    Handle gcpl(H5Gget_create_plist(group), H5Pclose);
    if (gcpl.valid()) H5Pget_link_creation_order(gcpl, &flags);
  }
  const H5_index_t index = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  H5Literate(
      group, index, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  return names;
}

std::vector<std::string> attribute_names(hid_t obj) {
  std::vector<std::string> names;
  H5Aiterate2(
      obj, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  return names;
}

namespace {
void write_scalar_attribute(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type, const void* value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space = checked(H5Screate(H5S_SCALAR), H5Sclose, "attribute " + name);
  Handle attr = checked(H5Acreate2(obj, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                        "creating attribute " + name);
  check(H5Awrite(attr, mem_type, value), "writing attribute " + name);
}
Handle string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}
Handle open_attribute(hid_t obj, const std::string& name, const std::string& context) {
  if (H5Aexists(obj, name.c_str()) <= 0)
    throw InputError(fmt::format("{}: attribute '{}' is missing", context, name));
  Handle attr = checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose, context + ": attribute " + name);
  // Every attribute bsmhunt reads holds one value: reading an array of them into one
  // would write past the value (found by fuzzing a feature file).
  Handle space = checked(H5Aget_space(attr), H5Sclose, context + ": attribute " + name);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n != 1)
    throw InputError(fmt::format("{}: attribute '{}' holds {} values, expected one", context, name, n));
  // A damaged type can claim a size its stored value does not have; HDF5 1.10 would copy
  // (and we would allocate) that many bytes.
  Handle type = checked(H5Aget_type(attr), H5Tclose, context + ": attribute " + name);
  if (H5Tis_variable_str(type) <= 0 && H5Aget_storage_size(attr) != H5Tget_size(type))
    throw InputError(fmt::format("{}: attribute '{}' is damaged: its type has {} bytes, the file stores {}", context,
                                 name, H5Tget_size(type), H5Aget_storage_size(attr)));
  return attr;
}
}  // namespace

void write_attribute(hid_t obj, const std::string& name, double value) {
  write_scalar_attribute(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}
void write_attribute(hid_t obj, const std::string& name, int64_t value) {
  write_scalar_attribute(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}
void write_attribute(hid_t obj, const std::string& name, uint64_t value) {
  write_scalar_attribute(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}
void write_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle t = string_type();
  const char* ptr = value.c_str();
  write_scalar_attribute(obj, name, t, t, &ptr);
}
void write_attribute(hid_t obj, const std::string& name, const physics::ParameterValue& value) {
  std::visit([&](const auto& v) { write_attribute(obj, name, v); }, value);
}

double read_double_attribute(hid_t obj, const std::string& name, const std::string& context) {
  Handle attr = open_attribute(obj, name, context);
  Handle type(H5Aget_type(attr), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw InputError(fmt::format("{}: attribute '{}' must be a number", context, name));
  double v = 0;
  check(H5Aread(attr, H5T_NATIVE_DOUBLE, &v), context + ": reading attribute " + name);
  return v;
}
int64_t read_int_attribute(hid_t obj, const std::string& name, const std::string& context) {
  Handle attr = open_attribute(obj, name, context);
  Handle type(H5Aget_type(attr), H5Tclose);
  if (H5Tget_class(type) != H5T_INTEGER)
    throw InputError(fmt::format("{}: attribute '{}' must be an integer", context, name));
  int64_t v = 0;
  check(H5Aread(attr, H5T_NATIVE_INT64, &v), context + ": reading attribute " + name);
  return v;
}
std::string read_string_attribute(hid_t obj, const std::string& name, const std::string& context) {
  Handle attr = open_attribute(obj, name, context);
  Handle type(H5Aget_type(attr), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING)
    throw InputError(fmt::format("{}: attribute '{}' must be a string", context, name));
  if (H5Tis_variable_str(type) > 0) {
    Handle mem = string_type();
    char* ptr = nullptr;
    {
      const dist::WatchedRead watched(fmt::format("{}: attribute '{}'", context, name));  // the global heap
      check(H5Aread(attr, mem, &ptr), context + ": reading attribute " + name);
    }
    std::string out = ptr ? ptr : "";
    H5free_memory(ptr);
    return out;
  }
  // Fixed-length strings (h5py writes these for numpy bytes_).
  const size_t size = H5Tget_size(type);
  std::string out(size, '\0');
  check(H5Aread(attr, type, out.data()), context + ": reading attribute " + name);
  out.resize(out.find('\0') == std::string::npos ? size : out.find('\0'));
  return out;
}
physics::ParameterValue read_parameter_attribute(hid_t obj, const std::string& name, const std::string& context) {
  Handle attr = open_attribute(obj, name, context);
  Handle type(H5Aget_type(attr), H5Tclose);
  switch (H5Tget_class(type)) {
    case H5T_STRING: return read_string_attribute(obj, name, context);
    case H5T_INTEGER: return read_int_attribute(obj, name, context);
    default: return read_double_attribute(obj, name, context);
  }
}

void check_dataset_storage(hid_t dataset, uint64_t values, std::size_t element_size, const std::string& context) {
  // H5Tget_size answers 0 for a type it cannot size: every claim would then look
  // plausible, and the reader would allocate for the claimed count (fuzzed: 46 G values).
  if (element_size == 0)
    throw InputError(fmt::format("{}: damaged: the dataset's element type has no size", context));
  const hsize_t stored = H5Dget_storage_size(dataset);
  const long double wanted = (long double)values * (long double)element_size;
  Handle dcpl(H5Dget_create_plist(dataset), H5Pclose);
  const H5D_layout_t layout = dcpl.valid() ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
  bool plausible = false;
  if (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT)
    plausible = wanted <= (long double)stored;
  else if (layout == H5D_CHUNKED)
    plausible = H5Pget_nfilters(dcpl) > 0 ? wanted <= 1032.0L * stored + 16.0L * 1024 * 1024 : wanted <= (long double)stored;
  if (!plausible)
    throw InputError(fmt::format("{}: damaged: the dataset claims {} values of {} bytes but the file stores {} bytes "
                                 "for it",
                                 context, values, element_size, stored));
  // The storage size is itself read from the file's layout message: a damaged one
  // can claim exabytes, so it must also fit inside the file (datasets here never
  // use external storage).
  hsize_t file_bytes = 0;
  Handle file(H5Iget_file_id(dataset), H5Fclose);
  if (!file.valid() || H5Fget_filesize(file, &file_bytes) < 0 || stored > file_bytes)
    throw InputError(fmt::format("{}: damaged: the dataset claims {} bytes of storage in a file of {} bytes", context,
                                 stored, file_bytes));
}

uint64_t dataset_length(hid_t dataset, const std::string& context) {
  Handle space = checked(H5Dget_space(dataset), H5Sclose, context);
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank != 1) throw InputError(fmt::format("{}: expected a 1-D dataset, found {} dimensions", context, rank));
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  return n;
}

Handle create_parallel_file(const dist::Communicator& comm, const std::string& partial, const std::string& format,
                            int64_t version) {
  prepare_library();
  Handle fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, partial);
  check(H5Pset_fapl_mpio(fapl, comm.native(), MPI_INFO_NULL), "enabling parallel HDF5 for " + partial);
  H5Pset_coll_metadata_write(fapl, true);
  // The 1.10 file format: fixed-array chunk indexes (a v1 B-tree node per chunked
  // dataset is ~2 KB, 20% of a small compressed file). h5py, pandas and any HDF5 >= 1.10 read it.
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110), "file format of " + partial);
  Handle file = checked(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl),
                        comm.size() > 1 ? &close_parallel_file : &H5Fclose, "creating " + partial);
  write_attribute(file, "format", format);
  write_attribute(file, "version", version);
  write_attribute(file, "complete", int64_t(0));  // readers refuse a file cut off mid-way
  return file;
}

void commit_parallel_file(const dist::Communicator& comm, Handle& file, const std::string& partial,
                          const std::string& output) {
  write_attribute(file, "complete", int64_t(1));
  {
    // The flush writes what HDF5 still caches; a write error there (a full disk) can make
    // HDF5 1.10's collective flush diverge between ranks and wait forever: the watchdog
    // bounds that wait (--collective-timeout). A flush that fails on some ranks only is
    // agreed on before the close, which the exception then skips (h5::Handle::reset).
    const dist::CollectiveWait wait("H5Fflush of a parallel HDF5 file");
    std::string flush_problem;
    try {
      check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing " + partial);
    } catch (const Error& e) {
      flush_problem = e.what();
    }
    if (!comm.all(flush_problem.empty()))
      throw Error(flush_problem.empty() ? fmt::format("flushing {}: failed on another rank (disk full?)", partial)
                                        : flush_problem);
    file.reset();
  }
  comm.barrier();
  std::string problem;
  if (comm.is_root()) {
    try {
      commit_partial(partial, output);
    } catch (const Error& e) {
      problem = e.what();
    }
  }
  comm.broadcast(problem);
  if (!problem.empty()) throw Error(problem);
}

namespace {
const std::vector<std::string> kReservedSampleAttributes = {
    "dsid", "process", "role", "cross_section_pb", "k_factor", "filter_efficiency",
    "sum_of_weights", "n_generated", "n_events"};
}

void write_sample_attributes(hid_t g, const physics::SampleInfo& s) {
  write_attribute(g, "dsid", int64_t(s.dsid));
  write_attribute(g, "process", s.process);
  write_attribute(g, "role", std::string(physics::to_string(s.role)));
  write_attribute(g, "cross_section_pb", s.cross_section_pb);
  write_attribute(g, "k_factor", s.k_factor);
  write_attribute(g, "filter_efficiency", s.filter_efficiency);
  write_attribute(g, "sum_of_weights", s.sum_of_weights);
  write_attribute(g, "n_generated", s.n_generated);
  write_attribute(g, "n_events", s.n_events);
  for (const auto& p : s.parameters) write_attribute(g, p.name, p.value);
}

physics::SampleInfo read_sample_attributes(hid_t g, const std::string& name, const std::string& ctx) {
  physics::SampleInfo info;
  info.name = name;
  if (H5Aexists(g, "role") <= 0)
    throw InputError(fmt::format("{}: attribute 'role' is missing; expected background, signal or data", ctx));
  const std::string role = read_string_attribute(g, "role", ctx);
  try {
    info.role = physics::parse_role(role);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", ctx, e.what()));
  }
  info.dsid = uint32_t(read_int_attribute(g, "dsid", ctx));
  info.process = read_string_attribute(g, "process", ctx);
  info.cross_section_pb = read_double_attribute(g, "cross_section_pb", ctx);
  info.k_factor = read_double_attribute(g, "k_factor", ctx);
  info.filter_efficiency = read_double_attribute(g, "filter_efficiency", ctx);
  info.sum_of_weights = read_double_attribute(g, "sum_of_weights", ctx);
  info.n_generated = uint64_t(read_int_attribute(g, "n_generated", ctx));
  info.n_events = uint64_t(read_int_attribute(g, "n_events", ctx));
  // A sample nobody generated events for (e.g. --signal-events 0) weighs nothing; one
  // with events needs the positive normalisation every weight is divided by.
  const bool has_events = info.n_generated > 0 || info.n_events > 0;
  if (info.role != physics::Role::data && has_events && !(info.sum_of_weights > 0))
    throw InputError(fmt::format("{}: sum_of_weights = {} but must be positive for a {} sample", ctx,
                                 info.sum_of_weights, role));
  for (const auto& a : attribute_names(g))
    if (std::find(kReservedSampleAttributes.begin(), kReservedSampleAttributes.end(), a) ==
        kReservedSampleAttributes.end())
      info.parameters.push_back({a, read_parameter_attribute(g, a, ctx)});
  return info;
}

namespace {
void write_whole(const dist::Communicator& comm, hid_t ds, hid_t mem_type, const void* data,
                 const std::string& context) {
  Handle xfer = checked(H5Pcreate(H5P_DATASET_XFER), H5Pclose, context);
  H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE);
  Handle fs = checked(H5Dget_space(ds), H5Sclose, context);
  Handle ms = checked(H5Dget_space(ds), H5Sclose, context);
  if (!comm.is_root()) {
    H5Sselect_none(fs);
    H5Sselect_none(ms);
  }
  check(H5Dwrite(ds, mem_type, ms, fs, xfer, comm.is_root() ? data : nullptr), "writing " + context);
}
}  // namespace

void write_small_dataset(const dist::Communicator& comm, hid_t group, const std::string& name,
                         physics::ColumnType type, const std::vector<uint64_t>& dims, const void* data,
                         const std::string& context) {
  std::vector<hsize_t> d(dims.begin(), dims.end());
  Handle space = checked(H5Screate_simple(int(d.size()), d.data(), nullptr), H5Sclose, context);
  Handle ds = checked(H5Dcreate2(group, name.c_str(), native_type(type), space, H5P_DEFAULT, H5P_DEFAULT,
                                 H5P_DEFAULT), H5Dclose, "creating " + context);
  write_whole(comm, ds, native_type(type), data, context);
}

void write_string_dataset(const dist::Communicator& comm, hid_t group, const std::string& name,
                          const std::vector<std::string>& values, const std::string& context) {
  std::size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  std::string packed(width * values.size(), '\0');
  for (std::size_t i = 0; i < values.size(); ++i) packed.replace(i * width, values[i].size(), values[i]);
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, context);
  H5Tset_size(type, width);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  const hsize_t n = values.size();
  Handle space = checked(H5Screate_simple(1, &n, nullptr), H5Sclose, context);
  Handle ds = checked(H5Dcreate2(group, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
                      "creating " + context);
  write_whole(comm, ds, type, packed.data(), context);
}

std::vector<std::string> read_string_dataset(hid_t group, const std::string& name, const std::string& context) {
  if (!exists(group, name)) throw InputError(fmt::format("{}: dataset '{}' is missing", context, name));
  Handle ds = checked(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, context);
  Handle type = checked(H5Dget_type(ds), H5Tclose, context);
  if (H5Tget_class(type) != H5T_STRING)
    throw InputError(fmt::format("{}/{}: expected strings", context, name));
  const uint64_t n = dataset_length(ds, context + "/" + name);
  std::vector<std::string> out;
  // A variable-length string is stored as a 16-byte global-heap reference.
  const bool variable = H5Tis_variable_str(type) > 0;
  check_dataset_storage(ds, n, variable ? 16 : std::max<std::size_t>(H5Tget_size(type), 1), context + "/" + name);
  if (variable) {
    Handle mem = checked(H5Tcopy(H5T_C_S1), H5Tclose, context);
    H5Tset_size(mem, H5T_VARIABLE);
    std::vector<char*> ptrs(n);
    {
      const dist::WatchedRead watched(context + "/" + name);  // the global heap
      check_read(H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), context + "/" + name);
    }
    for (auto* p : ptrs) out.emplace_back(p ? p : "");
    Handle space = checked(H5Dget_space(ds), H5Sclose, context);
    H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
    return out;
  }
  const std::size_t width = H5Tget_size(type);
  std::string packed(width * n, '\0');
  check_read(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()), context + "/" + name);
  for (uint64_t i = 0; i < n; ++i) {
    std::string v = packed.substr(i * width, width);
    v.resize(std::min(v.size(), v.find('\0')));
    out.push_back(v);
  }
  return out;
}

}  // namespace bsmhunt::io::h5

namespace bsmhunt::io {
bool hdf5_file_close_failed() noexcept { return h5::file_close_failed(); }
}  // namespace bsmhunt::io
