#include "bsmhunt/io/FeatureFile.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <optional>

#include "Hdf5.hpp"
#include "bsmhunt/core/AtomicFile.hpp"
#include "OrderedSpool.hpp"
#include "bsmhunt/dist/RemovedOnAbort.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::io {

using physics::ColumnType;

namespace {
struct KindNames {
  const char* format;
  const char* matrix;  // "features" or "score"
  const char* names;
  const char* units;
  const char* what;    // for error messages
};
KindNames names_of(RowFileKind kind) {
  if (kind == RowFileKind::scores) return {kScoreFormat, "score", "score_names", "score_units", "score file"};
  return {kFeatureFormat, "features", "feature_names", "feature_units", "feature file"};
}
}  // namespace

void FeatureBlock::clear() {
  features.clear(), weight.clear(), label.clear(), sample_index.clear(), event_number.clear(), mass.clear(),
      split.clear();
}
void FeatureBlock::reserve(std::size_t rows) {
  features.reserve(rows * n_features), weight.reserve(rows), label.reserve(rows), sample_index.reserve(rows),
      event_number.reserve(rows), mass.reserve(rows), split.reserve(rows);
}
void FeatureBlock::check_consistent() const {
  const std::size_t n = size();
  if (features.size() != n * n_features || label.size() != n || sample_index.size() != n ||
      event_number.size() != n || mass.size() != n || split.size() != n)
    throw InternalError(fmt::format("feature block columns disagree on {} rows", n));
}

namespace {
// The per-row columns besides `features`, in file order.
struct RowColumn {
  const char* name;
  ColumnType type;
  const char* unit;
  const char* description;
};
constexpr RowColumn kRowColumns[] = {
    {"weight", ColumnType::f64, "", "analysis weight: weight_mc x sigma x k x eps x L / sum_of_weights (data: 1)"},
    {"label", ColumnType::i32, "", "1 for signal, 0 for background and data"},
    {"sample_index", ColumnType::i32, "", "index into sample_names"},
    {"event_number", ColumnType::u64, "", "event number within the sample"},
    {"mass", ColumnType::f32, "GeV", "the resonant mass variable of the feature set (m_ll, m_JJ)"},
    {"split", ColumnType::i8, "", "0 train, 1 validation, 2 test (from a hash of the event number)"},
};
const void* row_data(const FeatureBlock& b, std::size_t i) {
  switch (i) {
    case 0: return b.weight.data();
    case 1: return b.label.data();
    case 2: return b.sample_index.data();
    case 3: return b.event_number.data();
    case 4: return b.mass.data();
    default: return b.split.data();
  }
}
void* row_data(FeatureBlock& b, std::size_t i) { return const_cast<void*>(row_data(std::as_const(b), i)); }
void resize_rows(FeatureBlock& b, std::size_t n) {
  b.features.resize(n * b.n_features), b.weight.resize(n), b.label.resize(n), b.sample_index.resize(n),
      b.event_number.resize(n), b.mass.resize(n), b.split.resize(n);
}
}  // namespace

struct FeatureFileWriter::Impl {
  const dist::Communicator comm;  // a copy: a handle, and callers may pass a temporary
  std::filesystem::path output;
  std::string partial;
  WriteOptions options;
  FeatureFileHeader header;
  dist::RemovedOnAbort removed_on_abort;  // the .partial file and every rank's spool
  OrderedSpool spool;
  int features_key = -1;
  std::vector<int> column_keys;
  std::optional<FeatureStatistics> stats;
  std::optional<Cutflow> cutflow;
  uint64_t rows = 0, round = 0;
  bool committed = false;
  KindNames kind;
  Impl(const dist::Communicator& c, std::filesystem::path out, WriteOptions opt, FeatureFileHeader h, RowFileKind k)
      : comm(c),
        output(std::move(out)),
        partial(partial_path(output).string()),
        options(opt),
        header(std::move(h)),
        removed_on_abort(unfinished_write_files(output, partial, c.size())),
        spool(c, spool_path(output, c.rank()), opt.compression.deflate_level,
              opt.spool_memory_bytes),
        kind(names_of(k)) {}
  std::string where(const std::string& o) const { return fmt::format("{}:{}", output.string(), o); }
};

