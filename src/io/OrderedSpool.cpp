#include "OrderedSpool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace bsmhunt::io {

namespace {
std::size_t type_size(physics::ColumnType t) {
  switch (t) {
    case physics::ColumnType::f32: return 4;
    case physics::ColumnType::f64: return 8;
    case physics::ColumnType::i8: return 1;
    case physics::ColumnType::i32: return 4;
    case physics::ColumnType::u64: return 8;
  }
  return 0;
}
}  // namespace

OrderedSpool::OrderedSpool(const dist::Communicator& comm, std::filesystem::path spool_file)
    : comm_(comm), spool_path_(std::move(spool_file)) {
  spool_.open(spool_path_, std::ios::binary | std::ios::trunc);
  if (!spool_) throw Error(fmt::format("cannot create spool file {}", spool_path_.string()));
}

OrderedSpool::~OrderedSpool() {
  spool_.close();
  std::error_code ec;
  std::filesystem::remove(spool_path_, ec);
}

int OrderedSpool::define(SpoolDataset d) {
  datasets_.push_back(std::move(d));
  return int(datasets_.size() - 1);
}

void OrderedSpool::add(uint64_t item, int key, const void* data, uint64_t rows, int shift_key) {
  const auto& d = datasets_.at(std::size_t(key));
  const uint64_t bytes = rows * std::max<uint64_t>(d.row_width, 1) * type_size(d.type);
  if (!records_.empty() && item < records_.back().item) throw InternalError("OrderedSpool: items must not decrease");
  records_.push_back({item, key, rows, shift_key, spool_bytes_});
  if (bytes) {
    spool_.write(static_cast<const char*>(data), std::streamsize(bytes));
    if (!spool_) throw Error(fmt::format("writing spool file {} (disk full?)", spool_path_.string()));
  }
  spool_bytes_ += bytes;
}

std::vector<OrderedSpool::Record> OrderedSpool::gather_all() const {
  // Every rank learns every record's (item, key, rows); padded to the longest list.
  const uint64_t mine = records_.size();
  uint64_t longest = 0;
  for (auto n : comm_.all_gather(mine)) longest = std::max(longest, n);
  std::vector<uint64_t> packed(3 * longest, uint64_t(-1));
  for (std::size_t i = 0; i < records_.size(); ++i) {
    packed[3 * i] = records_[i].item;
    packed[3 * i + 1] = uint64_t(records_[i].key);
    packed[3 * i + 2] = records_[i].rows;
  }
  const std::vector<uint64_t> all = comm_.all_gather(packed);
  std::vector<Record> out;
  for (std::size_t i = 0; i + 2 < all.size(); i += 3)
    if (all[i] != uint64_t(-1)) out.push_back({all[i], int(all[i + 1]), all[i + 2], -1, 0});
  std::stable_sort(out.begin(), out.end(), [](const Record& a, const Record& b) { return a.item < b.item; });
  return out;
}

std::vector<uint64_t> OrderedSpool::totals() const {
  std::vector<uint64_t> t(datasets_.size(), 0);
  for (const auto& r : records_) t[std::size_t(r.key)] += r.rows;
  comm_.sum_in_place(t);
  return t;
}

void OrderedSpool::finish(hid_t file, const std::string& file_name) {
  spool_.flush();
  if (!spool_) throw Error(fmt::format("writing spool file {} (disk full?)", spool_path_.string()));
  spool_.close();
  // Position of every (item, key) in item order.
  const std::vector<Record> all = gather_all();
  std::vector<uint64_t> next(datasets_.size());
  for (std::size_t k = 0; k < datasets_.size(); ++k) next[k] = datasets_[k].leading_zero ? 1 : 0;
  std::map<std::pair<uint64_t, int>, uint64_t> position;
  for (const auto& r : all) {
    position[{r.item, r.key}] = next[std::size_t(r.key)];
    next[std::size_t(r.key)] += r.rows;
  }
  // Create every dataset at its final size: contiguous, allocated at creation.
  std::vector<h5::Handle> handles;
  for (std::size_t k = 0; k < datasets_.size(); ++k) {
    const auto& d = datasets_[k];
    const std::string ctx = file_name + ":" + d.path;
    const int rank = d.row_width ? 2 : 1;
    const hsize_t dims[2] = {next[k], d.row_width};
    h5::Handle space = h5::checked(H5Screate_simple(rank, dims, nullptr), H5Sclose, ctx);
    h5::Handle dcpl = h5::checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, ctx);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    handles.push_back(h5::checked(
        H5Dcreate2(file, d.path.c_str(), h5::native_type(d.type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose,
        "creating " + ctx));
    if (!d.unit.empty()) h5::write_attribute(handles.back(), "unit", d.unit);
    if (!d.description.empty()) h5::write_attribute(handles.back(), "description", d.description);
  }
  // Independent writes of this rank's rows; no metadata changes from here on.
  h5::Handle xfer = h5::checked(H5Pcreate(H5P_DATASET_XFER), H5Pclose, file_name);
  H5Pset_dxpl_mpio(xfer, H5FD_MPIO_INDEPENDENT);
  auto write_rows = [&](std::size_t k, uint64_t at, uint64_t rows, const void* data) {
    const auto& d = datasets_[k];
    const std::string ctx = file_name + ":" + d.path;
    h5::Handle fs = h5::checked(H5Dget_space(handles[k]), H5Sclose, ctx);
    const hsize_t start[2] = {at, 0}, count[2] = {rows, d.row_width};
    const int rank = d.row_width ? 2 : 1;
    h5::check(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr), ctx);
    h5::Handle ms = h5::checked(H5Screate_simple(rank, count, nullptr), H5Sclose, ctx);
    h5::check(H5Dwrite(handles[k], h5::native_type(d.type), ms, fs, xfer, data), "writing " + ctx);
  };
  if (comm_.is_root())
    for (std::size_t k = 0; k < datasets_.size(); ++k)
      if (datasets_[k].leading_zero) {
        const uint64_t zero = 0;
        write_rows(k, 0, 1, &zero);
      }
  std::ifstream in(spool_path_, std::ios::binary);
  std::vector<char> buffer;
  for (const auto& r : records_) {
    if (r.rows == 0) continue;
    const auto& d = datasets_[std::size_t(r.key)];
    const uint64_t bytes = r.rows * std::max<uint64_t>(d.row_width, 1) * type_size(d.type);
    buffer.resize(bytes);
    in.seekg(std::streamoff(r.spool_offset));
    in.read(buffer.data(), std::streamsize(bytes));
    if (!in) throw Error(fmt::format("reading spool file {}", spool_path_.string()));
    if (r.shift_key >= 0) {
      const uint64_t shift = position.at({r.item, r.shift_key}) - (datasets_[std::size_t(r.shift_key)].leading_zero ? 1 : 0);
      auto* v = reinterpret_cast<uint64_t*>(buffer.data());
      for (uint64_t i = 0; i < r.rows; ++i) v[i] += shift;
    }
    write_rows(std::size_t(r.key), position.at({r.item, r.key}), r.rows, buffer.data());
  }
  handles.clear();
  comm_.barrier();
}

}  // namespace bsmhunt::io
