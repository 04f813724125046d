// trilepton: the high-level features of analysis B (heavy neutral leptons in three-
// lepton final states): the three leading leptons, the flavour composition, m_3l,
// the same-flavour opposite-sign (SFOS) pair closest to the Z mass and the
// transverse mass of the remaining lepton with MET (the W of WZ), and the hadronic
// activity. Selection: at least three leptons, the leading one on the trigger
// plateau (docs/extract.md).
#include <algorithm>
#include <array>
#include <cmath>

#include "FeatureSets.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/Kinematics.hpp"

namespace bsmhunt::physics {

namespace {

using M = FeatureDef::Missing;

// In file order; the enum below names them. Lepton flavour: 0 electron, 1 muon.
const std::vector<FeatureDef> kFeatures = {
    {"lep1_pt", "GeV"},       {"lep1_eta", ""},      {"lep1_phi", "rad"},  {"lep1_flavour", ""}, {"lep1_charge", "e"},
    {"lep2_pt", "GeV"},       {"lep2_eta", ""},      {"lep2_phi", "rad"},  {"lep2_flavour", ""}, {"lep2_charge", "e"},
    {"lep3_pt", "GeV"},       {"lep3_eta", ""},      {"lep3_phi", "rad"},  {"lep3_flavour", ""}, {"lep3_charge", "e"},
    {"n_leptons", ""},        {"n_electrons", ""},   {"n_muons", ""},      {"n_sfos_pairs", ""}, {"m_3l", "GeV"},
    {"pt_3l", "GeV"},         {"m_sfos", "GeV", M::zero},                  {"mt_3rd", "GeV", M::zero},
    {"met", "GeV"},           {"met_phi", "rad"},    {"n_jets", ""},       {"n_bjets", ""},      {"ht", "GeV"},
};
enum Feature : std::size_t {
  lep1_pt, lep1_eta, lep1_phi, lep1_flavour, lep1_charge, lep2_pt, lep2_eta, lep2_phi, lep2_flavour, lep2_charge,
  lep3_pt, lep3_eta, lep3_phi, lep3_flavour, lep3_charge, n_leptons, n_electrons, n_muons, n_sfos_pairs, m_3l,
  pt_3l, m_sfos, mt_3rd, met_, met_phi_, n_jets, n_bjets, ht_,
};
constexpr std::size_t kLeptonBlock = 5;  // features per leading lepton

// Selection (fixed, analysis B): leptons pT > 10 GeV, |eta| < 2.5, at least three,
// the leading one above 25 GeV (single-lepton trigger plateau). Jets pT > 25 GeV,
// |eta| < 4.5 (the generator's stored jets).
constexpr double kLeptonPtMin = 10, kLeptonEtaMax = 2.5, kLeadingLeptonPtMin = 25;
constexpr std::size_t kMinLeptons = 3;
constexpr double kJetPtMin = 25, kJetEtaMax = 4.5;
constexpr double kMassZ = 91.1876;

struct Lepton {
  double pt, eta, phi;
  int charge, flavour;  // flavour: 0 electron, 1 muon
  FourVector p4() const { return FourVector::from_pt_eta_phi_m(pt, eta, phi, 0.0); }
};

class Trilepton final : public FeatureSet {
 public:
  explicit Trilepton(const FeatureSetOptions&) {}
  std::string name() const override { return "trilepton"; }
  const std::vector<FeatureDef>& features() const override { return kFeatures; }
  FeatureInputs inputs() const override {
    return {{"met", "met_phi"},
            {"electrons", "muons", "jets"},
            {"met", "met_phi"},
            {{"electrons", {"pt", "eta", "phi"}}, {"muons", {"pt", "eta", "phi"}}, {"jets", {"pt", "eta", "phi"}}}};
  }
  std::vector<std::string> cuts() const override { return {"three leptons", "leading lepton"}; }
  std::size_t mass_feature() const override { return m_3l; }
  std::vector<Parameter> attributes() const override {
    return {{"lepton_pt_min_GeV", kLeptonPtMin},
            {"lepton_eta_max", kLeptonEtaMax},
            {"min_leptons", int64_t(kMinLeptons)},
            {"leading_lepton_pt_min_GeV", kLeadingLeptonPtMin},
            {"jet_pt_min_GeV", kJetPtMin},
            {"jet_eta_max", kJetEtaMax},
            {"lepton_flavour_codes", std::string("0 electron, 1 muon")},
            {"sfos_choice", std::string("of the three leading leptons, the SFOS pair with mass closest to 91.1876 GeV; "
                                        "m_sfos = mt_3rd = 0 when there is none (n_sfos_pairs = 0)")}};
  }
  std::size_t evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x, std::vector<char>& present) override;

