// rmm: the rapidity-mass matrix of each event (physics/Rmm.hpp) as D x D named
// features rmm_<row>_<column>, plus the invariant mass of all its objects as the
// mass column (analysis B; docs/rmm.md). Object types and slots are options
// (T3N5 by default: jets, electrons, muons); an optional minimum lepton count
// makes the same event selection as the trilepton set's lepton requirement.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "FeatureSets.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/physics/Rmm.hpp"

namespace bsmhunt::physics {

namespace {

// PDG masses (GeV): the event files store lepton pT, eta, phi only.
constexpr double kElectronMass = 0.000510999, kMuonMass = 0.105658;

enum class ObjectType { jets, bjets, electrons, muons };
const std::vector<std::string> kTypeNames = {"jets", "bjets", "electrons", "muons"};

ObjectType parse_type(const std::string& name) {
  for (std::size_t t = 0; t < kTypeNames.size(); ++t)
    if (name == kTypeNames[t]) return ObjectType(t);
  throw InputError(fmt::format("--rmm-types: '{}' is not an object type; the types are: {}{}", name,
                               join(kTypeNames, ", "), did_you_mean(name, kTypeNames)));
}

class RmmFeatures final : public FeatureSet {
 public:
  explicit RmmFeatures(const FeatureSetOptions& o) : options_(o) {
    if (o.rmm_types.empty() || o.rmm_types.size() > kTypeNames.size())
      throw InputError(fmt::format("--rmm-types: {} types given; expected 1 to {} of {}", o.rmm_types.size(),
                                   kTypeNames.size(), join(kTypeNames, ", ")));
    for (const auto& name : o.rmm_types) {
      const ObjectType t = parse_type(name);
      if (std::find(types_.begin(), types_.end(), t) != types_.end())
        throw InputError(fmt::format("--rmm-types: '{}' is given twice", name));
      types_.push_back(t);
    }
    if (o.rmm_slots < 1 || o.rmm_slots > kMaxSlots)
      throw InputError(fmt::format("--rmm-slots {}: expected 1 to {} objects per type", o.rmm_slots, kMaxSlots));
    if (!(o.rmm_angle_scale > 0) || !std::isfinite(o.rmm_angle_scale))
      throw InputError(fmt::format("--rmm-angle-scale {}: expected a positive number", o.rmm_angle_scale));
    if (o.rmm_min_leptons < 0)
      throw InputError(fmt::format("--rmm-min-leptons {}: must not be negative", o.rmm_min_leptons));
    layout_.types = types_.size();
    layout_.slots = std::size_t(o.rmm_slots);
    layout_.angle_scale = o.rmm_angle_scale;
    const std::size_t d = layout_.size();
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) features_.push_back({rmm_cell_name(i, j), ""});
    features_.push_back({"m_objects", "GeV"});
    jets_are_light_ = std::find(types_.begin(), types_.end(), ObjectType::bjets) != types_.end();
    objects_.resize(types_.size());
    matrix_.resize(d * d);
  }
  std::string name() const override { return "rmm"; }
  const std::vector<FeatureDef>& features() const override { return features_; }
  FeatureInputs inputs() const override {
    FeatureInputs in{{"met", "met_phi"}, {}, {"met", "met_phi"}, {}};
    const bool jets = uses(ObjectType::jets) || uses(ObjectType::bjets);
    if (jets) {
      in.collections.push_back("jets");
      in.finite_members.push_back({"jets", {"pt", "eta", "phi", "m"}});
    }
    if (uses(ObjectType::electrons) || options_.rmm_min_leptons > 0) {
      in.collections.push_back("electrons");
      in.finite_members.push_back({"electrons", {"pt", "eta", "phi"}});
    }
    if (uses(ObjectType::muons) || options_.rmm_min_leptons > 0) {
      in.collections.push_back("muons");
      in.finite_members.push_back({"muons", {"pt", "eta", "phi"}});
    }
    return in;
  }
  std::vector<std::string> cuts() const override {
    if (options_.rmm_min_leptons > 0) return {"leptons"};
    return {};
  }
  std::size_t mass_feature() const override { return features_.size() - 1; }
  std::vector<FeatureMatrix> matrices() const override {
    return {{"rmm", 0, layout_.size(),
             fmt::format("rapidity-mass matrix per event ({}, {} slots each; docs/rmm.md): a view of the rmm_* "
                         "columns of the feature matrix",
                         join(options_.rmm_types, ", "), layout_.slots)}};
  }
  std::vector<Parameter> attributes() const override {
    return {{"rmm_types", join(options_.rmm_types, ",")},
            {"rmm_slots", int64_t(layout_.slots)},
            {"rmm_size", int64_t(layout_.size())},
            {"rmm_angle_scale", layout_.angle_scale},
            {"rmm_sqrt_s_GeV", layout_.sqrt_s},
            {"rmm_min_leptons", options_.rmm_min_leptons},
            {"lepton_pt_min_GeV", options_.lepton_pt_min},
            {"lepton_eta_max", options_.lepton_eta_max}};
  }
  std::size_t evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x, std::vector<char>& present) override {
    for (auto& o : objects_) o.clear();
    std::size_t passed = 0;
    const std::size_t n_leptons = collect_leptons(b, i);
    if (options_.rmm_min_leptons > 0) {
      if (int64_t(n_leptons) < options_.rmm_min_leptons) return passed;
      ++passed;
    }
    if (uses(ObjectType::jets) || uses(ObjectType::bjets)) collect_jets(b, i);
    const double met = b.values<float>("met")[i], met_phi = b.values<float>("met_phi")[i];
    rapidity_mass_matrix(layout_, met, met_phi, objects_, matrix_);
    std::copy(matrix_.begin(), matrix_.end(), x.begin());
    FourVector sum;
    for (std::size_t t = 0; t < objects_.size(); ++t)
      for (std::size_t k = 0; k < std::min(objects_[t].size(), layout_.slots); ++k) sum += objects_[t][k];
    x.back() = std::max(sum.m(), 0.0);
    std::fill(present.begin(), present.end(), char(1));
    return passed;
  }

