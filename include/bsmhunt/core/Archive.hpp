#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bsmhunt {

// Named arrays and attributes of a model or checkpoint, independent of the file
// format: nn fills it, io writes it as HDF5 (names with '/' become groups), so the
// engine needs no HDF5 and the file needs no engine.
struct ArchiveArray {
  std::vector<uint64_t> shape;
  std::vector<float> values;
};

struct Archive {
  std::map<std::string, ArchiveArray> floats;
  std::map<std::string, std::vector<double>> doubles;
  std::map<std::string, std::vector<uint8_t>> bytes;  // opaque blobs (an XGBoost model)
  std::map<std::string, std::string> strings;
  std::map<std::string, std::vector<std::string>> string_lists;

  // Lookups that throw InputError naming the missing entry and `what` (the file).
  const ArchiveArray& array(const std::string& name, const std::string& what) const;
  const std::vector<double>& number_list(const std::string& name, const std::string& what) const;
  double number(const std::string& name, const std::string& what) const;
  const std::string& string(const std::string& name, const std::string& what) const;
  const std::vector<std::string>& strings_of(const std::string& name, const std::string& what) const;

  // 16 hex digits over every entry (kind, name, shape, values, text): written into the
  // file with the archive and compared when it is read, so a byte changed on disk is
  // refused instead of loaded. An array without a shape counts as 1-D, as it is stored.
  std::string checksum() const;
};

}  // namespace bsmhunt
