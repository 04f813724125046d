#include <fmt/format.h>

#include <filesystem>
#include <system_error>

#include "Hdf5.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/io/EventFile.hpp"

namespace bsmhunt::io {

using physics::Column;
using physics::EventBlock;
using physics::EventSchema;
using physics::SampleInfo;

void check_output_path(const dist::Communicator& comm, const std::filesystem::path& output, bool overwrite) {
  std::string problem;
  if (comm.is_root()) {
    namespace fs = std::filesystem;
    const fs::path dir = output.has_parent_path() ? output.parent_path() : fs::path(".");
    std::error_code ec;
    if (output.empty())
      problem = "--output: no output file given";
    else if (!fs::is_directory(dir, ec))
      problem = fmt::format("--output {}: directory '{}' does not exist", output.string(), dir.string());
    else if (fs::exists(output, ec) && !overwrite)
      problem = fmt::format("--output {}: file exists; pass --overwrite to replace it", output.string());
    else if (fs::is_directory(output, ec))
      problem = fmt::format("--output {}: is a directory", output.string());
  }
  comm.broadcast(problem);
  if (!problem.empty()) throw InputError(problem);
}

namespace {
std::string partial_name(const std::filesystem::path& output) { return output.string() + ".partial"; }

const void* data_of(const Column& c) {
  return std::visit([](const auto& v) -> const void* { return v.data(); }, c.values);
}
}  // namespace

struct EventFileWriter::Impl {
  const dist::Communicator& comm;
  std::filesystem::path output;
  std::string partial;
  WriteOptions options;
  EventSchema schema;
  std::vector<SampleInfo> samples;
  h5::Handle file;
  h5::Handle collective_xfer;
  h5::Handle samples_group;
  // Per sample: datasets in a fixed order (columns, then per collection the
  // offsets and the members), and their current lengths.
  struct SampleDatasets {
    std::vector<h5::Handle> columns;
    std::vector<h5::Handle> offsets;
    std::vector<std::vector<h5::Handle>> members;
    uint64_t n_events = 0;
    std::vector<uint64_t> n_objects;
  };
  std::vector<SampleDatasets> datasets;
  bool committed = false;

  Impl(const dist::Communicator& c, std::filesystem::path out, WriteOptions opt, EventSchema sch,
       std::vector<SampleInfo> smp)
      : comm(c),
        output(std::move(out)),
        partial(partial_name(output)),
        options(opt),
        schema(std::move(sch)),
        samples(std::move(smp)) {}

  std::string where(const std::string& object) const { return fmt::format("{}:{}", output.string(), object); }