 private:
  static constexpr int64_t kMaxSlots = 20;
  bool uses(ObjectType t) const { return std::find(types_.begin(), types_.end(), t) != types_.end(); }
  int slot_of(ObjectType t) const {
    const auto it = std::find(types_.begin(), types_.end(), t);
    return it == types_.end() ? -1 : int(it - types_.begin());
  }
  // Leptons with pT > lepton_pt_min and |eta| < lepton_eta_max go into their type's
  // block (files store them pT-ordered); returns how many there are.
  std::size_t collect_leptons(const EventBlock& b, std::size_t i) {
    std::size_t n = 0;
    const bool need = options_.rmm_min_leptons > 0;
    for (const ObjectType t : {ObjectType::electrons, ObjectType::muons}) {
      const int slot = slot_of(t);
      if (slot < 0 && !need) continue;
      const auto& c = b.collection(t == ObjectType::electrons ? "electrons" : "muons");
      const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(),
                 &phi = c.member("phi").as<float>();
      const double mass = t == ObjectType::electrons ? kElectronMass : kMuonMass;
      for (uint64_t k = c.offsets[i]; k < c.offsets[i + 1]; ++k) {
        if (!(pt[k] > options_.lepton_pt_min && std::fabs(eta[k]) < options_.lepton_eta_max)) continue;
        ++n;
        if (slot >= 0) objects_[std::size_t(slot)].push_back(FourVector::from_pt_eta_phi_m(pt[k], eta[k], phi[k], mass));
      }
    }
    return n;
  }
  // Jets as stored (pT-ordered); with a bjets type, b-tagged jets go there and not
  // into jets.
  void collect_jets(const EventBlock& b, std::size_t i) {
    const auto& c = b.collection("jets");
    const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(), &phi = c.member("phi").as<float>(),
               &m = c.member("m").as<float>();
    const auto& btag = c.member("btag").as<int8_t>();
    const int light = slot_of(ObjectType::jets), heavy = slot_of(ObjectType::bjets);
    for (uint64_t k = c.offsets[i]; k < c.offsets[i + 1]; ++k) {
      const int slot = (jets_are_light_ && btag[k]) ? heavy : light;
      if (slot < 0) continue;
      objects_[std::size_t(slot)].push_back(FourVector::from_pt_eta_phi_m(pt[k], eta[k], phi[k], std::max(0.0f, m[k])));
    }
  }

  FeatureSetOptions options_;
  std::vector<ObjectType> types_;
  RmmLayout layout_;
  std::vector<FeatureDef> features_;
  bool jets_are_light_ = false;
  std::vector<std::vector<FourVector>> objects_;
  std::vector<double> matrix_;
};

}  // namespace

std::unique_ptr<FeatureSet> make_rmm(const FeatureSetOptions& options) { return std::make_unique<RmmFeatures>(options); }

}  // namespace bsmhunt::physics
