#include "OrderedSpool.hpp"
#include "bsmhunt/dist/Collectively.hpp"

#include <fmt/format.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
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

RowMemory::RowMemory(uint64_t capacity) {
  if (capacity == 0) return;
  // Reserved, not committed: pages become resident as rows arrive.
  void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;  // no address space for it: every row goes to the spool file
  data_ = static_cast<char*>(p);
  capacity_ = capacity;
}

RowMemory::~RowMemory() { release(); }

void RowMemory::append(const void* bytes, uint64_t n) {
  if (n > capacity_ - size_) throw InternalError("RowMemory: append past its capacity");
  if (n) std::memcpy(data_ + size_, bytes, n);
  size_ += n;
}

void RowMemory::release() {
  if (data_) munmap(data_, capacity_);
  data_ = nullptr;
  capacity_ = size_ = 0;
}

OrderedSpool::OrderedSpool(const dist::Communicator& comm, std::filesystem::path spool_file, int deflate_level,
                           uint64_t memory_bytes)
    : comm_(comm), spool_path_(std::move(spool_file)), deflate_level_(deflate_level), memory_(memory_bytes) {
  // Created now, even if every row fits in memory: a directory that cannot take it
  // fails the command before any work is done.
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
  // Rows stay in memory while the budget allows; once one record goes to the file,
  // so do all later ones (the memory then holds a prefix of the records).
  const bool fits = spool_bytes_ == 0 && bytes <= memory_.capacity() - memory_.size();
  if (fits) {
    records_.push_back({item, key, rows, shift_key, memory_.size(), true});
    memory_.append(data, bytes);
    return;
  }
  records_.push_back({item, key, rows, shift_key, spool_bytes_, false});
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
    if (all[i] != uint64_t(-1)) out.push_back({all[i], int(all[i + 1]), all[i + 2], -1, 0, false});
  std::stable_sort(out.begin(), out.end(), [](const Record& a, const Record& b) { return a.item < b.item; });
  return out;
}

std::vector<uint64_t> OrderedSpool::totals() const {
  std::vector<uint64_t> t(datasets_.size(), 0);
  for (const auto& r : records_) t[std::size_t(r.key)] += r.rows;
  comm_.sum_in_place(t);
  return t;
}

namespace {
// Columns per chunk of a matrix of `width` columns: the fewest blocks of at most 16
// columns, of equal width (72 -> 5 blocks of 15, the last with 12).
uint64_t column_block(uint64_t width) {
  constexpr uint64_t kMaxColumns = 16;
  if (width <= kMaxColumns) return width;
  const uint64_t blocks = (width + kMaxColumns - 1) / kMaxColumns;
  return (width + blocks - 1) / blocks;
}
// Rows per chunk of a compressed dataset: a power of two of at most 256 KiB and 65536
// rows, never more than the dataset (fixed-size datasets cannot have larger chunks).
// Work items of 2^k events then fill whole chunks of their per-event columns: a chunk
// holding two ranks' rows is compressed by one of them (HDF5 gives it to the rank with
// the most rows, ties to the lowest), so with shared chunks rank 0 did all the work.
uint64_t chunk_rows(uint64_t row_bytes, uint64_t rows) {
  constexpr uint64_t kChunkBytes = uint64_t(1) << 18, kMaxRows = uint64_t(1) << 16;
  uint64_t n = 1;
  while (2 * n <= kMaxRows && 2 * n * row_bytes <= kChunkBytes) n *= 2;
  return std::clamp<uint64_t>(n, 1, rows);
}
// Bytes of its rows one rank hands to one collective write.
constexpr uint64_t kCollectiveBytes = uint64_t(32) << 20;
}  // namespace

uint64_t OrderedSpool::bytes_of(const Record& r) const {
  const auto& d = datasets_[std::size_t(r.key)];
  return r.rows * std::max<uint64_t>(d.row_width, 1) * type_size(d.type);
}

