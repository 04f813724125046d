// dilepton_met: the features of analysis A (mono-Z' in dilepton + MET) and its
// preselection: exactly two leptons, same flavour and opposite sign, MET, an
// optional b-jet veto (docs/extract.md).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "FeatureSets.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/Kinematics.hpp"
#include "bsmhunt/physics/MetSignificance.hpp"
#include "bsmhunt/physics/Mt2.hpp"

namespace bsmhunt::physics {

namespace {

using M = FeatureDef::Missing;

// In file order; the enum below names them.
const std::vector<FeatureDef> kFeatures = {
    {"lep1_pt", "GeV"},  {"lep1_eta", ""},          {"lep1_phi", "rad"},    {"lep2_pt", "GeV"},
    {"lep2_eta", ""},    {"lep2_phi", "rad"},       {"mll", "GeV"},         {"ptll", "GeV"},
    {"met", "GeV"},      {"met_phi", "rad"},        {"met_significance", ""}, {"mt_llmet", "GeV"},
    {"mt2", "GeV"},      {"dphi_ll", "rad"},        {"dphi_ll_met", "rad"}, {"dr_ll", ""},
    {"n_jets", ""},      {"n_bjets", ""},           {"ht", "GeV"},          {"jet1_pt", "GeV", M::zero},
    {"jet1_eta", "", M::sentinel}, {"jet1_phi", "rad", M::sentinel}, {"jet2_pt", "GeV", M::zero},
    {"jet2_eta", "", M::sentinel}, {"jet2_phi", "rad", M::sentinel}, {"channel_flag", ""},
};
enum Feature : std::size_t {
  lep1_pt, lep1_eta, lep1_phi, lep2_pt, lep2_eta, lep2_phi, mll, ptll, met_, met_phi_, met_sig, mt_llmet, mt2_,
  dphi_ll, dphi_ll_met, dr_ll, n_jets, n_bjets, ht_, jet1_pt, jet1_eta, jet1_phi, jet2_pt, jet2_eta, jet2_phi,
  channel_flag,
};

struct Lepton {
  double pt, eta, phi;
  int charge, flavour;  // 0 electron, 1 muon
};

class DileptonMet final : public FeatureSet {
 public:
  explicit DileptonMet(const FeatureSetOptions& o) : o_(o) {}
  std::string name() const override { return "dilepton_met"; }
  const std::vector<FeatureDef>& features() const override { return kFeatures; }
  FeatureInputs inputs() const override {
    return {{"met", "met_phi", "met_sumet"},
            {"electrons", "muons", "jets"},
            {"met", "met_phi", "met_sumet"},
            {{"electrons", {"pt", "eta", "phi"}}, {"muons", {"pt", "eta", "phi"}}, {"jets", {"pt", "eta", "phi", "m"}}}};
  }
  std::vector<std::string> cuts() const override {
    std::vector<std::string> c = {"two leptons", "flavour", "met"};
    if (o_.max_bjets >= 0) c.push_back("bjet veto");
    return c;
  }
  std::size_t mass_feature() const override { return mll; }
  std::vector<Parameter> attributes() const override {
    return {{"lepton_pt_min_GeV", o_.lepton_pt_min},
            {"lepton_eta_max", o_.lepton_eta_max},
            {"require", std::string(o_.require_sfos ? "sfos" : "any")},
            {"met_min_GeV", o_.met_min},
            {"max_bjets", o_.max_bjets}};
  }
  void select(const std::vector<std::size_t>& written) override {
    wants_mt2_ = std::find(written.begin(), written.end(), std::size_t(mt2_)) != written.end();
  }
  std::size_t evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x, std::vector<char>& present) override;

