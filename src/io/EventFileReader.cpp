#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "Hdf5.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/io/EventFile.hpp"

namespace bsmhunt::io {

using physics::ColumnSpec;
using physics::ColumnType;
using physics::EventBlock;
using physics::EventSchema;

namespace {
std::string optional_string_attribute(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) <= 0) return "";
  return h5::read_string_attribute(obj, name, "");
}
}  // namespace

struct EventFileReader::Impl {
  std::filesystem::path path;
  h5::Handle file;
  h5::Handle independent_xfer;
  std::vector<physics::Parameter> attributes;
  std::vector<SampleLayout> samples;

  std::string where(const std::string& object) const { return fmt::format("{}:{}", path.string(), object); }

  ColumnSpec column_spec(hid_t ds, const std::string& name, const std::string& context) const {
    ColumnType t;
    if (!h5::column_type_of(ds, t))
      throw InputError(fmt::format("{}: unsupported dtype; expected float32, float64, int8, int32 or uint64",
                                   context));
    return ColumnSpec{name, t, optional_string_attribute(ds, "unit"), optional_string_attribute(ds, "description")};
  }

  void require_type(const ColumnSpec& spec, std::initializer_list<ColumnType> allowed, const std::string& context) const {
    if (std::find(allowed.begin(), allowed.end(), spec.type) != allowed.end()) return;
    std::vector<std::string> names;
    for (auto t : allowed) names.emplace_back(physics::to_string(t));
    throw InputError(fmt::format("{}: dtype {} where {} was expected", context, physics::to_string(spec.type),
                                 join(names, " or ")));
  }

  SampleLayout load_sample(hid_t samples_group, const std::string& name) {
    const std::string gpath = "/samples/" + name;
    const std::string ctx = where(gpath);
    H5O_info_t oinfo;
    if (H5Oget_info_by_name(samples_group, name.c_str(), &oinfo, H5P_DEFAULT) < 0 || oinfo.type != H5O_TYPE_GROUP)
      throw InputError(fmt::format("{}: expected a group (one per sample)", ctx));
    h5::Handle g = h5::checked(H5Gopen2(samples_group, name.c_str(), H5P_DEFAULT), H5Gclose, ctx);
    SampleLayout s;
    s.info = h5::read_sample_attributes(g, name, ctx);
    const auto& info = s.info;
    // Columns are the 1-D datasets of the group, collections its subgroups.
    for (const auto& child : h5::children(g)) {
      const std::string cpath = gpath + "/" + child;
      H5O_info_t ci;
      h5::check(H5Oget_info_by_name(g, child.c_str(), &ci, H5P_DEFAULT), where(cpath));
      if (ci.type == H5O_TYPE_DATASET) {
        h5::Handle ds = h5::checked(H5Dopen2(g, child.c_str(), H5P_DEFAULT), H5Dclose, where(cpath));
        auto spec = column_spec(ds, child, where(cpath));
        const uint64_t n = h5::dataset_length(ds, where(cpath));
        if (n != info.n_events)
          throw InputError(fmt::format("{}: {} values but the sample has n_events = {}", where(cpath), n,
                                       info.n_events));
        s.schema.columns.push_back(std::move(spec));
      } else if (ci.type == H5O_TYPE_GROUP) {
        s.schema.collections.push_back(load_collection(g, child, gpath, info.n_events));
      }
    }
    for (const char* required : {"event_number", "weight_mc"})
      if (!s.schema.find_column(required))
        throw InputError(fmt::format("{}: required dataset '{}' is missing", ctx, required));
    require_type(*s.schema.find_column("event_number"), {ColumnType::u64}, where(gpath + "/event_number"));
    require_type(*s.schema.find_column("weight_mc"), {ColumnType::f32, ColumnType::f64}, where(gpath + "/weight_mc"));
    return s;
  }

