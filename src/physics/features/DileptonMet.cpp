// dilepton_met: the features of analysis A (mono-Z' in dilepton + MET) and its
// preselection: exactly two leptons, same flavour and opposite sign, MET, an
// optional b-jet veto (docs/extract.md).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "FeatureSets.hpp"
#include "bsmhunt/core/Error.hpp"
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
    const auto wants = [&](Feature f) { return std::find(written.begin(), written.end(), std::size_t(f)) != written.end(); };
    wants_mt2_ = wants(mt2_);
    wants_met_sig_ = wants(met_sig);
  }
  void bind(const EventBlock& b) override;
  std::size_t evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x, std::vector<char>& present) override;

 private:
  // The columns of the bound block, looked up once per block rather than per event.
  struct Leptons {
    const uint64_t* offsets;
    const float *pt, *eta, *phi;
    const int8_t* charge;
  };
  struct Columns {
    const EventBlock* block = nullptr;
    Leptons leptons[2];  // electrons, muons
    const uint64_t* jet_offsets;
    const float *jet_pt, *jet_eta, *jet_phi;
    const int8_t* jet_btag;
    const float *met, *met_phi, *met_sumet;
  };
  FeatureSetOptions o_;
  // The costliest features are computed only when written.
  bool wants_mt2_ = true, wants_met_sig_ = true;
  Columns c_;
  std::vector<MetObject> objects_;
  std::vector<Lepton> leptons_;
};

void DileptonMet::bind(const EventBlock& b) {
  for (int flavour = 0; flavour < 2; ++flavour) {
    const auto& c = b.collection(flavour == 0 ? "electrons" : "muons");
    c_.leptons[flavour] = {c.offsets.data(), c.member("pt").as<float>().data(), c.member("eta").as<float>().data(),
                           c.member("phi").as<float>().data(), c.member("charge").as<int8_t>().data()};
  }
  const auto& jets = b.collection("jets");
  c_.jet_offsets = jets.offsets.data();
  c_.jet_pt = jets.member("pt").as<float>().data();
  c_.jet_eta = jets.member("eta").as<float>().data();
  c_.jet_phi = jets.member("phi").as<float>().data();
  c_.jet_btag = jets.member("btag").as<int8_t>().data();
  c_.met = b.values<float>("met").data();
  c_.met_phi = b.values<float>("met_phi").data();
  c_.met_sumet = b.values<float>("met_sumet").data();
  c_.block = &b;
}

std::size_t DileptonMet::evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x,
                                  std::vector<char>& present) {
  if (c_.block != &b) throw InternalError("dilepton_met: evaluate() on a block that was not bound");
  leptons_.clear();
  objects_.clear();
  std::size_t passed = 0;
  for (int flavour = 0; flavour < 2; ++flavour) {
    const Leptons& c = c_.leptons[flavour];
    const auto kind = flavour == 0 ? MetObjectKind::electron : MetObjectKind::muon;
    for (uint64_t k = c.offsets[i]; k < c.offsets[i + 1]; ++k) {
      if (wants_met_sig_) objects_.push_back({c.pt[k], c.eta[k], c.phi[k], kind});
      if (double(c.pt[k]) > o_.lepton_pt_min && std::fabs(double(c.eta[k])) < o_.lepton_eta_max)
        leptons_.push_back({c.pt[k], c.eta[k], c.phi[k], c.charge[k], flavour});
    }
  }
  if (leptons_.size() != 2) return passed;
  ++passed;  // two leptons
  if (leptons_[1].pt > leptons_[0].pt) std::swap(leptons_[0], leptons_[1]);  // leading first
  const Lepton &l1 = leptons_[0], &l2 = leptons_[1];
  if (o_.require_sfos && !(l1.flavour == l2.flavour && l1.charge * l2.charge < 0)) return passed;
  ++passed;  // flavour
  const double met = c_.met[i], met_phi = c_.met_phi[i];
  if (!(met > o_.met_min)) return passed;
  ++passed;  // met
  const float *jpt = c_.jet_pt, *jeta = c_.jet_eta, *jphi = c_.jet_phi;
  const uint64_t j0 = c_.jet_offsets[i], j1 = c_.jet_offsets[i + 1];
  int64_t nb = 0;
  double sum_pt = 0;
  for (uint64_t k = j0; k < j1; ++k) {
    nb += c_.jet_btag[k] != 0;
    sum_pt += double(jpt[k]);
    if (wants_met_sig_) objects_.push_back({jpt[k], jeta[k], jphi[k], MetObjectKind::jet});
  }
  if (o_.max_bjets >= 0) {
    if (nb > o_.max_bjets) return passed;
    ++passed;  // bjet veto
  }

  x[lep1_pt] = l1.pt, x[lep1_eta] = l1.eta, x[lep1_phi] = l1.phi;
  x[lep2_pt] = l2.pt, x[lep2_eta] = l2.eta, x[lep2_phi] = l2.phi;
  // Transverse components only: nothing below needs pz or E.
  const double px1 = l1.pt * std::cos(l1.phi), py1 = l1.pt * std::sin(l1.phi);
  const double px2 = l2.pt * std::cos(l2.phi), py2 = l2.pt * std::sin(l2.phi);
  const double pxll = px1 + px2, pyll = py1 + py2;
  const double m_ll = invariant_mass<double>(l1.pt, l1.eta, l1.phi, 0.0, l2.pt, l2.eta, l2.phi, 0.0);
  const double pt_ll = pair_pt<double>(l1.pt, l1.phi, l2.pt, l2.phi);
  const double phi_ll = pxll == 0 && pyll == 0 ? 0.0 : std::atan2(pyll, pxll);
  x[mll] = m_ll;
  x[ptll] = pt_ll;
  x[met_] = met, x[met_phi_] = met_phi;
  x[met_sig] = wants_met_sig_ ? met_significance_polar(objects_, met, met_phi, soft_sumet(double(c_.met_sumet[i]), objects_))
                              : 0.0;
  x[mt_llmet] = system_transverse_mass<double>(m_ll, pt_ll, phi_ll, met, met_phi);
  // libm calls are not elided when their result goes unused: only when mT2 is written.
  x[mt2_] = wants_mt2_ ? mt2(0.0, px1, py1, 0.0, px2, py2, met * std::cos(met_phi), met * std::sin(met_phi)) : 0.0;
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
