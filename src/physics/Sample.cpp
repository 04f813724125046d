#include "bsmhunt/physics/Sample.hpp"

#include <fmt/format.h>

#include <cmath>

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

double data_luminosity_ifb(const std::vector<SampleInfo>& samples, double file_lumi_ifb) {
  double lumi = 0;
  std::string first;
  for (const auto& s : samples) {
    if (s.role != Role::data) continue;
    const ParameterValue* v = s.parameter("luminosity_ifb");
    const double* x = v ? std::get_if<double>(v) : nullptr;
    const double mine = x && *x > 0 ? *x : file_lumi_ifb;
    if (!std::isfinite(mine)) continue;  // neither the sample nor the file states one
    if (first.empty()) {
      lumi = mine, first = s.name;
    } else if (mine != lumi) {
      throw InputError(fmt::format("data samples '{}' ({} fb^-1) and '{}' ({} fb^-1) have different luminosities",
                                   first, lumi, s.name, mine));
    }
  }
  return first.empty() ? file_lumi_ifb : lumi;  // NaN stays NaN: no luminosity known
}

}  // namespace bsmhunt::physics
