#include <fmt/format.h>

#include "FeatureSets.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::physics {

namespace {

struct Entry {
  const char* name;
  std::unique_ptr<FeatureSet> (*make)(const FeatureSetOptions&);
};
// Every feature set `bsmhunt extract --features` knows.
const Entry kSets[] = {
    {"dilepton_met", make_dilepton_met},
    {"dijet", make_dijet},
    {"monojet", make_monojet},
    {"rmm", make_rmm},
    {"trilepton", make_trilepton},
};

}  // namespace

std::vector<std::string> feature_set_names() {
  std::vector<std::string> names;
  for (const auto& e : kSets) names.emplace_back(e.name);
  return names;
}

std::unique_ptr<FeatureSet> make_feature_set(const std::string& name, const FeatureSetOptions& options,
                                             const std::string& where) {
  for (const auto& e : kSets)
    if (name == e.name) return e.make(options);
  const auto names = feature_set_names();
  throw InputError(fmt::format("{}feature set '{}' is unknown; the feature sets are: {}{}", where, name,
                               join(names, ", "), did_you_mean(name, names)));
}

}  // namespace bsmhunt::physics
