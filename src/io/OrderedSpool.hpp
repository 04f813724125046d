#pragma once
// Private to io. Rank-invariant parallel writing of row datasets whose sizes are
// known only after the data are produced.
//
// Work items are numbered in file order. Each rank adds the rows of its items to
// memory up to a budget (--spool-memory) and past it to a rank-local spool file:
// copying every row through the page cache twice cost extract a quarter of its
// time (docs/benchmarks.md). Memory stays bounded by the budget plus a work item. finish() gathers the sizes,
// creates every dataset once at its final size (contiguous, collectively), and
// every rank writes its rows at their place in item order. Nothing is extended
// while raw data are written: extending datasets in rounds made HDF5 1.10's
// metadata caches diverge between ranks and deadlock.
//
// Uncompressed datasets are contiguous and written with independent I/O.
// Compressed ones (byte shuffle + deflate) are chunked; parallel HDF5 filters only
// in collective writes, so every rank calls H5Dwrite the same number of times per
// dataset (empty selections included), each call with at most kCollectiveBytes of
// its rows, in file order.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "Hdf5.hpp"

namespace bsmhunt::io {

struct SpoolDataset {
  std::string path;  // inside the file, e.g. "/samples/ttbar/jets/pt"; parent groups must exist at finish()
  physics::ColumnType type;
  uint64_t row_width = 0;   // 0: 1-D
  bool leading_zero = false;  // offsets datasets: one extra first row holding 0
  std::string unit, description;
};

// Rows held in memory: an address range reserved for the whole budget, so nothing
// is copied again as it fills and only the pages used become resident.
class RowMemory {
 public:
  explicit RowMemory(uint64_t capacity);
  ~RowMemory();
  RowMemory(const RowMemory&) = delete;
  RowMemory& operator=(const RowMemory&) = delete;
  uint64_t capacity() const { return capacity_; }
  uint64_t size() const { return size_; }
  const char* data() const { return data_; }
  void append(const void* bytes, uint64_t n);  // n <= capacity() - size()
  void release();  // gives the memory back; capacity() becomes 0

 private:
  char* data_ = nullptr;
  uint64_t capacity_ = 0, size_ = 0;
};

// The spool file of `rank` for the output file `output`.
std::filesystem::path spool_path(const std::filesystem::path& output, int rank);
// What an unfinished write of `output` leaves behind: its .partial file and every
// rank's spool (for dist::RemovedOnAbort).
std::vector<std::string> unfinished_write_files(const std::filesystem::path& output, const std::string& partial,
                                                int ranks);

class OrderedSpool {
 public:
  // deflate_level 0: uncompressed chunks with a Fletcher-32 checksum; 1-9: shuffle +
  // deflate at that level.
  // The first memory_bytes of rows stay in memory (0: every row goes to the file).
  OrderedSpool(const dist::Communicator& comm, std::filesystem::path spool_file, int deflate_level,
               uint64_t memory_bytes);
  ~OrderedSpool();
  OrderedSpool(const OrderedSpool&) = delete;
  OrderedSpool& operator=(const OrderedSpool&) = delete;

  // Every rank defines the same datasets in the same order. Returns its key.
  int define(SpoolDataset dataset);
  const SpoolDataset& dataset(int key) const { return datasets_[std::size_t(key)]; }
  // Rows of work item `item` for dataset `key`; items added by one rank must not
  // decrease. With `shift_key` >= 0 (u64 offsets), every value is increased at
  // write time by the position of this item's rows in dataset `shift_key`.
  void add(uint64_t item, int key, const void* data, uint64_t rows, int shift_key = -1);
  // Collective: the total rows of every dataset (without the leading zero).
  std::vector<uint64_t> totals() const;
  // Collective: creates the datasets in `file` and writes all rows.
  void finish(hid_t file, const std::string& file_name);

 private:
  struct Record {
    uint64_t item;
    int key;
    uint64_t rows;
    int shift_key;
    uint64_t offset;  // in memory_ when in_memory, else in the spool file
    bool in_memory;
  };
  std::vector<Record> gather_all() const;
  void write_collective(const std::vector<h5::Handle>& datasets, const std::string& file_name,
                        const std::map<std::pair<uint64_t, int>, uint64_t>& position);
  // A record's rows copied from memory or read back from the spool file, offsets
  // shifted to their file place.
  void load(const Record& r, const std::map<std::pair<uint64_t, int>, uint64_t>& position, std::ifstream& in,
            char* out) const;
  uint64_t bytes_of(const Record& r) const;
  const dist::Communicator comm_;  // a copy: a handle, and callers may pass a temporary
  std::filesystem::path spool_path_;
  int deflate_level_ = 0;
  RowMemory memory_;  // rows held in memory, in the order added
  std::ofstream spool_;
  uint64_t spool_bytes_ = 0;
  std::vector<SpoolDataset> datasets_;
  std::vector<Record> records_;
};

}  // namespace bsmhunt::io
