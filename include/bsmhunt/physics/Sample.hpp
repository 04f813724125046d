#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bsmhunt::physics {

enum class Role : uint8_t { background, signal, data };
std::string_view to_string(Role r);
// Throws InputError for anything but "background", "signal", "data".
Role parse_role(std::string_view text);

using ParameterValue = std::variant<double, int64_t, std::string>;
struct Parameter {
  std::string name;  // e.g. "theory", "m_zprime_GeV"
  ParameterValue value;
  friend bool operator==(const Parameter&, const Parameter&) = default;
};

// Metadata of one sample (an MC dataset or the data), the attributes of
// /samples/<name> in the event file (docs/formats.md).
struct SampleInfo {
  std::string name;
  uint32_t dsid = 0;
  std::string process;
  Role role = Role::background;
  double cross_section_pb = 0;      // sigma x BR of the generated final state
  double k_factor = 1;
  double filter_efficiency = 1;
  double sum_of_weights = 0;        // of weight_mc over all generated events, before any preselection
  uint64_t n_generated = 0;         // events generated, before preselection
  uint64_t n_events = 0;            // events stored
  std::vector<Parameter> parameters;

  // weight_mc -> analysis weight at luminosity `lumi_ipb` (pb^-1):
  // sigma x k x eps x L / sum_of_weights. Data samples weigh 1.
  double luminosity_scale(double lumi_ipb) const;
  const ParameterValue* parameter(std::string_view name) const;
};

// Luminosity of the data samples in fb^-1: their `luminosity_ifb` parameter (the
// generator's pseudo-data may hold less than the MC is normalised to), else
// `file_lumi_ifb`. InputError if two data samples state different luminosities.
double data_luminosity_ifb(const std::vector<SampleInfo>& samples, double file_lumi_ifb);

}  // namespace bsmhunt::physics