void OrderedSpool::load(const Record& r, const std::map<std::pair<uint64_t, int>, uint64_t>& position,
                        std::ifstream& in, char* out) const {
  if (r.in_memory) {
    std::copy_n(memory_.data() + r.offset, bytes_of(r), out);
  } else {
    in.seekg(std::streamoff(r.offset));
    in.read(out, std::streamsize(bytes_of(r)));
    if (!in) throw Error(fmt::format("reading spool file {}", spool_path_.string()));
  }
  if (r.shift_key >= 0) {
    const uint64_t shift =
        position.at({r.item, r.shift_key}) - (datasets_[std::size_t(r.shift_key)].leading_zero ? 1 : 0);
    auto* v = reinterpret_cast<uint64_t*>(out);
    for (uint64_t i = 0; i < r.rows; ++i) v[i] += shift;
  }
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
  std::vector<uint64_t> largest_record(datasets_.size(), 0);
  for (const auto& r : all) {
    position[{r.item, r.key}] = next[std::size_t(r.key)];
    next[std::size_t(r.key)] += r.rows;
    largest_record[std::size_t(r.key)] = std::max(largest_record[std::size_t(r.key)], r.rows);
  }
  // Create every dataset at its final size.
  std::vector<h5::Handle> handles;
  for (std::size_t k = 0; k < datasets_.size(); ++k) {
    const auto& d = datasets_[k];
    const std::string ctx = file_name + ":" + d.path;
    const int rank = d.row_width ? 2 : 1;
    const hsize_t dims[2] = {next[k], d.row_width};
    h5::Handle space = h5::checked(H5Screate_simple(rank, dims, nullptr), H5Sclose, ctx);
    h5::Handle dcpl = h5::checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, ctx);
    if (deflate_level_ > 0 && next[k] > 0) {
      // A matrix (features, scores) is chunked in blocks of at most 16 columns, so
      // that a reader of one column (the report, h5py, pandas) decompresses a fifth
      // of a 72-column score file, not all of it; readers of whole rows lose nothing
      // (docs/benchmarks.md, "Chunks of column blocks").
      const uint64_t columns = column_block(d.row_width);
      const uint64_t row_bytes = std::max<uint64_t>(columns, 1) * type_size(d.type);
      // Chunks no longer than the largest work item, so that items of 2^k events own
      // whole chunks of their per-event columns even when items are small.
      uint64_t rows = chunk_rows(row_bytes, next[k]);
      while (rows > 1 && rows > largest_record[k] && largest_record[k] > 0) rows /= 2;
      const hsize_t chunk[2] = {rows, columns};
      h5::check(H5Pset_chunk(dcpl, rank, chunk), "chunking " + ctx);
      h5::check(H5Pset_shuffle(dcpl), "shuffle filter for " + ctx);
      h5::check(H5Pset_deflate(dcpl, unsigned(deflate_level_)), "deflate filter for " + ctx);
    } else {
      H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
      H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    }
    handles.push_back(h5::checked(
        H5Dcreate2(file, d.path.c_str(), h5::native_type(d.type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose,
        "creating " + ctx));
    if (!d.unit.empty()) h5::write_attribute(handles.back(), "unit", d.unit);
    if (!d.description.empty()) h5::write_attribute(handles.back(), "description", d.description);
  }
  if (deflate_level_ > 0)
    write_collective(handles, file_name, position);
  else
    write_independent(handles, file_name, position);
  handles.clear();
  memory_.release();  // the rows are in the file now
  comm_.barrier();
}

void OrderedSpool::write_independent(const std::vector<h5::Handle>& datasets, const std::string& file_name,
                                     const std::map<std::pair<uint64_t, int>, uint64_t>& position) {
  // Independent writes of this rank's rows; no metadata changes from here on.
  h5::Handle xfer = h5::checked(H5Pcreate(H5P_DATASET_XFER), H5Pclose, file_name);
  H5Pset_dxpl_mpio(xfer, H5FD_MPIO_INDEPENDENT);
  auto write_rows = [&](std::size_t k, uint64_t at, uint64_t rows, const void* data) {
    const auto& d = datasets_[k];
    const std::string ctx = file_name + ":" + d.path;
    h5::Handle fs = h5::checked(H5Dget_space(datasets[k]), H5Sclose, ctx);
    const hsize_t start[2] = {at, 0}, count[2] = {rows, d.row_width};
    const int rank = d.row_width ? 2 : 1;
    h5::check(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr), ctx);
    h5::Handle ms = h5::checked(H5Screate_simple(rank, count, nullptr), H5Sclose, ctx);
    h5::check(H5Dwrite(datasets[k], h5::native_type(d.type), ms, fs, xfer, data), "writing " + ctx);
  };
  // A rank whose writes fail (a full disk) must not leave the others to close the
  // file without it: all ranks agree on errors before the collective close.
  dist::collectively(comm_, [&] {
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
      if (r.in_memory && r.shift_key < 0) {  // written from where they are, not copied first
        write_rows(std::size_t(r.key), position.at({r.item, r.key}), r.rows, memory_.data() + r.offset);
        continue;
      }
      buffer.resize(bytes_of(r));
      load(r, position, in, buffer.data());
      write_rows(std::size_t(r.key), position.at({r.item, r.key}), r.rows, buffer.data());
    }
  });
}

