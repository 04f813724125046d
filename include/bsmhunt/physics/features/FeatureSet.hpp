#pragma once
// A feature set: which event-file inputs it reads, the event selection it applies
// (its cuts, in cutflow order) and the features it computes for the events that pass.
// `bsmhunt extract` runs any set over the ranks (pipeline/extract); a new analysis
// adds a set here (docs/architecture.md, "A new feature set").
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bsmhunt/physics/EventBlock.hpp"
#include "bsmhunt/physics/Sample.hpp"

namespace bsmhunt::physics {

struct FeatureDef {
  // What a missing value of this feature becomes under --padding sentinel (a feature
  // of an object the event may not have, such as the second jet).
  enum class Missing { never, zero, sentinel };
  std::string name, unit;
  Missing missing = Missing::never;
};

// The inputs of an event file a set reads, and those checked to be finite.
struct FeatureInputs {
  std::vector<std::string> columns;      // per-event columns (event_number and weight_mc are always read)
  std::vector<std::string> collections;  // jagged collections
  std::vector<std::string> finite_columns;  // float columns checked in this order (after weight_mc)
  std::vector<std::pair<std::string, std::vector<std::string>>> finite_members;  // collection -> float members
};

// The selection parameters of all sets (each set reads its own; defaults of the thesis).
struct FeatureSetOptions {
  // dilepton_met
  double lepton_pt_min = 20;   // GeV, pT > min
  double lepton_eta_max = 2.5; // |eta| < max
  bool require_sfos = true;    // same flavour, opposite sign (false: any pair)
  double met_min = 50;         // GeV, MET > min
  int64_t max_bjets = -1;      // b-jet veto: n_bjets <= max (< 0: off)
  // dijet
  double mjj_min = 0;          // GeV, m_JJ >= min
  // rmm (leptons enter with the dilepton_met lepton cuts above)
  std::vector<std::string> rmm_types = {"jets", "electrons", "muons"};  // T blocks, in matrix order
  int64_t rmm_slots = 5;        // N objects per type
  double rmm_angle_scale = 0.15; // C of the h cells (Chekanov)
  int64_t rmm_min_leptons = 0;  // events need at least this many leptons (0: every event)
};

// A square block of a set's features, row-major, that is also a matrix per event
// (the RMM): the feature file shows it as a [rows, size, size] dataset too.
struct FeatureMatrix {
  std::string name;         // dataset name, e.g. "rmm"
  std::size_t first = 0;    // index of cell (0, 0) in features()
  std::size_t size = 0;     // rows = columns
  std::string description;
};

class FeatureSet {
 public:
  virtual ~FeatureSet() = default;
  virtual std::string name() const = 0;
  virtual const std::vector<FeatureDef>& features() const = 0;
  virtual FeatureInputs inputs() const = 0;
  // The set's cuts in cutflow order (the extractor adds "all", "finite" and "padding").
  virtual std::vector<std::string> cuts() const = 0;
  // The feature whose value is the `mass` column of the feature file.
  virtual std::size_t mass_feature() const = 0;
  // The selection as file attributes, e.g. met_min_GeV.
  virtual std::vector<Parameter> attributes() const = 0;
  // Blocks of features that form a matrix per event (none for most sets).
  virtual std::vector<FeatureMatrix> matrices() const { return {}; }
  // The features that will be written (indices into features()): a set may skip
  // computing costly ones that are not.
  virtual void select(const std::vector<std::size_t>& /*written*/) {}
  // Called with each block before its events are evaluated (and again whenever the
  // block's contents change): a set may look up the columns it reads once here.
  virtual void bind(const EventBlock& /*block*/) {}
  // Event i of the block: the number of cuts() it passes; when it passes them all,
  // values[f] for every feature and present[f] = false for features of objects the
  // event lacks (their value is then undefined).
  virtual std::size_t evaluate(const EventBlock& block, std::size_t i, std::vector<double>& values,
                               std::vector<char>& present) = 0;
};

// The names of the feature sets, and one by name; InputError "<where>feature set
// 'NAME' is unknown; ..." otherwise.
std::vector<std::string> feature_set_names();
std::unique_ptr<FeatureSet> make_feature_set(const std::string& name, const FeatureSetOptions& options,
                                             const std::string& where = "");

}  // namespace bsmhunt::physics