  physics::CollectionSpec load_collection(hid_t sample_group, const std::string& name, const std::string& gpath,
                                          uint64_t n_events) {
    const std::string cpath = gpath + "/" + name;
    h5::Handle cg = h5::checked(H5Gopen2(sample_group, name.c_str(), H5P_DEFAULT), H5Gclose, where(cpath));
    physics::CollectionSpec spec{name, optional_string_attribute(cg, "description"), {}};
    if (!h5::exists(cg, "offsets"))
      throw InputError(fmt::format("{}: jagged collection without an 'offsets' dataset", where(cpath)));
    h5::Handle off = h5::checked(H5Dopen2(cg, "offsets", H5P_DEFAULT), H5Dclose, where(cpath + "/offsets"));
    require_type(column_spec(off, "offsets", where(cpath + "/offsets")), {ColumnType::u64}, where(cpath + "/offsets"));
    const uint64_t n_off = h5::dataset_length(off, where(cpath + "/offsets"));
    if (n_off != n_events + 1)
      throw InputError(fmt::format("{}: {} offsets but the sample has {} events (expected n_events + 1 = {})",
                                   where(cpath + "/offsets"), n_off, n_events, n_events + 1));
    // First and last offset: 0 and the length of every member.
    uint64_t first_last[2] = {0, 0};
    const hsize_t coords[2] = {0, n_off - 1};
    h5::Handle fs = h5::checked(H5Dget_space(off), H5Sclose, where(cpath));
    H5Sselect_elements(fs, H5S_SELECT_SET, 2, coords);
    const hsize_t two = 2;
    h5::Handle ms = h5::checked(H5Screate_simple(1, &two, nullptr), H5Sclose, where(cpath));
    h5::check_read(H5Dread(off, H5T_NATIVE_UINT64, ms, fs, independent_xfer, first_last), where(cpath + "/offsets"));
    if (first_last[0] != 0)
      throw InputError(fmt::format("{}: offsets[0] = {}, expected 0", where(cpath + "/offsets"), first_last[0]));
    for (const auto& child : h5::children(cg)) {
      if (child == "offsets") continue;
      const std::string mpath = cpath + "/" + child;
      h5::Handle ds = h5::checked(H5Dopen2(cg, child.c_str(), H5P_DEFAULT), H5Dclose, where(mpath));
      auto mspec = column_spec(ds, child, where(mpath));
      const uint64_t n = h5::dataset_length(ds, where(mpath));
      if (n != first_last[1])
        throw InputError(fmt::format("{}: {} values but offsets end at {} (the two must agree)", where(mpath), n,
                                     first_last[1]));
      spec.members.push_back(std::move(mspec));
    }
    return spec;
  }
};

EventFileReader::EventFileReader(const dist::Communicator& comm, std::filesystem::path path)
    : impl_(std::make_unique<Impl>()) {
  h5::prepare_library();
  auto& m = *impl_;
  m.path = std::move(path);
  h5::ReadingScope reading(m.path.string());
  std::error_code ec;
  if (!std::filesystem::is_regular_file(m.path, ec))
    throw InputError(fmt::format("{}: no such file", m.path.string()));
  if (H5Fis_hdf5(m.path.c_str()) <= 0)
    throw InputError(fmt::format("{}: not an HDF5 file", m.path.string()));
  m.file = h5::open_parallel_for_reading(comm, m.path.string());
  m.independent_xfer = h5::checked(H5Pcreate(H5P_DATASET_XFER), H5Pclose, m.path.string());
  H5Pset_dxpl_mpio(m.independent_xfer, H5FD_MPIO_INDEPENDENT);

  const std::string root = m.where("/");
  if (H5Aexists(m.file, "format") <= 0)
    throw InputError(fmt::format("{}: attribute 'format' is missing; expected '{}' (is this a bsmhunt event file?)",
                                 root, kEventFormat));
  const std::string format = h5::read_string_attribute(m.file, "format", root);
  if (format != kEventFormat)
    throw InputError(fmt::format("{}: format is '{}', expected '{}'", root, format, kEventFormat));
  const int64_t version = h5::read_int_attribute(m.file, "version", root);
  if (version < 1 || version > kEventFormatVersion)
    throw InputError(fmt::format("{}: format version {} is not supported (this bsmhunt reads 1..{})", root, version,
                                 kEventFormatVersion));
  if (H5Aexists(m.file, "complete") > 0 && h5::read_int_attribute(m.file, "complete", root) != 1)
    throw InputError(fmt::format("{}: incomplete file (attribute complete = 0): the job writing it did not finish",
                                 root));
  for (const auto& a : h5::attribute_names(m.file)) m.attributes.push_back({a, h5::read_parameter_attribute(m.file, a, root)});
  if (!h5::exists(m.file, "samples"))
    throw InputError(fmt::format("{}: group '/samples' is missing", root));
  h5::Handle samples = h5::checked(H5Gopen2(m.file, "samples", H5P_DEFAULT), H5Gclose, m.where("/samples"));
  for (const auto& name : h5::children(samples)) m.samples.push_back(m.load_sample(samples, name));
  if (m.samples.empty()) throw InputError(fmt::format("{}: no samples under /samples", root));
}

EventFileReader::~EventFileReader() = default;

const std::filesystem::path& EventFileReader::path() const { return impl_->path; }
const std::vector<physics::Parameter>& EventFileReader::attributes() const { return impl_->attributes; }
const std::vector<SampleLayout>& EventFileReader::samples() const { return impl_->samples; }

double EventFileReader::luminosity_ifb() const {
  for (const auto& a : impl_->attributes)
    if (a.name == "luminosity_ifb") {
      if (const double* v = std::get_if<double>(&a.value)) return *v;
      if (const int64_t* i = std::get_if<int64_t>(&a.value)) return double(*i);
    }
  throw InputError(fmt::format("{}: attribute 'luminosity_ifb' is missing or not a number", impl_->where("/")));
}

std::string EventFileReader::channel() const {
  for (const auto& a : impl_->attributes)
    if (a.name == "channel")
      if (const std::string* s = std::get_if<std::string>(&a.value)) return *s;
  return "";
}