void OrderedSpool::write_collective(const std::vector<h5::Handle>& datasets, const std::string& file_name,
                                    const std::map<std::pair<uint64_t, int>, uint64_t>& position) {
  // This rank's records per dataset, in file order (items ascend), cut into batches
  // of at most kCollectiveBytes (a larger record is a batch of its own).
  const std::size_t n = datasets_.size();
  std::vector<std::vector<std::vector<const Record*>>> batches(n);
  std::vector<uint64_t> last_batch_bytes(n, 0);
  for (const auto& r : records_) {
    if (r.rows == 0) continue;
    const auto k = std::size_t(r.key);
    if (batches[k].empty() || last_batch_bytes[k] + bytes_of(r) > kCollectiveBytes) {
      batches[k].emplace_back();
      last_batch_bytes[k] = 0;
    }
    batches[k].back().push_back(&r);
    last_batch_bytes[k] += bytes_of(r);
  }
  // Every rank makes as many calls per dataset as the rank with the most batches.
  std::vector<uint64_t> mine(n);
  for (std::size_t k = 0; k < n; ++k) mine[k] = batches[k].size();
  const std::vector<uint64_t> everyone = comm_.all_gather(mine);
  std::vector<uint64_t> calls(n, 0);
  for (std::size_t i = 0; i < everyone.size(); ++i) calls[i % n] = std::max(calls[i % n], everyone[i]);
  for (std::size_t k = 0; k < n; ++k)
    if (datasets_[k].leading_zero) calls[k] = std::max<uint64_t>(calls[k], 1);

  h5::Handle xfer = h5::checked(H5Pcreate(H5P_DATASET_XFER), H5Pclose, file_name);
  H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE);
  std::ifstream in(spool_path_, std::ios::binary);
  std::vector<char> buffer;
  std::string problem;
  for (std::size_t k = 0; k < n; ++k) {
    const auto& d = datasets_[k];
    const std::string ctx = file_name + ":" + d.path;
    const int rank = d.row_width ? 2 : 1;
    for (uint64_t call = 0; call < calls[k]; ++call) {
      h5::Handle fs = h5::checked(H5Dget_space(datasets[k]), H5Sclose, ctx);
      H5Sselect_none(fs);
      uint64_t rows = 0;
      buffer.clear();
      auto select = [&](uint64_t at, uint64_t count) {
        const hsize_t start[2] = {at, 0}, extent[2] = {count, d.row_width};
        h5::check(H5Sselect_hyperslab(fs, H5S_SELECT_OR, start, nullptr, extent, nullptr), ctx);
        rows += count;
      };
      // The leading 0 of offsets datasets comes first in the file: rank 0's first call.
      if (d.leading_zero && call == 0 && comm_.is_root()) {
        select(0, 1);
        buffer.resize(sizeof(uint64_t), 0);
      }
      // A rank that cannot read its spool still makes every call (empty), so no rank
      // waits in H5Dwrite for it; all ranks throw together below.
      if (call < batches[k].size() && problem.empty()) {
        try {
          for (const Record* r : batches[k][call]) {
            select(position.at({r->item, r->key}), r->rows);
            const std::size_t at = buffer.size();
            buffer.resize(at + bytes_of(*r));
            load(*r, position, in, buffer.data() + at);
          }
        } catch (const Error& e) {
          problem = e.what();
          H5Sselect_none(fs);
          rows = 0;
          buffer.clear();
        }
      }
      const hsize_t mem_dims[2] = {rows, d.row_width};
      h5::Handle ms = h5::checked(H5Screate_simple(rank, mem_dims, nullptr), H5Sclose, ctx);
      if (rows == 0) H5Sselect_none(ms);
      // A failed write (a full disk) is remembered like a failed read: this rank goes on
      // with empty calls, so that every rank makes the same collective calls and they
      // all throw together below instead of closing the file in different states.
      try {
        h5::check(H5Dwrite(datasets[k], h5::native_type(d.type), ms, fs, xfer, buffer.data()), "writing " + ctx);
      } catch (const Error& e) {
        if (problem.empty()) problem = e.what();
      }
    }
  }
  if (!comm_.all(problem.empty()))
    throw Error(problem.empty() ? fmt::format("{}: another rank could not read its spool file or write", file_name)
                                : problem);
}

}  // namespace bsmhunt::io