 private:
  FeatureSetOptions o_;
  bool wants_mt2_ = true;  // mT2 is by far the costliest feature: only when written
  std::vector<MetObject> objects_;
  std::vector<Lepton> leptons_;
};

std::size_t DileptonMet::evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x,
                                  std::vector<char>& present) {
  leptons_.clear();
  objects_.clear();
  const auto& ele = b.collection("electrons");
  const auto& mu = b.collection("muons");
  const auto& jets = b.collection("jets");
  std::size_t passed = 0;
  for (int flavour = 0; flavour < 2; ++flavour) {
    const auto& c = flavour == 0 ? ele : mu;
    const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(),
               &phi = c.member("phi").as<float>();
    const auto& q = c.member("charge").as<int8_t>();
    for (uint64_t k = c.offsets[i]; k < c.offsets[i + 1]; ++k) {
      objects_.push_back({pt[k], eta[k], phi[k], flavour == 0 ? MetObjectKind::electron : MetObjectKind::muon});
      if (double(pt[k]) > o_.lepton_pt_min && std::fabs(double(eta[k])) < o_.lepton_eta_max)
        leptons_.push_back({pt[k], eta[k], phi[k], q[k], flavour});
    }
  }
  if (leptons_.size() != 2) return passed;
  ++passed;  // two leptons
  std::sort(leptons_.begin(), leptons_.end(), [](const Lepton& a, const Lepton& c) { return a.pt > c.pt; });
  const Lepton &l1 = leptons_[0], &l2 = leptons_[1];
  if (o_.require_sfos && !(l1.flavour == l2.flavour && l1.charge * l2.charge < 0)) return passed;
  ++passed;  // flavour
  const double met = b.values<float>("met")[i], met_phi = b.values<float>("met_phi")[i];
  if (!(met > o_.met_min)) return passed;
  ++passed;  // met
  const auto &jpt = jets.member("pt").as<float>(), &jeta = jets.member("eta").as<float>(),
             &jphi = jets.member("phi").as<float>();
  const auto& jb = jets.member("btag").as<int8_t>();
  const uint64_t j0 = jets.offsets[i], j1 = jets.offsets[i + 1];
  int64_t nb = 0;
  double sum_pt = 0;
  for (uint64_t k = j0; k < j1; ++k) {
    nb += jb[k] != 0;
    sum_pt += double(jpt[k]);
    objects_.push_back({jpt[k], jeta[k], jphi[k], MetObjectKind::jet});
  }
  if (o_.max_bjets >= 0) {
    if (nb > o_.max_bjets) return passed;
    ++passed;  // bjet veto
  }

  x[lep1_pt] = l1.pt, x[lep1_eta] = l1.eta, x[lep1_phi] = l1.phi;
  x[lep2_pt] = l2.pt, x[lep2_eta] = l2.eta, x[lep2_phi] = l2.phi;
  const FourVector v1 = FourVector::from_pt_eta_phi_m(l1.pt, l1.eta, l1.phi, 0.0),
                   v2 = FourVector::from_pt_eta_phi_m(l2.pt, l2.eta, l2.phi, 0.0);
  const FourVector ll = v1 + v2;
  const double m_ll = invariant_mass<double>(l1.pt, l1.eta, l1.phi, 0.0, l2.pt, l2.eta, l2.phi, 0.0);
  const double pt_ll = pair_pt<double>(l1.pt, l1.phi, l2.pt, l2.phi);
  const double phi_ll = ll.phi();
  x[mll] = m_ll;
  x[ptll] = pt_ll;
  x[met_] = met, x[met_phi_] = met_phi;
  const double soft = soft_sumet(double(b.values<float>("met_sumet")[i]), objects_);
  x[met_sig] = met_significance_polar(objects_, met, met_phi, soft);
  x[mt_llmet] = system_transverse_mass<double>(m_ll, pt_ll, phi_ll, met, met_phi);
  const double mx = met * std::cos(met_phi), my = met * std::sin(met_phi);
  x[mt2_] = wants_mt2_ ? mt2(0.0, v1.px, v1.py, 0.0, v2.px, v2.py, mx, my) : 0.0;
  x[dphi_ll] = abs_delta_phi<double>(l1.phi, l2.phi);
  x[dphi_ll_met] = abs_delta_phi<double>(phi_ll, met_phi);
  x[dr_ll] = delta_r(l1.eta, l1.phi, l2.eta, l2.phi);
  x[n_jets] = double(j1 - j0);
  x[n_bjets] = double(nb);
  x[ht_] = sum_pt;
  for (uint64_t j = 0; j < 2; ++j) {
    const std::size_t f = jet1_pt + 3 * j;
    const bool has = j0 + j < j1;
    for (std::size_t q = 0; q < 3; ++q) present[f + q] = has;
    if (has) x[f] = jpt[j0 + j], x[f + 1] = jeta[j0 + j], x[f + 2] = jphi[j0 + j];
  }
  x[channel_flag] = l1.flavour != l2.flavour ? 2.0 : double(l1.flavour);
  return passed;
}

}  // namespace

std::unique_ptr<FeatureSet> make_dilepton_met(const FeatureSetOptions& options) {
  return std::make_unique<DileptonMet>(options);
}

}  // namespace bsmhunt::physics
