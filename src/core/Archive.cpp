#include "bsmhunt/core/Archive.hpp"

#include <fmt/format.h>

#include <cstring>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Fnv.hpp"
#include "bsmhunt/core/Random.hpp"

namespace bsmhunt {

namespace {
template <typename Map>
const typename Map::mapped_type& find_or_throw(const Map& map, const std::string& name, const std::string& what,
                                               const char* kind) {
  const auto it = map.find(name);
  if (it == map.end()) throw InputError(fmt::format("{}: missing {} '{}'", what, kind, name));
  return it->second;
}
}  // namespace

const ArchiveArray& Archive::array(const std::string& name, const std::string& what) const {
  return find_or_throw(floats, name, what, "array");
}
const std::vector<double>& Archive::number_list(const std::string& name, const std::string& what) const {
  return find_or_throw(doubles, name, what, "values");
}
double Archive::number(const std::string& name, const std::string& what) const {
  const auto& v = number_list(name, what);
  if (v.size() != 1) throw InputError(fmt::format("{}: '{}' has {} values, expected 1", what, name, v.size()));
  return v[0];
}
const std::string& Archive::string(const std::string& name, const std::string& what) const {
  return find_or_throw(strings, name, what, "attribute");
}
const std::vector<std::string>& Archive::strings_of(const std::string& name, const std::string& what) const {
  return find_or_throw(string_lists, name, what, "string list");
}

std::string Archive::checksum() const {
  Fnv1a f;
  f.text("floats");
  for (const auto& [name, a] : floats) {
    f.text(name);
    const std::vector<uint64_t> shape = a.shape.empty() ? std::vector<uint64_t>{a.values.size()} : a.shape;
    f.size(shape.size());
    for (const auto d : shape) f.size(d);
    f.size(a.values.size()), f.bytes(a.values.data(), a.values.size() * sizeof(float));
  }
  f.text("doubles");
  for (const auto& [name, v] : doubles) f.text(name), f.size(v.size()), f.bytes(v.data(), v.size() * sizeof(double));
  f.text("bytes");
  for (const auto& [name, v] : bytes) f.text(name), f.size(v.size()), f.bytes(v.data(), v.size());
  f.text("strings");
  for (const auto& [name, v] : strings) f.text(name), f.text(v);
  f.text("string_lists");
  for (const auto& [name, list] : string_lists) {
    f.text(name), f.size(list.size());
    for (const auto& s : list) f.text(s);
  }
  return fmt::format("{:016x}", mix64(f.h));
}

}  // namespace bsmhunt