  h5::Handle create_dataset(hid_t group, const std::string& name, physics::ColumnType type, const std::string& unit,
                            const std::string& description, const std::string& context) {
    return h5::create_extendible(group, name, type, 0, options.chunk_elements, options.compression, unit, description,
                                 context);
  }
  void append(hid_t ds, physics::ColumnType type, uint64_t old_len, const std::vector<uint64_t>& counts,
              const void* data, const std::string& context) {
    h5::append_rows(comm, ds, type, 0, old_len, counts, data, collective_xfer, context);
  }
};

EventFileWriter::EventFileWriter(const dist::Communicator& comm, std::filesystem::path output, WriteOptions options,
                                 std::vector<physics::Parameter> file_attributes, EventSchema schema,
                                 std::vector<SampleInfo> samples)
    : impl_(std::make_unique<Impl>(comm, std::move(output), options, std::move(schema), std::move(samples))) {
  h5::silence_library_errors();
  auto& m = *impl_;
  h5::Handle fapl = h5::checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, m.partial);
  h5::check(H5Pset_fapl_mpio(fapl, comm.native(), MPI_INFO_NULL), "enabling parallel HDF5 for " + m.partial);
  H5Pset_all_coll_metadata_ops(fapl, true);
  H5Pset_coll_metadata_write(fapl, true);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
  m.file = h5::checked(H5Fcreate(m.partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose,
                       "creating " + m.partial);
  m.collective_xfer = h5::checked(H5Pcreate(H5P_DATASET_XFER), H5Pclose, m.partial);
  H5Pset_dxpl_mpio(m.collective_xfer, H5FD_MPIO_COLLECTIVE);

  h5::write_attribute(m.file, "format", std::string(kEventFormat));
  h5::write_attribute(m.file, "version", kEventFormatVersion);
  // 0 until commit(): a file cut off mid-way is refused by every reader.
  h5::write_attribute(m.file, "complete", int64_t(0));
  for (const auto& a : file_attributes) h5::write_attribute(m.file, a.name, a.value);

  // Track creation order so readers list samples in the order they were written.
  h5::Handle gcpl = h5::checked(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, m.partial);
  H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  h5::Handle samples_group = h5::checked(H5Gcreate2(m.file, "samples", H5P_DEFAULT, gcpl, H5P_DEFAULT),
                                         H5Gclose, m.where("/samples"));
  m.samples_group = std::move(samples_group);
  auto initial = std::move(m.samples);
  m.samples.clear();
  add_samples(initial);
}

void EventFileWriter::add_samples(const std::vector<SampleInfo>& new_samples) {
  auto& m = *impl_;
  const auto& comm = m.comm;
  auto& samples_group = m.samples_group;
  for (const auto& s : new_samples) {
    const std::string gpath = "/samples/" + s.name;
    h5::Handle g = h5::checked(H5Gcreate2(samples_group, s.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                               H5Gclose, m.where(gpath));
    Impl::SampleDatasets d;
    for (const auto& c : m.schema.columns)
      d.columns.push_back(m.create_dataset(g, c.name, c.type, c.unit, c.description, m.where(gpath + "/" + c.name)));
    for (const auto& coll : m.schema.collections) {
      const std::string cpath = gpath + "/" + coll.name;
      h5::Handle cg = h5::checked(H5Gcreate2(g, coll.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                  H5Gclose, m.where(cpath));
      h5::write_attribute(cg, "description", coll.description);
      d.offsets.push_back(m.create_dataset(cg, "offsets", physics::ColumnType::u64, "",
                                           "objects of event i are [offsets[i], offsets[i+1])",
                                           m.where(cpath + "/offsets")));
      // offsets starts with a single 0, written by rank 0.
      std::vector<uint64_t> counts(comm.size(), 0);
      counts[0] = 1;
      const uint64_t zero = 0;
      m.append(d.offsets.back(), physics::ColumnType::u64, 0, counts, &zero, m.where(cpath + "/offsets"));
      std::vector<h5::Handle> members;
      for (const auto& mem : coll.members)
        members.push_back(
            m.create_dataset(cg, mem.name, mem.type, mem.unit, mem.description, m.where(cpath + "/" + mem.name)));
      d.members.push_back(std::move(members));
      d.n_objects.push_back(0);
    }
    m.datasets.push_back(std::move(d));
  }
  m.samples.insert(m.samples.end(), new_samples.begin(), new_samples.end());
  write_sample_info(new_samples);
}


EventFileWriter::~EventFileWriter() {
  if (!impl_ || impl_->committed) return;
  // Abandoned (an error on the way): close and remove the partial file.
  impl_->datasets.clear();
  impl_->samples_group.reset();
  impl_->file.reset();
  if (impl_->comm.is_root()) {
    std::error_code ec;
    std::filesystem::remove(impl_->partial, ec);
  }
}

void EventFileWriter::write_sample_info(const std::vector<SampleInfo>& samples) {
  auto& m = *impl_;
  for (const auto& s : samples) {
    const std::string gpath = "/samples/" + s.name;
    h5::Handle g = h5::checked(H5Gopen2(m.file, gpath.c_str(), H5P_DEFAULT), H5Gclose, m.where(gpath));
    h5::write_sample_attributes(g, s);
  }
}

void EventFileWriter::append_round(std::size_t sample, const EventBlock& block) {
  auto& m = *impl_;
  const std::size_t n_coll = m.schema.collections.size();
  const bool have = sample != kNoSample;
  if (have && sample >= m.samples.size()) throw InternalError("append_round: sample index out of range");
  if (have) block.check_consistent();
  // What every rank contributes: sample, events, objects per collection.
  std::vector<uint64_t> mine(2 + n_coll, 0);
  mine[0] = have ? uint64_t(sample) : uint64_t(-1);
  mine[1] = have ? block.size() : 0;
  for (std::size_t c = 0; have && c < n_coll; ++c) mine[2 + c] = block.collections()[c].n_objects();
  const std::vector<uint64_t> all = m.comm.all_gather(mine);
  const std::size_t stride = 2 + n_coll;
  auto field = [&](int r, std::size_t k) { return all[std::size_t(r) * stride + k]; };

  std::vector<uint64_t> touched;
  for (int r = 0; r < m.comm.size(); ++r) {
    const uint64_t s = field(r, 0);
    if (s == uint64_t(-1)) continue;
    if (!touched.empty() && s < touched.back())
      throw InternalError("append_round: samples must be non-decreasing in rank order");
    if (touched.empty() || touched.back() != s) touched.push_back(s);
  }
  std::vector<uint64_t> offsets_buffer;
  for (const uint64_t s : touched) {
    auto& d = m.datasets[s];
    const bool is_mine = have && sample == s;
    const std::string gpath = "/samples/" + m.samples[s].name;
    std::vector<uint64_t> events(m.comm.size());
    for (int r = 0; r < m.comm.size(); ++r) events[r] = field(r, 0) == s ? field(r, 1) : 0;
    for (std::size_t c = 0; c < m.schema.columns.size(); ++c) {
      const auto& spec = m.schema.columns[c];
      m.append(d.columns[c], spec.type, d.n_events, events, is_mine ? data_of(block.columns()[c]) : nullptr,
               m.where(gpath + "/" + spec.name));
    }
    for (std::size_t c = 0; c < n_coll; ++c) {
      const auto& cspec = m.schema.collections[c];
      std::vector<uint64_t> objects(m.comm.size());
      uint64_t base = d.n_objects[c], total = 0;
      for (int r = 0; r < m.comm.size(); ++r) {
        objects[r] = field(r, 0) == s ? field(r, 2 + c) : 0;
        if (r < m.comm.rank()) base += objects[r];
        total += objects[r];
      }
      // Offsets of the block are local (start at 0): shift by the objects before it.
      if (is_mine) {
        const auto& local = block.collections()[c].offsets;
        offsets_buffer.assign(local.begin() + 1, local.end());
        for (auto& o : offsets_buffer) o += base;
      }
      const std::string cpath = gpath + "/" + cspec.name;
      m.append(d.offsets[c], physics::ColumnType::u64, d.n_events + 1, events,
               is_mine ? offsets_buffer.data() : nullptr, m.where(cpath + "/offsets"));
      for (std::size_t k = 0; k < cspec.members.size(); ++k)
        m.append(d.members[c][k], cspec.members[k].type, d.n_objects[c], objects,
                 is_mine ? data_of(block.collections()[c].members[k]) : nullptr,
                 m.where(cpath + "/" + cspec.members[k].name));
      d.n_objects[c] += total;
    }
    for (int r = 0; r < m.comm.size(); ++r) d.n_events += events[r];
  }
}

void EventFileWriter::commit() {
  auto& m = *impl_;
  for (std::size_t s = 0; s < m.samples.size(); ++s)
    if (m.datasets[s].n_events != m.samples[s].n_events)
      throw InternalError(fmt::format("{}: sample '{}' got {} events, expected {}", m.output.string(),
                                      m.samples[s].name, m.datasets[s].n_events, m.samples[s].n_events));
  m.datasets.clear();
  m.samples_group.reset();
  h5::write_attribute(m.file, "complete", int64_t(1));
  h5::check(H5Fflush(m.file, H5F_SCOPE_GLOBAL), "flushing " + m.partial);
  m.collective_xfer.reset();
  m.file.reset();
  m.comm.barrier();
  std::string problem;
  if (m.comm.is_root()) {
    std::error_code ec;
    std::filesystem::rename(m.partial, m.output, ec);
    if (ec) problem = fmt::format("renaming {} to {}: {}", m.partial, m.output.string(), ec.message());
  }
  m.comm.broadcast(problem);
  if (!problem.empty()) throw Error(problem);
  m.committed = true;
}

}  // namespace bsmhunt::io
