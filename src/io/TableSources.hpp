#pragma once
// Private to the io layer: the per-format implementations behind TableReader.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/TableReader.hpp"

namespace bsmhunt::io {

struct TableReader::Source {
  virtual ~Source() = default;
  uint64_t rows = 0;
  std::vector<TableColumnInfo> columns;
  virtual std::string where(uint64_t row) const { return "row " + std::to_string(row); }
  // Fills out[k] with rows [begin, end) of columns[index[k]] (supported columns only).
  virtual void read(const std::vector<std::size_t>& index, uint64_t begin, uint64_t end,
                    std::vector<TableColumn>& out) const = 0;
};

namespace table {

// For TableFormat::automatic on an HDF5 file: pandas if the group `key` (or, with
// no key, any top-level group) carries pandas' `pandas_type` attribute.
TableFormat detect_hdf5_flavour(const std::filesystem::path& path, const std::string& key);

// `key` is updated to the group actually read.
std::unique_ptr<TableReader::Source> open_pandas(const std::filesystem::path& path, std::string& key);
std::unique_ptr<TableReader::Source> open_h5py(const std::filesystem::path& path, std::string& key);
std::unique_ptr<TableReader::Source> open_csv(const dist::Communicator& comm, const std::filesystem::path& path);

}  // namespace table
}  // namespace bsmhunt::io
