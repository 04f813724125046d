#include <fmt/format.h>

#include <filesystem>
#include <system_error>

#include "Hdf5.hpp"
#include "bsmhunt/core/AtomicFile.hpp"
#include "OrderedSpool.hpp"
#include "bsmhunt/dist/RemovedOnAbort.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/io/EventFile.hpp"

namespace bsmhunt::io {

using physics::Column;
using physics::EventBlock;
using physics::EventSchema;
using physics::SampleInfo;

void check_output_path(const dist::Communicator& comm, const std::filesystem::path& output, bool overwrite,
                       const char* option) {
  std::string problem;
  if (comm.is_root()) {
    namespace fs = std::filesystem;
    const fs::path dir = output.has_parent_path() ? output.parent_path() : fs::path(".");
    std::error_code ec;
    if (output.empty())
      problem = fmt::format("{}: no output file given", option);
    else if (!fs::is_directory(dir, ec))
      problem = fmt::format("{} {}: directory '{}' does not exist", option, output.string(), dir.string());
    else if (fs::is_directory(output, ec))
      problem = fmt::format("{} {}: is a directory", option, output.string());
    else if (fs::exists(output, ec) && !overwrite)
      problem = fmt::format("{} {}: file exists; pass --overwrite to replace it", option, output.string());
  }
  comm.broadcast(problem);
  if (!problem.empty()) throw InputError(problem);
}

Compression parse_compression(const std::string& text, const char* option) {
  if (text == "none") return {0};
  if (text == "deflate") return {1};
  if (text.starts_with("deflate:")) {
    const std::string level = text.substr(8);
    if (level.size() == 1 && level[0] >= '1' && level[0] <= '9') return {level[0] - '0'};
  }
  throw InputError(fmt::format("{} {}: expected none, deflate or deflate:LEVEL with LEVEL 1-9", option, text));
}

std::string to_string(Compression compression) {
  return compression.deflate_level == 0 ? "none" : fmt::format("deflate:{}", compression.deflate_level);
}

namespace {
const void* data_of(const Column& c) {
  return std::visit([](const auto& v) -> const void* { return v.data(); }, c.values);
}
}  // namespace

struct EventFileWriter::Impl {
  const dist::Communicator comm;  // a copy: a handle, and callers may pass a temporary
  std::filesystem::path output;
  std::string partial;
  WriteOptions options;
  std::vector<physics::Parameter> file_attributes;
  EventSchema schema;
  std::vector<SampleInfo> samples;
  dist::RemovedOnAbort removed_on_abort;  // the .partial file and every rank's spool
  OrderedSpool spool;
  // Per sample: spool keys of the columns, then per collection offsets and members.
  struct SampleKeys {
    std::vector<int> columns, offsets;
    std::vector<std::vector<int>> members;
  };
  std::vector<SampleKeys> keys;
  uint64_t round = 0;
  bool committed = false;

