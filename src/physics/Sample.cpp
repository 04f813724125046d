#include "bsmhunt/physics/Sample.hpp"

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::physics {

std::string_view to_string(Role r) {
  switch (r) {
    case Role::background: return "background";
    case Role::signal: return "signal";
    case Role::data: return "data";
  }
  return "?";
}

Role parse_role(std::string_view text) {
  if (text == "background") return Role::background;
  if (text == "signal") return Role::signal;
  if (text == "data") return Role::data;
  throw InputError(fmt::format("role '{}' is not one of background, signal, data", text));
}

double SampleInfo::luminosity_scale(double lumi_ipb) const {
  if (role == Role::data) return 1.0;
  if (n_generated == 0 && n_events == 0 && sum_of_weights == 0) return 0.0;  // an empty sample: nothing to weigh
  if (!(sum_of_weights > 0))
    throw InputError(fmt::format("sample '{}': sum_of_weights = {} must be positive to normalise", name,
                                 sum_of_weights));
  return cross_section_pb * k_factor * filter_efficiency * lumi_ipb / sum_of_weights;
}

const ParameterValue* SampleInfo::parameter(std::string_view key) const {
  for (const auto& p : parameters)
    if (p.name == key) return &p.value;
  return nullptr;
}

}  // namespace bsmhunt::physics
