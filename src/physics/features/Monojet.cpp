// monojet: the high-level features of analysis E (the baseline the CNNs are compared
// with) and the ATLAS mono-jet selection as a flag: MET, the two leading jets with
// their shapes, jet multiplicity, the smallest Delta phi(jet, MET), HT, lepton and
// hadronic-tau candidates (docs/monojet.md).
#include <algorithm>
#include <cmath>

#include "FeatureSets.hpp"
#include "bsmhunt/physics/FourVector.hpp"

namespace bsmhunt::physics {

namespace {

using M = FeatureDef::Missing;

const std::vector<FeatureDef> kFeatures = {
    {"met", "GeV"},
    {"met_phi", "rad"},
    {"n_jets", ""},
    {"ht", "GeV"},
    {"min_dphi_jet_met", "rad"},
    {"jet1_pt", "GeV", M::zero},
    {"jet1_eta", "", M::sentinel},
    {"jet1_phi", "rad", M::sentinel},
    {"jet1_width", "", M::zero},
    {"jet1_n_constituents", "", M::zero},
    {"jet1_n_charged", "", M::zero},
    {"jet2_pt", "GeV", M::zero},
    {"jet2_eta", "", M::sentinel},
    {"jet2_phi", "rad", M::sentinel},
    {"jet2_width", "", M::zero},
    {"jet2_n_constituents", "", M::zero},
    {"jet2_n_charged", "", M::zero},
    {"n_electrons", ""},
    {"n_muons", ""},
    {"lepton1_pt", "GeV"},
    {"n_tau_candidates", ""},
    {"tau_candidate_pt", "GeV"},
    {"atlas_selection", ""},
};
enum Feature : std::size_t {
  met_, met_phi_, n_jets, ht, min_dphi, jet1_pt, jet1_eta, jet1_phi, jet1_width, jet1_n, jet1_nch, jet2_pt, jet2_eta,
  jet2_phi, jet2_width, jet2_n, jet2_nch, n_electrons, n_muons, lepton1_pt, n_taus, tau_pt, atlas_selection,
};
constexpr std::size_t kJetBlock = 6;  // features per leading jet

// ATLAS mono-jet selection (arXiv:1711.03301): MET > 250 GeV, leading jet pT > 250 GeV
// and |eta| < 2.4, at most 4 jets with pT > 30 GeV and |eta| < 2.8, and each of them
// at |Delta phi(jet, MET)| > 0.4, and no electron above 20 GeV or muon above 10 GeV
// (the lepton veto). Jets counted: pT > 30 GeV, |eta| < 2.8.
constexpr double kJetPtMin = 30, kJetEtaMax = 2.8;
constexpr double kVetoElectronPtMin = 20, kVetoMuonPtMin = 10;
constexpr double kMetMin = 250, kLeadPtMin = 250, kLeadEtaMax = 2.4, kMaxJets = 4, kDphiMin = 0.4;
// Hadronic-tau candidates: narrow jets of 1 or 3 charged particles (pT > 20 GeV, |eta| < 2.5).
constexpr double kTauPtMin = 20, kTauEtaMax = 2.5, kTauWidthMax = 0.1;

class Monojet final : public FeatureSet {
 public:
  explicit Monojet(const FeatureSetOptions&) {}
  std::string name() const override { return "monojet"; }
  const std::vector<FeatureDef>& features() const override { return kFeatures; }
  FeatureInputs inputs() const override {
    return {{"met", "met_phi"},
            {"electrons", "muons", "jets"},
            {"met", "met_phi"},
            {{"electrons", {"pt", "eta", "phi"}}, {"muons", {"pt", "eta", "phi"}}, {"jets", {"pt", "eta", "phi", "width"}}}};
  }
  std::vector<std::string> cuts() const override { return {}; }  // every event: the ATLAS selection is a flag
  std::size_t mass_feature() const override { return met_; }
  std::vector<Parameter> attributes() const override {
    return {{"jet_pt_min_GeV", kJetPtMin},
            {"jet_eta_max", kJetEtaMax},
            {"atlas_selection", std::string("met > 250 && jet1_pt > 250 && |jet1_eta| < 2.4 && n_jets <= 4 && "
                                            "min_dphi_jet_met > 0.4 && no electron with pT > 20 or muon with pT > 10 "
                                            "(arXiv:1711.03301)")}};
  }
  std::size_t evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x, std::vector<char>& present) override {
    const auto& jets = b.collection("jets");
    const auto &pt = jets.member("pt").as<float>(), &eta = jets.member("eta").as<float>(),
               &phi = jets.member("phi").as<float>(), &width = jets.member("width").as<float>();
    const auto &n_const = jets.member("n_constituents").as<int32_t>(), &n_charged = jets.member("n_charged").as<int32_t>();
    const double met = b.values<float>("met")[i], met_phi = b.values<float>("met_phi")[i];
    x[met_] = met, x[met_phi_] = met_phi;
    std::size_t counted = 0;
    double sum_pt = 0, dphi_min = std::numbers::pi, tau_lead = 0;
    int64_t taus = 0;
    // The leading counted jets (pT > 30, |eta| < 2.8) give the jet features.
    std::vector<uint64_t> leading;
    for (uint64_t k = jets.offsets[i]; k < jets.offsets[i + 1]; ++k) {
      if (pt[k] > kTauPtMin && std::fabs(eta[k]) < kTauEtaMax && width[k] < kTauWidthMax &&
          (n_charged[k] == 1 || n_charged[k] == 3)) {
        ++taus;
        tau_lead = std::max(tau_lead, double(pt[k]));
      }
      if (!(pt[k] > kJetPtMin && std::fabs(eta[k]) < kJetEtaMax)) continue;
      ++counted;
      sum_pt += pt[k];
      dphi_min = std::min(dphi_min, std::fabs(delta_phi(phi[k], met_phi)));
      if (leading.size() < 2) leading.push_back(k);
    }
    x[n_jets] = double(counted), x[ht] = sum_pt, x[min_dphi] = dphi_min;
    for (std::size_t j = 0; j < 2; ++j) {
      const std::size_t f = jet1_pt + kJetBlock * j;
      const bool has = j < leading.size();
      for (std::size_t q = 0; q < kJetBlock; ++q) present[f + q] = has;
      if (!has) continue;
      const uint64_t k = leading[j];
      x[f] = pt[k], x[f + 1] = eta[k], x[f + 2] = phi[k], x[f + 3] = width[k];
      x[f + 4] = n_const[k], x[f + 5] = n_charged[k];
    }
    const auto& ele = b.collection("electrons");
    const auto& mu = b.collection("muons");
    x[n_electrons] = double(ele.offsets[i + 1] - ele.offsets[i]);
    x[n_muons] = double(mu.offsets[i + 1] - mu.offsets[i]);
    double lead_lepton = 0;
    bool vetoed = false;
    for (const auto* c : {&ele, &mu})
      for (uint64_t k = c->offsets[i]; k < c->offsets[i + 1]; ++k) {
        const double lepton_pt = c->member("pt").as<float>()[k];
        lead_lepton = std::max(lead_lepton, lepton_pt);
        vetoed |= lepton_pt > (c == &ele ? kVetoElectronPtMin : kVetoMuonPtMin);
      }
    x[lepton1_pt] = lead_lepton;
    x[n_taus] = double(taus), x[tau_pt] = tau_lead;
    const bool selected = met > kMetMin && !leading.empty() && pt[leading[0]] > kLeadPtMin &&
                          std::fabs(eta[leading[0]]) < kLeadEtaMax && double(counted) <= kMaxJets && dphi_min > kDphiMin &&
                          !vetoed;
    x[atlas_selection] = selected ? 1.0 : 0.0;
    return 0;
  }
};

}  // namespace

std::unique_ptr<FeatureSet> make_monojet(const FeatureSetOptions& options) { return std::make_unique<Monojet>(options); }

}  // namespace bsmhunt::physics
