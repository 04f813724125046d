#include "bsmhunt/core/Archive.hpp"

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"

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

}  // namespace bsmhunt