  Impl(const dist::Communicator& c, std::filesystem::path out, WriteOptions opt, std::vector<physics::Parameter> attrs,
       EventSchema sch)
      : comm(c),
        output(std::move(out)),
        partial(partial_path(output).string()),
        options(opt),
        file_attributes(std::move(attrs)),
        schema(std::move(sch)),
        removed_on_abort(unfinished_write_files(output, partial, c.size())),
        spool(c, spool_path(output, c.rank()), opt.compression.deflate_level,
              opt.spool_memory_bytes) {}
};

EventFileWriter::EventFileWriter(const dist::Communicator& comm, std::filesystem::path output, WriteOptions options,
                                 std::vector<physics::Parameter> file_attributes, EventSchema schema,
                                 std::vector<SampleInfo> samples)
    : impl_(std::make_unique<Impl>(comm, std::move(output), options, std::move(file_attributes), std::move(schema))) {
  add_samples(samples);
}

EventFileWriter::~EventFileWriter() {
  if (!impl_ || impl_->committed || !impl_->comm.is_root()) return;
  std::error_code ec;  // abandoned after an error: nothing half-written stays
  std::filesystem::remove(impl_->partial, ec);
}

void EventFileWriter::add_samples(const std::vector<SampleInfo>& new_samples) {
  auto& m = *impl_;
  for (const auto& s : new_samples) {
    const std::string g = "/samples/" + s.name;
    Impl::SampleKeys k;
    for (const auto& c : m.schema.columns)
      k.columns.push_back(m.spool.define({g + "/" + c.name, c.type, 0, false, c.unit, c.description}));
    for (const auto& coll : m.schema.collections) {
      const std::string cg = g + "/" + coll.name;
      k.offsets.push_back(m.spool.define({cg + "/offsets", physics::ColumnType::u64, 0, true, "",
                                          "objects of event i are [offsets[i], offsets[i+1])"}));
      std::vector<int> members;
      for (const auto& mem : coll.members)
        members.push_back(m.spool.define({cg + "/" + mem.name, mem.type, 0, false, mem.unit, mem.description}));
      k.members.push_back(std::move(members));
    }
    m.keys.push_back(std::move(k));
    m.samples.push_back(s);
  }
}

void EventFileWriter::write_sample_info(const std::vector<SampleInfo>& infos) {
  for (const auto& info : infos)
    for (auto& s : impl_->samples)
      if (s.name == info.name) s = info;
}

void EventFileWriter::append_round(std::size_t sample, const EventBlock& block) {
  auto& m = *impl_;
  const uint64_t item = m.round++ * uint64_t(m.comm.size()) + uint64_t(m.comm.rank());
  // Every rank calls this every round: a spool write that fails on one rank (a full
  // disk) fails every rank together instead of leaving the others in a later collective.
  dist::collectively(m.comm, [&] {
    if (sample == kNoSample) return;
    if (sample >= m.samples.size()) throw InternalError("append_round: sample index out of range");
    block.check_consistent();
    const auto& k = m.keys[sample];
    for (std::size_t c = 0; c < k.columns.size(); ++c)
      m.spool.add(item, k.columns[c], data_of(block.columns()[c]), block.size());
    for (std::size_t c = 0; c < k.offsets.size(); ++c) {
      const auto& coll = block.collections()[c];
      // Offsets past the leading 0, shifted at write time by the objects before this item.
      m.spool.add(item, k.offsets[c], coll.offsets.data() + 1, block.size(), k.members[c].front());
      for (std::size_t j = 0; j < k.members[c].size(); ++j)
        m.spool.add(item, k.members[c][j], data_of(coll.members[j]), coll.n_objects());
    }
  });
}

void EventFileWriter::commit() {
  auto& m = *impl_;
  const std::vector<uint64_t> totals = m.spool.totals();
  for (std::size_t s = 0; s < m.samples.size(); ++s) {
    const uint64_t got = m.keys[s].columns.empty() ? 0 : totals[std::size_t(m.keys[s].columns.front())];
    if (got != m.samples[s].n_events)
      throw InternalError(fmt::format("{}: sample '{}' got {} events, expected {}", m.output.string(),
                                      m.samples[s].name, got, m.samples[s].n_events));
  }
  h5::Handle file = h5::create_parallel_file(m.comm, m.partial, kEventFormat, kEventFormatVersion);
  for (const auto& a : m.file_attributes) h5::write_attribute(file, a.name, a.value);
  {
    // Creation order is tracked so readers list samples in the order they were written.
    h5::Handle gcpl = h5::checked(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, m.partial);
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    h5::Handle samples = h5::checked(H5Gcreate2(file, "samples", H5P_DEFAULT, gcpl, H5P_DEFAULT), H5Gclose,
                                     m.partial + ":/samples");
    for (const auto& s : m.samples) {
      h5::Handle g = h5::checked(H5Gcreate2(samples, s.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                 H5Gclose, m.partial + ":/samples/" + s.name);
      h5::write_sample_attributes(g, s);
      for (const auto& coll : m.schema.collections) {
        h5::Handle cg = h5::checked(H5Gcreate2(g, coll.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                    H5Gclose, m.partial + ":/samples/" + s.name + "/" + coll.name);
        h5::write_attribute(cg, "description", coll.description);
      }
    }
  }
  m.spool.finish(file, m.output.string());
  h5::commit_parallel_file(m.comm, file, m.partial, m.output.string());
  m.committed = true;
}

}  // namespace bsmhunt::io
