#pragma once
// A binned statistical model in the HistFactory form of the pyhf JSON schema
// (https://scikit-hep.org/pyhf/likelihood.html, schema 1.0.0): channels of samples
// with modifiers, the observations, and measurements that name the parameter of
// interest and configure parameters. bsmhunt reads, builds and writes workspaces
// in this form so that a model moves between bsmhunt, pyhf and ROOT unchanged.
//
// Modifiers (the interpolation codes pyhf and ROOT use by default, so that the numbers agree):
//   normfactor  free factor theta (the signal strength mu, free background normalisations)
//   normsys     factor hi^alpha (alpha >= 1), lo^-alpha (alpha <= -1), a polynomial of degree 6 between
//               (code 4: smooth at 0), alpha ~ Gauss(0, 1)
//   histosys    additive alpha (hi_data - nominal) above 1, alpha (nominal - lo_data) below -1, a polynomial
//               between (code 4p), alpha ~ Gauss(0, 1)
//   staterror   one factor gamma_i per bin, gamma_i ~ Gauss(1, sigma_i), sigma_i = sqrt(sum_s e_si^2) / sum_s n_si
//               over the samples of the channel that carry it (Barlow-Beeston lite)
//   lumi        factor lambda ~ Gauss(auxdata, sigma) from the measurement's parameter config
// Modifiers of the same name share their parameter (normsys and histosys may share one).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bsmhunt/core/Json.hpp"

namespace bsmhunt::stats {

enum class ModifierType { normfactor, normsys, histosys, staterror, lumi };
const char* to_string(ModifierType type);

struct Modifier {
  std::string name;
  ModifierType type = ModifierType::normfactor;
  double hi = 1, lo = 1;                   // normsys
  std::vector<double> hi_data, lo_data;    // histosys, per bin
  std::vector<double> errors;              // staterror: absolute uncertainty per bin
};

struct WorkspaceSample {
  std::string name;
  std::vector<double> data;  // expected yield per bin
  std::vector<Modifier> modifiers;
};

struct WorkspaceChannel {
  std::string name;
  std::vector<WorkspaceSample> samples;
  std::size_t bins() const { return samples.empty() ? 0 : samples.front().data.size(); }
};

// One entry of a measurement's "parameters": what differs from the modifier's default.
struct ParameterConfig {
  std::string name;
  std::optional<std::pair<double, double>> bounds;
  std::optional<double> init;
  bool fixed = false;
  std::optional<double> auxdata, sigma;
};

struct Measurement {
  std::string name = "measurement";
  std::string poi = "mu";
  std::vector<ParameterConfig> parameters;
};

struct Workspace {
  std::vector<WorkspaceChannel> channels;
  std::vector<std::vector<double>> observations;  // per channel, in channel order
  std::vector<Measurement> measurements;

  const WorkspaceChannel* channel(const std::string& name) const;
  const Measurement& measurement(const std::string& name = {}) const;  // the first when empty; InputError if none
};

// Checks what the schema and the model need (names unique, bins agree, yields finite
// and >= 0, each modifier's data complete, a measurement whose POI is a normfactor,
// lumi configured); InputError naming the JSON path of the first problem, prefixed
// with `where` (the file).
void validate(const Workspace& workspace, const std::string& where);

// pyhf JSON <-> Workspace. from_json validates (the JSON path of a problem in the message).
Workspace workspace_from_json(const json::Value& doc, const std::string& where);
json::Value to_json(const Workspace& workspace);
Workspace read_workspace(const std::string& path);
void write_workspace(const std::string& path, const Workspace& workspace);

}  // namespace bsmhunt::stats