namespace {

// Creates `view` as a virtual dataset [rows, size, size] mapped onto columns
// [first, first + size^2) of /features of the same file ("."): both selections
// hold rows x size^2 elements and are traversed in row-major order, so cell (i, j)
// of row r is feature first + i*size + j of row r. Collective (dataset creation).
void write_matrix_view(hid_t file, const FeatureMatrixView& view, std::size_t n_features, const std::string& where) {
  const hsize_t cells = hsize_t(view.size) * view.size;
  if (view.size == 0 || view.first + cells > n_features)
    throw InternalError(fmt::format("{}: matrix view of {}x{} from feature {} exceeds the {} features", where,
                                    view.size, view.size, view.first, n_features));
  h5::Handle features = h5::checked(H5Dopen2(file, "features", H5P_DEFAULT), H5Dclose, where);
  h5::Handle source = h5::checked(H5Dget_space(features), H5Sclose, where);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(source, dims, nullptr);
  const hsize_t rows = dims[0];
  const hsize_t vdims[3] = {rows, view.size, view.size};
  h5::Handle vspace = h5::checked(H5Screate_simple(3, vdims, nullptr), H5Sclose, where);
  h5::Handle dcpl = h5::checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, where);
  if (rows > 0) {
    const hsize_t start[2] = {0, view.first}, count[2] = {rows, cells};
    h5::check(H5Sselect_hyperslab(source, H5S_SELECT_SET, start, nullptr, count, nullptr), where);
    h5::check(H5Pset_virtual(dcpl, vspace, ".", "/features", source), where);
  }
  h5::Handle d = h5::checked(H5Dcreate2(file, view.name.c_str(), H5T_IEEE_F32LE, vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                             H5Dclose, where);
  h5::write_attribute(d, "description", view.description);
  h5::write_attribute(d, "first_feature", int64_t(view.first));
}

}  // namespace

FeatureFileWriter::FeatureFileWriter(const dist::Communicator& comm, std::filesystem::path output,
                                     WriteOptions options, FeatureFileHeader header, RowFileKind kind)
    : impl_(std::make_unique<Impl>(comm, std::move(output), options, std::move(header), kind)) {
  auto& m = *impl_;
  const std::size_t F = m.header.feature_names.size();
  if (m.header.feature_units.size() != F) throw InternalError("feature units and names differ in length");
  const bool one_score = kind == RowFileKind::scores && F == 1;
  m.features_key = m.spool.define({std::string("/") + m.kind.matrix, ColumnType::f32,
                                   one_score ? 0 : std::max<std::size_t>(F, 1), false, "",
                                   fmt::format("one row per event, columns named by {}", m.kind.names)});
  for (const auto& c : kRowColumns) m.column_keys.push_back(m.spool.define({std::string("/") + c.name, c.type, 0, false, c.unit, c.description}));
}

FeatureFileWriter::~FeatureFileWriter() {
  if (!impl_ || impl_->committed || !impl_->comm.is_root()) return;
  std::error_code ec;
  std::filesystem::remove(impl_->partial, ec);
}

void FeatureFileWriter::append_item(uint64_t item, const FeatureBlock& b) {
  auto& m = *impl_;
  if (b.n_features != m.header.feature_names.size())
    throw InternalError(fmt::format("feature block has {} features, file has {}", b.n_features,
                                    m.header.feature_names.size()));
  b.check_consistent();
  m.spool.add(item, m.features_key, b.features.data(), b.size());
  for (std::size_t i = 0; i < m.column_keys.size(); ++i) m.spool.add(item, m.column_keys[i], row_data(b, i), b.size());
  m.rows += b.size();
}