std::size_t EventFileReader::sample_index(std::string_view name) const {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < impl_->samples.size(); ++i) {
    if (impl_->samples[i].info.name == name) return i;
    names.push_back(impl_->samples[i].info.name);
  }
  throw InputError(fmt::format("{}: no sample '{}'{}", impl_->path.string(), name, did_you_mean(name, names)));
}

namespace {
void read_range(hid_t ds, hid_t xfer, physics::ColumnType type, uint64_t begin, uint64_t count, void* out,
                const std::string& context) {
  h5::Handle fs = h5::checked(H5Dget_space(ds), H5Sclose, context);
  const hsize_t start = begin, n = count, one = 1;
  h5::Handle ms = h5::checked(H5Screate_simple(1, n ? &n : &one, nullptr), H5Sclose, context);
  if (n) {
    h5::check(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, nullptr, &n, nullptr), context);
  } else {
    H5Sselect_none(fs);
    H5Sselect_none(ms);
  }
  h5::check_read(H5Dread(ds, h5::native_type(type), ms, fs, xfer, out), "reading " + context);
}
}  // namespace

void EventFileReader::read(std::size_t sample, uint64_t begin, uint64_t end, EventBlock& block,
                           const std::vector<std::string>& columns) const {
  const auto& m = *impl_;
  h5::ReadingScope reading(m.path.string());
  if (sample >= m.samples.size()) throw InternalError("EventFileReader::read: sample index out of range");
  const SampleLayout& layout = m.samples[sample];
  if (begin > end || end > layout.info.n_events)
    throw InternalError(fmt::format("EventFileReader::read: range [{}, {}) outside sample '{}' of {} events", begin,
                                    end, layout.info.name, layout.info.n_events));
  EventSchema schema;
  auto wanted = [&](const std::string& n) {
    return columns.empty() || std::find(columns.begin(), columns.end(), n) != columns.end();
  };
  for (const auto& c : layout.schema.columns)
    if (wanted(c.name)) schema.columns.push_back(c);
  for (const auto& c : layout.schema.collections)
    if (wanted(c.name)) schema.collections.push_back(c);
  for (const auto& n : columns)
    if (!layout.schema.find_column(n) && !layout.schema.find_collection(n)) {
      std::vector<std::string> names;
      for (const auto& c : layout.schema.columns) names.push_back(c.name);
      for (const auto& c : layout.schema.collections) names.push_back(c.name);
      throw InputError(fmt::format("{}: sample '{}' has no dataset or collection '{}'{}; it has: {}", m.path.string(),
                                   layout.info.name, n, did_you_mean(n, names), join(names, ", ")));
    }
  block = EventBlock(schema);
  const uint64_t count = end - begin;
  const std::string gpath = "/samples/" + layout.info.name;
  h5::Handle g = h5::checked(H5Gopen2(m.file, gpath.c_str(), H5P_DEFAULT), H5Gclose, m.where(gpath));
  auto resize = [](physics::Column& c, uint64_t n) { std::visit([n](auto& v) { v.resize(n); }, c.values); };
  auto data = [](physics::Column& c) { return std::visit([](auto& v) -> void* { return v.data(); }, c.values); };
  for (auto& col : block.columns()) {
    const std::string path = gpath + "/" + col.spec.name;
    h5::Handle ds = h5::checked(H5Dopen2(g, col.spec.name.c_str(), H5P_DEFAULT), H5Dclose, m.where(path));
    resize(col, count);
    read_range(ds, m.independent_xfer, col.spec.type, begin, count, data(col), m.where(path));
  }
  for (auto& coll : block.collections()) {
    const std::string cpath = gpath + "/" + coll.spec.name;
    h5::Handle cg = h5::checked(H5Gopen2(g, coll.spec.name.c_str(), H5P_DEFAULT), H5Gclose, m.where(cpath));
    h5::Handle off = h5::checked(H5Dopen2(cg, "offsets", H5P_DEFAULT), H5Dclose, m.where(cpath + "/offsets"));
    std::vector<uint64_t> offsets(count + 1);
    read_range(off, m.independent_xfer, ColumnType::u64, begin, count + 1, offsets.data(),
                     m.where(cpath + "/offsets"));
    for (uint64_t i = 0; i < count; ++i)
      if (offsets[i + 1] < offsets[i])
        throw InputError(fmt::format("{}: offsets decrease at event {} ({} then {}); they must be non-decreasing",
                                     m.where(cpath + "/offsets"), begin + i, offsets[i], offsets[i + 1]));
    const uint64_t first = offsets.front(), n_obj = offsets.back() - first;
    for (auto& o : offsets) o -= first;
    coll.offsets = std::move(offsets);
    for (auto& mem : coll.members) {
      const std::string mpath = cpath + "/" + mem.spec.name;
      h5::Handle ds = h5::checked(H5Dopen2(cg, mem.spec.name.c_str(), H5P_DEFAULT), H5Dclose, m.where(mpath));
      resize(mem, n_obj);
      read_range(ds, m.independent_xfer, mem.spec.type, first, n_obj, data(mem), m.where(mpath));
    }
  }
}

}  // namespace bsmhunt::io