 private:
  std::vector<Lepton> leptons_;
};

std::size_t Trilepton::evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x,
                                std::vector<char>& present) {
  leptons_.clear();
  int64_t electrons = 0, muons = 0;
  for (int flavour = 0; flavour < 2; ++flavour) {
    const auto& c = b.collection(flavour == 0 ? "electrons" : "muons");
    const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(),
               &phi = c.member("phi").as<float>();
    const auto& q = c.member("charge").as<int8_t>();
    for (uint64_t k = c.offsets[i]; k < c.offsets[i + 1]; ++k) {
      if (!(double(pt[k]) > kLeptonPtMin && std::fabs(double(eta[k])) < kLeptonEtaMax)) continue;
      leptons_.push_back({pt[k], eta[k], phi[k], q[k], flavour});
      ++(flavour == 0 ? electrons : muons);
    }
  }
  std::size_t passed = 0;
  if (leptons_.size() < kMinLeptons) return passed;
  ++passed;  // three leptons
  // Stable: on equal pT electrons stay before muons, whatever the platform's sort.
  std::stable_sort(leptons_.begin(), leptons_.end(), [](const Lepton& a, const Lepton& c) { return a.pt > c.pt; });
  if (!(leptons_[0].pt > kLeadingLeptonPtMin)) return passed;
  ++passed;  // leading lepton

  const std::array<Lepton, 3> l = {leptons_[0], leptons_[1], leptons_[2]};
  for (std::size_t k = 0; k < 3; ++k) {
    const std::size_t f = lep1_pt + kLeptonBlock * k;
    x[f] = l[k].pt, x[f + 1] = l[k].eta, x[f + 2] = l[k].phi, x[f + 3] = l[k].flavour, x[f + 4] = l[k].charge;
  }
  x[n_leptons] = double(leptons_.size());
  x[n_electrons] = double(electrons), x[n_muons] = double(muons);
  const FourVector sum = l[0].p4() + l[1].p4() + l[2].p4();
  x[m_3l] = std::max(0.0, sum.m());
  x[pt_3l] = sum.pt();

  // SFOS pairs among the three: (0,1), (0,2), (1,2); the third lepton is 3 - a - b.
  const double met = b.values<float>("met")[i], met_phi = b.values<float>("met_phi")[i];
  int pairs = 0;
  double best_mass = 0;
  std::size_t third = 0;
  for (std::size_t a = 0; a < 3; ++a)
    for (std::size_t c = a + 1; c < 3; ++c) {
      if (l[a].flavour != l[c].flavour || l[a].charge * l[c].charge >= 0) continue;
      const double m = invariant_mass<double>(l[a].pt, l[a].eta, l[a].phi, 0.0, l[c].pt, l[c].eta, l[c].phi, 0.0);
      if (pairs == 0 || std::fabs(m - kMassZ) < std::fabs(best_mass - kMassZ)) best_mass = m, third = 3 - a - c;
      ++pairs;
    }
  x[n_sfos_pairs] = pairs;
  present[m_sfos] = present[mt_3rd] = pairs > 0;
  x[m_sfos] = pairs > 0 ? best_mass : 0.0;
  x[mt_3rd] = pairs > 0 ? transverse_mass<double>(l[third].pt, l[third].phi, met, met_phi) : 0.0;
  x[met_] = met, x[met_phi_] = met_phi;

  const auto& jets = b.collection("jets");
  const auto &jpt = jets.member("pt").as<float>(), &jeta = jets.member("eta").as<float>();
  const auto& jb = jets.member("btag").as<int8_t>();
  int64_t counted = 0, tagged = 0;
  double sum_pt = 0;
  for (uint64_t k = jets.offsets[i]; k < jets.offsets[i + 1]; ++k) {
    if (!(double(jpt[k]) > kJetPtMin && std::fabs(double(jeta[k])) < kJetEtaMax)) continue;
    ++counted;
    tagged += jb[k] != 0;
    sum_pt += jpt[k];
  }
  x[n_jets] = double(counted), x[n_bjets] = double(tagged), x[ht_] = sum_pt;
  return passed;
}

}  // namespace

std::unique_ptr<FeatureSet> make_trilepton(const FeatureSetOptions& options) {
  return std::make_unique<Trilepton>(options);
}

}  // namespace bsmhunt::physics
