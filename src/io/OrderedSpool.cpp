#include "OrderedSpool.hpp"
#include "bsmhunt/dist/Watchdog.hpp"

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

std::filesystem::path spool_path(const std::filesystem::path& output, int rank) {
  return output.string() + ".spool." + std::to_string(rank);
}

std::vector<std::string> unfinished_write_files(const std::filesystem::path& output, const std::string& partial,
                                                int ranks) {
  std::vector<std::string> files{partial};
  for (int r = 0; r < ranks; ++r) files.push_back(spool_path(output, r).string());
  return files;
}

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
    if (next[k] > 0) {
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
      if (deflate_level_ > 0) {
        // zlib's Adler-32 checks every compressed chunk when it is read.
        h5::check(H5Pset_shuffle(dcpl), "shuffle filter for " + ctx);
        h5::check(H5Pset_deflate(dcpl, unsigned(deflate_level_)), "deflate filter for " + ctx);
      } else {
        // Uncompressed chunks carry HDF5's Fletcher-32 checksum, which every HDF5
        // reader (h5py too) verifies: a damaged value is refused, never read as it is.
        h5::check(H5Pset_fletcher32(dcpl), "checksum filter for " + ctx);
      }
    }
    {
      // HDF5 writes the new dataset's chunks in a collective of its own.
      const dist::CollectiveWait wait("H5Dcreate of a parallel HDF5 dataset");
      handles.push_back(h5::checked(
          H5Dcreate2(file, d.path.c_str(), h5::native_type(d.type), space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose,
          "creating " + ctx));
    }
    if (!d.unit.empty()) h5::write_attribute(handles.back(), "unit", d.unit);
    if (!d.description.empty()) h5::write_attribute(handles.back(), "description", d.description);
  }
  write_collective(handles, file_name, position);
  handles.clear();
  memory_.release();  // the rows are in the file now
  comm_.barrier();
}

void OrderedSpool::write_collective(const std::vector<h5::Handle>& datasets, const std::string& file_name,
                                    const std::map<std::pair<uint64_t, int>, uint64_t>& position) {
  // This rank's rows per dataset cut into batches, one H5Dwrite each, of at most
  // kCollectiveBytes (a larger record is a batch of its own). HDF5 maps a selection
  // of one block onto chunks chunk by chunk, but a union of blocks element by
  // element (24 ns a value: a third of a 2-rank uncompressed write), while each
  // collective call of a filtered dataset costs ~0.4 ms. So a batch is one run of
  // records that follow each other in the file, or a union of small records
  // (docs/benchmarks.md, "Checksummed uncompressed files, and collective writes of whole
  // runs").
  struct Batch {
    std::vector<std::pair<uint64_t, uint64_t>> blocks;  // (first row, rows), in file order
    uint64_t rows = 0, bytes = 0;
    bool leading_zero = false;  // rank 0's 0 that starts an offsets dataset
    std::vector<const Record*> records;
  };
  constexpr uint64_t kSmallUnionValues = uint64_t(1) << 16;
  const std::size_t n = datasets_.size();
  std::vector<std::vector<Batch>> batches(n);
  for (std::size_t k = 0; k < n; ++k)
    if (datasets_[k].leading_zero && comm_.is_root())
      batches[k].push_back(Batch{{{0, 1}}, 1, sizeof(uint64_t), true, {}});
  for (const auto& r : records_) {
    if (r.rows == 0) continue;
    const auto k = std::size_t(r.key);
    const uint64_t at = position.at({r.item, r.key});
    const uint64_t width = std::max<uint64_t>(datasets_[k].row_width, 1);
    auto& list = batches[k];
    const Batch* last = list.empty() ? nullptr : &list.back();
    const bool follows = last && last->blocks.back().first + last->blocks.back().second == at;
    const bool joins = last && last->bytes + bytes_of(r) <= kCollectiveBytes &&
                       ((follows && last->blocks.size() == 1) || (last->rows + r.rows) * width <= kSmallUnionValues);
    if (!joins) list.emplace_back();
    Batch& batch = list.back();
    if (joins && follows)
      batch.blocks.back().second += r.rows;
    else
      batch.blocks.emplace_back(at, r.rows);
    batch.rows += r.rows;
    batch.bytes += bytes_of(r);
    batch.records.push_back(&r);
  }
  // Every rank makes as many calls per dataset as the rank with the most batches.
  std::vector<uint64_t> mine(n);
  for (std::size_t k = 0; k < n; ++k) mine[k] = batches[k].size();
  const std::vector<uint64_t> everyone = comm_.all_gather(mine);
  std::vector<uint64_t> calls(n, 0);
  for (std::size_t i = 0; i < everyone.size(); ++i) calls[i % n] = std::max(calls[i % n], everyone[i]);

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
      // A rank that cannot read its spool still makes every call (empty), so no rank
      // waits in H5Dwrite for it; all ranks throw together below.
      if (call < batches[k].size() && problem.empty()) {
        const Batch& b = batches[k][call];
        try {
          buffer.resize(b.bytes, 0);
          std::size_t at = b.leading_zero ? sizeof(uint64_t) : 0;  // after the zero resize left
          for (const Record* r : b.records) {
            load(*r, position, in, buffer.data() + at);
            at += bytes_of(*r);
          }
          for (const auto& [first, count] : b.blocks) {
            const hsize_t start[2] = {first, 0}, extent[2] = {count, d.row_width};
            h5::check(H5Sselect_hyperslab(fs, H5S_SELECT_OR, start, nullptr, extent, nullptr), ctx);
          }
          rows = b.rows;
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
        const dist::CollectiveWait wait("H5Dwrite of a parallel HDF5 dataset");
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