void FeatureFileWriter::append_round(const FeatureBlock& b) {
  auto& m = *impl_;
  if (b.n_features != m.header.feature_names.size())
    throw InternalError(fmt::format("feature block has {} features, file has {}", b.n_features,
                                    m.header.feature_names.size()));
  b.check_consistent();
  const uint64_t item = m.round++ * uint64_t(m.comm.size()) + uint64_t(m.comm.rank());
  // A spool write that fails on one rank (a full disk) must fail every rank here, not
  // leave the others in the sum below while this one unwinds into collective closes.
  dist::collectively(m.comm, [&] {
    m.spool.add(item, m.features_key, b.features.data(), b.size());
    for (std::size_t i = 0; i < m.column_keys.size(); ++i)
      m.spool.add(item, m.column_keys[i], row_data(b, i), b.size());
  });
  m.rows += m.comm.sum(uint64_t(b.size()));
}

uint64_t FeatureFileWriter::rows() const { return impl_->rows; }
void FeatureFileWriter::write_statistics(const FeatureStatistics& st) { impl_->stats = st; }
void FeatureFileWriter::write_cutflow(const Cutflow& c) { impl_->cutflow = c; }

void FeatureFileWriter::commit() {
  auto& m = *impl_;
  h5::Handle file = h5::create_parallel_file(m.comm, m.partial, m.kind.format, kFeatureFormatVersion);
  const auto& comm = m.comm;
  for (const auto& a : m.header.attributes) h5::write_attribute(file, a.name, a.value);
  h5::write_string_dataset(comm, file, m.kind.names, m.header.feature_names, m.where(m.kind.names));
  h5::write_string_dataset(comm, file, m.kind.units, m.header.feature_units, m.where(m.kind.units));
  std::vector<std::string> names;
  for (const auto& s : m.header.samples) names.push_back(s.name);
  h5::write_string_dataset(comm, file, "sample_names", names, m.where("/sample_names"));
  {
    h5::Handle gcpl = h5::checked(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, m.partial);
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    h5::Handle samples = h5::checked(H5Gcreate2(file, "samples", H5P_DEFAULT, gcpl, H5P_DEFAULT), H5Gclose,
                                     m.where("/samples"));
    for (std::size_t i = 0; i < m.header.samples.size(); ++i) {
      const auto& s = m.header.samples[i];
      h5::Handle g = h5::checked(H5Gcreate2(samples, s.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                 H5Gclose, m.where("/samples/" + s.name));
      h5::write_sample_attributes(g, s);
      h5::write_attribute(g, "sample_index", int64_t(i));
    }
  }
  if (m.stats) {
    const auto& st = *m.stats;
    h5::Handle g = h5::checked(H5Gcreate2(file, "normalization", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                               m.where("/normalization"));
    h5::write_attribute(g, "description",
                        std::string("per-feature statistics of the training split (unweighted), applied at training "
                                    "time; features are stored raw"));
    h5::write_attribute(g, "count", st.count);
    const std::vector<uint64_t> dims = {st.mean.size()};
    h5::write_small_dataset(comm, g, "mean", ColumnType::f64, dims, st.mean.data(), m.where("/normalization/mean"));
    h5::write_small_dataset(comm, g, "std", ColumnType::f64, dims, st.stddev.data(), m.where("/normalization/std"));
    h5::write_small_dataset(comm, g, "min", ColumnType::f64, dims, st.min.data(), m.where("/normalization/min"));
    h5::write_small_dataset(comm, g, "max", ColumnType::f64, dims, st.max.data(), m.where("/normalization/max"));
  }
  if (m.cutflow) {
    const auto& c = *m.cutflow;
    h5::Handle g = h5::checked(H5Gcreate2(file, "cutflow", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                               m.where("/cutflow"));
    h5::write_attribute(g, "description",
                        std::string("events passing each cut in order, per sample (rows follow sample_names); "
                                    "weighted = sum of analysis weights"));
    h5::write_string_dataset(comm, g, "cuts", c.cuts, m.where("/cutflow/cuts"));
    const std::size_t S = c.raw.size(), C = c.cuts.size();
    std::vector<uint64_t> raw(S * C);
    std::vector<double> weighted(S * C);
    for (std::size_t s = 0; s < S; ++s)
      for (std::size_t k = 0; k < C; ++k) raw[s * C + k] = c.raw[s][k], weighted[s * C + k] = c.weighted[s][k];
    h5::write_small_dataset(comm, g, "raw", ColumnType::u64, {S, C}, raw.data(), m.where("/cutflow/raw"));
    h5::write_small_dataset(comm, g, "weighted", ColumnType::f64, {S, C}, weighted.data(),
                            m.where("/cutflow/weighted"));
  }
  m.spool.finish(file, m.output.string());
  for (const auto& v : m.header.matrix_views) write_matrix_view(file, v, m.header.feature_names.size(), m.where(v.name));
  h5::commit_parallel_file(m.comm, file, m.partial, m.output.string());
  m.committed = true;
}

struct FeatureFileReader::Impl {
  std::filesystem::path path;
  h5::Handle file, xfer, features;
  std::vector<h5::Handle> columns;
  FeatureFileHeader header;
  FeatureStatistics stats;
  Cutflow cutflow;
  uint64_t rows = 0;
  KindNames kind;
  bool one_column = false;  // 1-D score dataset
  std::string where(const std::string& o) const { return fmt::format("{}:{}", path.string(), o); }
};

FeatureFileReader::FeatureFileReader(const dist::Communicator& comm, std::filesystem::path path, RowFileKind kind)
    : impl_(std::make_unique<Impl>()) {
  h5::prepare_library();
  auto& m = *impl_;
  m.kind = names_of(kind);
  m.path = std::move(path);
  h5::ReadingScope reading(m.path.string());
  std::error_code ec;
  if (!std::filesystem::is_regular_file(m.path, ec)) throw InputError(fmt::format("{}: no such file", m.path.string()));
  if (H5Fis_hdf5(m.path.c_str()) <= 0) throw InputError(fmt::format("{}: not an HDF5 file", m.path.string()));
  m.file = h5::open_parallel_for_reading(comm, m.path.string());
  m.xfer = h5::checked(H5Pcreate(H5P_DATASET_XFER), H5Pclose, m.path.string());
  H5Pset_dxpl_mpio(m.xfer, H5FD_MPIO_INDEPENDENT);
  const std::string root = m.where("/");
  if (H5Aexists(m.file, "format") <= 0 || h5::read_string_attribute(m.file, "format", root) != m.kind.format)
    throw InputError(fmt::format("{}: not a bsmhunt {} (attribute format must be '{}')", root, m.kind.what,
                                 m.kind.format));
  const int64_t version = h5::read_int_attribute(m.file, "version", root);
  if (version < 1 || version > kFeatureFormatVersion)
    throw InputError(fmt::format("{}: feature format version {} is not supported", root, version));
  if (H5Aexists(m.file, "complete") > 0 && h5::read_int_attribute(m.file, "complete", root) != 1)
    throw InputError(fmt::format("{}: incomplete file (complete = 0): the job writing it did not finish", root));
  for (const auto& a : h5::attribute_names(m.file))
    if (a != "format" && a != "version" && a != "complete")
      m.header.attributes.push_back({a, h5::read_parameter_attribute(m.file, a, root)});
  m.header.feature_names = h5::read_string_dataset(m.file, m.kind.names, root);
  m.header.feature_units = h5::read_string_dataset(m.file, m.kind.units, root);
  const std::size_t F = m.header.feature_names.size();
  const std::string matrix = std::string("/") + m.kind.matrix;
  if (!h5::exists(m.file, m.kind.matrix)) throw InputError(fmt::format("{}: dataset '{}' is missing", root, m.kind.matrix));
  {
    // A row block of a matrix chunked in column blocks touches one chunk per block;
    // at a block boundary that is not a chunk boundary (a sample's run ends) each is
    // needed again by the next block. HDF5's default 1 MiB cache holds four 245 KB
    // chunks, not the five of a 72-column row band: 8 MiB keeps them.
    h5::Handle dapl = h5::checked(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose, m.where(matrix));
    h5::check(H5Pset_chunk_cache(dapl, 1021, std::size_t(8) << 20, H5D_CHUNK_CACHE_W0_DEFAULT), m.where(matrix));
    m.features = h5::checked(H5Dopen2(m.file, m.kind.matrix, dapl), H5Dclose, m.where(matrix));
  }
  {
    h5::Handle space = h5::checked(H5Dget_space(m.features), H5Sclose, m.where(matrix));
    hsize_t dims[2] = {0, 0};
    const int ndims = H5Sget_simple_extent_ndims(space);
    m.one_column = ndims == 1 && kind == RowFileKind::scores && F == 1;
    if (ndims != 2 && !m.one_column)
      throw InputError(fmt::format("{}: expected a 2-D dataset [events, {}]", m.where(matrix), m.kind.names));
    H5Sget_simple_extent_dims(space, dims, nullptr);
    if (!m.one_column && dims[1] != std::max<std::size_t>(F, 1))
      throw InputError(fmt::format("{}: {} columns but {} {}", m.where(matrix), dims[1], F, m.kind.names));
    m.rows = dims[0];
  }
  for (const auto& c : kRowColumns) {
    const std::string p = std::string("/") + c.name;
    if (!h5::exists(m.file, c.name)) throw InputError(fmt::format("{}: dataset '{}' is missing", root, c.name));
    m.columns.push_back(h5::checked(H5Dopen2(m.file, c.name, H5P_DEFAULT), H5Dclose, m.where(p)));
    ColumnType t;
    if (!h5::column_type_of(m.columns.back(), t) || t != c.type)
      throw InputError(fmt::format("{}: dtype must be {}", m.where(p), physics::to_string(c.type)));
    const uint64_t n = h5::dataset_length(m.columns.back(), m.where(p));
    if (n != m.rows)
      throw InputError(fmt::format("{}: {} rows but {} has {}", m.where(p), n, matrix, m.rows));
  }
  const auto names = h5::read_string_dataset(m.file, "sample_names", root);
  h5::Handle samples = h5::checked(H5Gopen2(m.file, "samples", H5P_DEFAULT), H5Gclose, m.where("/samples"));
  for (const auto& n : names) {
    const std::string p = "/samples/" + n;
    if (!h5::exists(samples, n)) throw InputError(fmt::format("{}: group missing for sample '{}'", m.where(p), n));
    h5::Handle g = h5::checked(H5Gopen2(samples, n.c_str(), H5P_DEFAULT), H5Gclose, m.where(p));
    auto info = h5::read_sample_attributes(g, n, m.where(p));
    std::erase_if(info.parameters, [](const physics::Parameter& q) { return q.name == "sample_index"; });
    m.header.samples.push_back(std::move(info));
  }
  if (h5::exists(m.file, "normalization")) {
    h5::Handle g = h5::checked(H5Gopen2(m.file, "normalization", H5P_DEFAULT), H5Gclose, m.where("/normalization"));
    auto read_vec = [&](const char* name, std::vector<double>& out) {
      h5::Handle ds = h5::checked(H5Dopen2(g, name, H5P_DEFAULT), H5Dclose, m.where("/normalization/") + name);
      out.resize(h5::dataset_length(ds, m.where("/normalization/") + name));
      h5::check_read(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), m.where(name));
    };
    read_vec("mean", m.stats.mean), read_vec("std", m.stats.stddev), read_vec("min", m.stats.min),
        read_vec("max", m.stats.max);
    m.stats.count = uint64_t(h5::read_int_attribute(g, "count", m.where("/normalization")));
  }
  if (h5::exists(m.file, "cutflow")) {
    h5::Handle g = h5::checked(H5Gopen2(m.file, "cutflow", H5P_DEFAULT), H5Gclose, m.where("/cutflow"));
    m.cutflow.cuts = h5::read_string_dataset(g, "cuts", m.where("/cutflow"));
    const std::size_t S = names.size(), C = m.cutflow.cuts.size();
    std::vector<uint64_t> raw(S * C);
    std::vector<double> w(S * C);
    h5::Handle r = h5::checked(H5Dopen2(g, "raw", H5P_DEFAULT), H5Dclose, m.where("/cutflow/raw"));
    h5::check_read(H5Dread(r, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), m.where("/cutflow/raw"));
    h5::Handle wd = h5::checked(H5Dopen2(g, "weighted", H5P_DEFAULT), H5Dclose, m.where("/cutflow/weighted"));
    h5::check_read(H5Dread(wd, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, w.data()), m.where("/cutflow/weighted"));
    m.cutflow.raw.assign(S, std::vector<uint64_t>(C));
    m.cutflow.weighted.assign(S, std::vector<double>(C));
    for (std::size_t s = 0; s < S; ++s)
      for (std::size_t k = 0; k < C; ++k) m.cutflow.raw[s][k] = raw[s * C + k], m.cutflow.weighted[s][k] = w[s * C + k];
  }
}

FeatureFileReader::~FeatureFileReader() = default;
const FeatureFileHeader& FeatureFileReader::header() const { return impl_->header; }
uint64_t FeatureFileReader::rows() const { return impl_->rows; }
const FeatureStatistics& FeatureFileReader::statistics() const { return impl_->stats; }
const Cutflow& FeatureFileReader::cutflow() const { return impl_->cutflow; }

void FeatureFileReader::read_membership(uint64_t begin, uint64_t end, std::vector<int32_t>& sample_index,
                                        std::vector<int8_t>& split) const {
  const auto& m = *impl_;
  h5::ReadingScope reading(m.path.string());
  if (begin > end || end > m.rows)
    throw InternalError(fmt::format("FeatureFileReader::read_membership: [{}, {}) outside {} rows", begin, end, m.rows));
  const uint64_t n = end - begin;
  sample_index.resize(n), split.resize(n);
  for (std::size_t i = 0; i < m.columns.size(); ++i) {
    void* out = kRowColumns[i].name == std::string_view("sample_index") ? static_cast<void*>(sample_index.data())
                : kRowColumns[i].name == std::string_view("split")      ? static_cast<void*>(split.data())
                                                                         : nullptr;
    if (!out) continue;
    const std::string ctx = m.where(std::string("/") + kRowColumns[i].name);
    h5::Handle fs = h5::checked(H5Dget_space(m.columns[i]), H5Sclose, ctx);
    const hsize_t start[1] = {begin}, count[1] = {n}, one[1] = {1};
    h5::Handle ms = h5::checked(H5Screate_simple(1, n ? count : one, nullptr), H5Sclose, ctx);
    if (n) {
      h5::check(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr), ctx);
    } else {
      H5Sselect_none(fs);
      H5Sselect_none(ms);
    }
    h5::check_read(H5Dread(m.columns[i], h5::native_type(kRowColumns[i].type), ms, fs, m.xfer, out), "reading " + ctx);
  }
}

void FeatureFileReader::read(uint64_t begin, uint64_t end, FeatureBlock& b) const {
  const auto& m = *impl_;
  h5::ReadingScope reading(m.path.string());
  if (begin > end || end > m.rows)
    throw InternalError(fmt::format("FeatureFileReader::read: [{}, {}) outside {} rows", begin, end, m.rows));
  b.n_features = m.header.feature_names.size();
  const uint64_t n = end - begin;
  resize_rows(b, n);
  auto read_rows = [&](hid_t ds, ColumnType type, uint64_t width, void* out, const std::string& ctx) {
    h5::Handle fs = h5::checked(H5Dget_space(ds), H5Sclose, ctx);
    const hsize_t start[2] = {begin, 0}, count[2] = {n, width}, one[2] = {1, std::max<hsize_t>(width, 1)};
    const int rank = width ? 2 : 1;
    h5::Handle ms = h5::checked(H5Screate_simple(rank, n ? count : one, nullptr), H5Sclose, ctx);
    if (n) {
      h5::check(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr), ctx);
    } else {
      H5Sselect_none(fs);
      H5Sselect_none(ms);
    }
    h5::check_read(H5Dread(ds, h5::native_type(type), ms, fs, m.xfer, out), "reading " + ctx);
  };
  if (b.n_features)
    read_rows(m.features, ColumnType::f32, m.one_column ? 0 : b.n_features, b.features.data(),
              m.where(std::string("/") + m.kind.matrix));
  for (std::size_t i = 0; i < m.columns.size(); ++i)
    read_rows(m.columns[i], kRowColumns[i].type, 0, row_data(b, i), m.where(std::string("/") + kRowColumns[i].name));
}

}  // namespace bsmhunt::io
