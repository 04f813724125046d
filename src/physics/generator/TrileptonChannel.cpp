// Channel "trilepton": three charged leptons (e, mu) at 13 TeV, the final state of
// analysis B (heavy neutral leptons N from W(*) -> l N, searched for with an
// autoencoder trained on the Standard Model only).
//
// A fast parametric generator, not a simulation: hard processes are reduced to
// their resonances (Breit-Wigner), decays are isotropic two-body decays boosted from
// rest frames (no spin correlations), systems get a falling transverse-momentum
// spectrum balanced by 1-3 recoil jets, and non-prompt leptons come from jets with
// a per-event rate (the sample's filter efficiency). The detector smears leptons,
// jets and the soft term; missing ET is built from the same objects: MET = true
// invisible momentum + sum over reconstructed objects of (true - measured) + soft
// term noise (muons beyond the spectrometer count as invisible).
//
// Every number is in the tables below with its source; docs/physics.md quotes them.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/generator/Channel.hpp"
#include "BackgroundShares.hpp"

namespace bsmhunt::physics {
namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kSqrtS = units::sqrt_s;

// ===========================================================================
// Standard Model (PDG 2022): masses and widths in GeV, branching ratios.
// ===========================================================================
constexpr double kMassZ = 91.1876, kWidthZ = 2.4952;
constexpr double kMassW = 80.377, kWidthW = 2.085;
constexpr double kMassTop = 172.5, kWidthTop = 1.42;
constexpr double kMassHiggs = 125.25;
constexpr double kMassB = 4.8;
constexpr double kFermiConstant = 1.1663788e-5;  // GeV^-2

constexpr double kBrWToLNu = 0.1086;   // per lepton flavour (universality average)
constexpr double kBrZToLL = 0.033658;  // per charged-lepton flavour
constexpr double kBrZToNuNu = 0.2000;  // three neutrino flavours
constexpr double kBrTauToE = 0.1782, kBrTauToMu = 0.1739;
constexpr double kBrTauToLeptons = kBrTauToE + kBrTauToMu;
// "l" means e, mu or a tau decaying to e or mu; hadronic taus are modelled as jets.
constexpr double kBrWToLepton = kBrWToLNu * (2 + kBrTauToLeptons);                     // 0.2554
constexpr double kBrZToLeptons = kBrZToLL * (2 + kBrTauToLeptons * kBrTauToLeptons);  // 0.07150
// Hadronic Z decays: b-bbar and c-cbar fractions R_b = 0.2163, R_c = 0.1721 (LEP).
constexpr double kZHadronicBFraction = 0.2163, kZHadronicCFraction = 0.1721;
// Hadronic W decays: half contain a c quark (W -> cs; Cabibbo-suppressed modes neglected).
constexpr double kWHadronicCharmFraction = 0.5;
// W+ : W- at 13 TeV (u/d valence ratio), also used for the heavy W* of the signal.
constexpr double kWPlusFraction = 0.58;

// ===========================================================================
// Non-prompt leptons ([E] estimates of the research notes): the probability that
// one event of the process has such a lepton (the filter efficiency of the sample),
// and how it shares the parent's momentum. Calibrated, as ATLAS/CMS WZ measurements
// find, to non-prompt ~ 10% and conversions ~ 5% of WZ in a WZ-like selection
// (3 leptons, SFOS pair within 15 GeV of m_Z, MET > 30 GeV): 11% and 4.6% here.
// ===========================================================================
// A light jet passing as an isolated lepton: 2e-4 per jet above 15 GeV (e 1.33e-4,
// mu 0.67e-4) times ~0.5 such jets per Z/ZZ event, so 1e-4 per event.
constexpr double kLightFakeRate = 1e-4, kLightFakeElectronShare = 2.0 / 3.0;
// A b-jet giving an isolated non-prompt lepton (semileptonic b decay): 1e-3 per b-jet.
constexpr double kBJetNonpromptRate = 1e-3;
// b -> l- X (primary) vs b -> c -> l+ X (cascade) among isolated non-prompt leptons.
constexpr double kNonpromptPrimaryFraction = 0.8;
// A photon converting into an electron that passes the conversion veto (0.5-2%).
constexpr double kPhotonConversionRate = 0.005;
// The fake takes x of the parent jet's momentum (isolated: most of it).
constexpr double kFakeMomentumFractionMin = 0.5, kFakeMomentumFractionMax = 0.95;
constexpr double kConversionMomentumFractionMin = 0.6;  // .. 1.0: the partner electron is lost
// Parent of a light fake: the leading recoil jet if it exceeds this, else a soft jet
// (pT = this + Lomax(kSoftFakeJetScale)) from the underlying event.
constexpr double kFakeSourcePtMin = 15.0, kSoftFakeJetScale = 25.0;

// ===========================================================================
// Production spectra: Lomax (Pareto II, shape 4), P(x > t) = (1 + t/s)^-4, mean s/3.
// ===========================================================================
constexpr double kBosonPtScale = 50.0;      // Z/gamma*, W*, Z gamma systems
constexpr double kDibosonPtScale = 60.0;    // WZ, ZZ
constexpr double kTtbarPtScale = 120.0;     // ttbar
constexpr double kTripletPtScale = 150.0;   // ttW, ttZ, VVV
constexpr double kDibosonMassScale = 350.0; // m_VV - m_V1 - m_V2
constexpr double kTtbarMassScale = 580.0;   // m_tt - 2 m_t
constexpr double kTripletMassScale = 500.0; // m_XYZ - sum of masses
constexpr double kZGammaMassScale = 60.0;   // m_Zgamma - m_Z (soft ISR photons)
constexpr double kPhotonPtMin = 15.0;       // generator cut of the Z gamma cross section

// Drell-Yan line shape for m_ll > 50 GeV: Breit-Wigner on [50, 200] plus a
// continuum dsigma/dm ~ 1/m^3 on [50, 3000] GeV (fraction below).
constexpr double kDrellYanMassMin = 50.0, kDrellYanResonanceMassMax = 200.0, kDrellYanContinuumMassMax = 3000.0;
constexpr double kDrellYanContinuumFraction = 0.05;
// Z gamma: half the photons from initial-state radiation, half radiated by a lepton
// of the Z decay (m_llgamma ~ m_Z); FSR virtuality m(l gamma) log-uniform in this range.
constexpr double kZGammaFsrFraction = 0.5;
constexpr double kFsrVirtualityMin = 5.0, kFsrVirtualityMax = 80.0;

// Recoil jets: the hadronic recoil (0.75-1.05 of the system pT) split into 1-3 jets.
constexpr double kRecoilFractionMin = 0.75, kRecoilFractionMax = 1.05;
constexpr double kRecoilSplitScale = 100.0;  // P(split) = h / (h + scale)
constexpr double kRecoilJetMinPt = 8.0;      // lighter pieces are part of the soft term
constexpr double kJetEtaCorrelation = 0.4, kJetEtaSpread = 3.0;

// ===========================================================================
// Detector (research notes section 5: ATLAS/CMS Run-2 performance papers)
// ===========================================================================
constexpr double kElectronEtaMax = 2.47, kMuonEtaMax = 2.5;
constexpr double kMuonLostEta = 2.7;  // beyond: no muon spectrometer, the muon is invisible
constexpr double kElectronStochastic = 0.10, kElectronConstant = 0.007;  // sigma_E/E = 10%/sqrt(E) (+) 0.7%
constexpr double kMuonResolution = 0.015, kMuonResolutionSlope = 1e-4;  // sigma/pT = 1.5% (+) 0.01% pT/GeV
constexpr double kElectronEfficiency = 0.85, kMuonEfficiency = 0.95;    // identification plateaus
constexpr double kElectronTurnOnStart = 0.70;  // efficiency fraction at 10 GeV, rising linearly to 1 at 20 GeV
constexpr double kLeptonPtMin = 10.0;          // stored (baseline) leptons
constexpr double kJetPtMin = 25.0, kJetEtaMax = 4.5;
constexpr double kJetNoise = 4.0, kJetStochastic = 0.75, kJetConstant = 0.04;  // N/E (+) S/sqrt(E) (+) C
constexpr double kJetMassFractionMin = 0.04, kJetMassFractionMax = 0.16;
constexpr double kBTagEtaMax = 2.5;
constexpr double kBTagEfficiency = 0.77, kCharmMistagRate = 0.18, kLightMistagRate = 0.008;  // ATLAS 77% WP
// Soft term: sum ET = min + scale x Exp(1) (pileup, underlying event), resolution
// sigma_x = sigma_y = kSoftResolution sqrt(sum ET) (0.5-0.7 sqrt(sum ET) measured).
constexpr double kSoftSumEtMin = 100.0, kSoftSumEtScale = 350.0, kSoftResolution = 0.7;

// --- Preselection: at least three baseline leptons (e or mu, pT > 10 GeV, in
// acceptance), the leading one above the single-lepton trigger plateau.
constexpr int kPreselectionLeptons = 3;
constexpr double kLeadingLeptonPtMin = 25.0;

// ===========================================================================
// Backgrounds
// ===========================================================================
// Bosons of a process whose decays give the prompt leptons (a top counts as its W).
struct Bosons {
  int w = 0, z = 0;
};

// Probability that the W and Z decays give at least three charged leptons:
// W -> "l" nu gives one, Z -> "ll" two.
constexpr double ipow(double x, int n) {
  double r = 1;
  for (int i = 0; i < n; ++i) r *= x;
  return r;
}
constexpr double binomial(int n, int k) {
  double r = 1;
  for (int i = 1; i <= k; ++i) r = r * double(n - k + i) / double(i);
  return r;
}
constexpr double probability_of_three_leptons(Bosons b) {
  double p = 0;
  for (int kw = 0; kw <= b.w; ++kw)
    for (int kz = 0; kz <= b.z; ++kz)
      if (kw + 2 * kz >= 3)
        p += binomial(b.w, kw) * ipow(kBrWToLepton, kw) * ipow(1 - kBrWToLepton, b.w - kw) * binomial(b.z, kz) *
             ipow(kBrZToLeptons, kz) * ipow(1 - kBrZToLeptons, b.z - kz);
  return p;
}

enum BackgroundId : int {
  kWZ,
  kZZ4l,
  kZZ2l2nuFake,
  kTtbarNonprompt,
  kTtW,
  kTtZ,
  kDrellYanFake,
  kZGammaConversion,
  kWWW,
  kWWZ,
  kWZZ,
  kZZZ,
  kNumBackgrounds
};

// Which lepton is not prompt: none, a jet faking one, a b-hadron decay, a photon conversion.
enum class ExtraLepton : uint8_t { none, light_fake, b_nonprompt, conversion };

struct BackgroundSpec {
  const char* name;
  uint32_t dsid;
  const char* process;        // group label for stacks
  const char* description;
  double inclusive_pb;        // 13 TeV inclusive cross section (all decays)
  double branching_ratio;     // into the generated final state
  double filter_efficiency;   // probability of the non-prompt lepton (1 for prompt processes)
  double negative_fraction;   // NLO-like events with weight_mc = -1
  ExtraLepton extra;
  Bosons prompt;              // for processes conditioned on >= 3 prompt leptons
  // Preselection acceptance (stored / generated) measured with this generator (2e4
  // stored events per sample); used only to share options.background_events.
  double preselection_acceptance;
};

// Inclusive cross sections (pb) and their sources (docs/physics.md):
constexpr double kXsWZ = 51.0;          // ATLAS measurement, EPJC 79 (2019) 535, arXiv:1902.05759
constexpr double kXsZZ = 17.2;          // CMS measurement, EPJC 78 (2018) 165, arXiv:1709.08601
constexpr double kXsTtbar = 831.76;     // NNLO+NNLL Top++2.0, arXiv:1303.6254
constexpr double kXsTtW = 0.601;        // NLO QCD+EW, LHC HXSWG YR4, arXiv:1610.07922
constexpr double kXsTtZ = 0.839;        // NLO QCD+EW, YR4
constexpr double kXsDrellYanPerFlavour = 1921.8;  // Z/gamma* -> ll, m_ll > 50 GeV, NNLO FEWZ (CMS)
constexpr double kXsZGammaPerFlavour = 117.9 / 3;  // Z gamma -> ll gamma, pT(gamma) > 15 GeV, aMC@NLO (CMS)
constexpr double kXsWWW = 0.2086, kXsWWZ = 0.1651, kXsWZZ = 0.05565, kXsZZZ = 0.01398;  // aMC@NLO (CMS)

constexpr BackgroundSpec kBackgrounds[kNumBackgrounds] = {
    {"wz_lvll", 930001, "diboson", "WZ -> l nu l l", kXsWZ, probability_of_three_leptons({1, 1}), 1.0, 0.10,
     ExtraLepton::none, {1, 1}, 0.392},
    {"zz_llll", 930002, "diboson", "ZZ -> l l l l (>= 3 reconstructed: one may be lost)", kXsZZ,
     probability_of_three_leptons({0, 2}), 1.0, 0.10, ExtraLepton::none, {0, 2}, 0.668},
    {"zz_llvv_fake", 930003, "nonprompt", "ZZ -> l l nu nu + a jet faking a lepton", kXsZZ,
     2 * kBrZToLeptons * kBrZToNuNu, kLightFakeRate, 0.10, ExtraLepton::light_fake, {}, 0.483},
    {"ttbar_nonprompt", 930004, "nonprompt", "ttbar -> b l nu b l nu + a non-prompt lepton from a b decay", kXsTtbar,
     kBrWToLepton * kBrWToLepton, 2 * kBJetNonpromptRate, 0.0, ExtraLepton::b_nonprompt, {}, 0.482},
    {"ttw_3l", 930005, "ttV", "ttW -> b l nu b l nu l nu", kXsTtW, probability_of_three_leptons({3, 0}), 1.0, 0.25,
     ExtraLepton::none, {3, 0}, 0.411},
    {"ttz_3l", 930006, "ttV", "ttZ -> >= 3 l (Z -> l l, one or two W -> l nu)", kXsTtZ,
     probability_of_three_leptons({2, 1}), 1.0, 0.25, ExtraLepton::none, {2, 1}, 0.500},
    {"dy_fake", 930007, "nonprompt", "Z/gamma* -> l l (m_ll > 50 GeV) + a jet faking a lepton",
     kXsDrellYanPerFlavour / kBrZToLL, kBrZToLeptons, kLightFakeRate, 0.15, ExtraLepton::light_fake, {}, 0.382},
    {"zgamma_conv", 930008, "conversion", "Z gamma -> l l gamma, gamma -> e (conversion)",
     kXsZGammaPerFlavour / kBrZToLL, kBrZToLeptons, kPhotonConversionRate, 0.20, ExtraLepton::conversion, {}, 0.363},
    {"www_3l", 930009, "triboson", "WWW -> 3 l", kXsWWW, probability_of_three_leptons({3, 0}), 1.0, 0.15,
     ExtraLepton::none, {3, 0}, 0.382},
    {"wwz_3l", 930010, "triboson", "WWZ -> >= 3 l", kXsWWZ, probability_of_three_leptons({2, 1}), 1.0, 0.15,
     ExtraLepton::none, {2, 1}, 0.467},
    {"wzz_3l", 930011, "triboson", "WZZ -> >= 3 l", kXsWZZ, probability_of_three_leptons({1, 2}), 1.0, 0.15,
     ExtraLepton::none, {1, 2}, 0.470},
    {"zzz_3l", 930012, "triboson", "ZZZ -> >= 3 l", kXsZZZ, probability_of_three_leptons({0, 3}), 1.0, 0.15,
     ExtraLepton::none, {0, 3}, 0.718},
};

// Sizing: stored events per background proportional to sqrt(expected events after
// the preselection), at least this share each; counts by largest remainder.
constexpr double kMinBackgroundShare = 0.01;

// ===========================================================================
// Signal: pp -> W(*) -> l N, N Majorana, mixing with one lepton flavour (e or mu)
// ===========================================================================
constexpr int kNumSignalMasses = 8;
constexpr double kSignalMasses[kNumSignalMasses] = {100, 150, 200, 300, 400, 500, 700, 1000};
// sigma_LO(pp -> W* -> l N) / |V|^2 in pb, both charges, one flavour: LO convolution
// with NNPDF3.1 NNLO (research notes, xsec_hnl.py; calibrated on W -> l nu).
constexpr double kSignalSigmaLoPb[kNumSignalMasses] = {24.9, 4.52, 1.54, 0.346, 0.116, 4.82e-2, 1.19e-2, 2.31e-3};
constexpr double kSignalKFactor = 1.17;  // NLO/LO, from sigma(W -> l nu) measured / LO (arXiv:1603.09222)
// Default |V_lN|^2: close to the current CMS limits (arXiv:2403.00100), so that the
// signal is at the edge of sensitivity; scale it with --signal-strength.
constexpr double kSignalMixing[kNumSignalMasses] = {1e-3, 2e-3, 4e-3, 1e-2, 2e-2, 3e-2, 8e-2, 0.3};
constexpr const char* kSignalFlavours[2] = {"e", "mu"};
constexpr uint32_t kSignalDsidBase = 940000;
constexpr int kSignalProcessBase = 1000;
constexpr int kNumSignals = 2 * kNumSignalMasses;
// The W* mass M = x m_N: density ~ (1 - r)^2 (1 + r/2) x^-5 (1 - M/sqrt(s))^5, r = 1/x^2,
// fitted to the quantiles of the LO dsigma/dM (within 5% for m_N = 100-1000 GeV).
constexpr double kWStarMassPower = 4.0, kWStarPdfPower = 5.0;

// Partial widths of a Majorana N per |V|^2 (Atre, Han, Pascoli, Zhang, arXiv:0901.3589):
// c = G_F m^3 / (8 sqrt(2) pi); l W (both charges) 2c (1-mu_W)^2 (1+2mu_W); nu Z c (1-mu_Z)^2 (1+2mu_Z);
// nu H c (1-mu_H)^2, mu_X = M_X^2 / m^2.
struct NeutrinoWidths {
  double lw = 0, nuz = 0, nuh = 0;
  double total() const { return lw + nuz + nuh; }
};
NeutrinoWidths neutrino_widths_per_mixing(double m) {
  const double c = kFermiConstant * m * m * m / (8 * std::sqrt(2.0) * kPi);
  auto mu = [m](double mass) { return mass * mass / (m * m); };
  NeutrinoWidths w;
  if (m > kMassW) w.lw = 2 * c * std::pow(1 - mu(kMassW), 2) * (1 + 2 * mu(kMassW));
  if (m > kMassZ) w.nuz = c * std::pow(1 - mu(kMassZ), 2) * (1 + 2 * mu(kMassZ));
  if (m > kMassHiggs) w.nuh = c * std::pow(1 - mu(kMassHiggs), 2);
  return w;
}

// ===========================================================================
// Random draws and kinematics (double precision)
// ===========================================================================
double lomax4(CounterRng& rng, double scale) { return scale * (1.0 / std::sqrt(std::sqrt(rng.uniform())) - 1.0); }
double triangular(CounterRng& rng) { return rng.uniform() + rng.uniform() - 1.0; }
double azimuth(CounterRng& rng) { return 2 * kPi * rng.uniform(); }
int random_sign(CounterRng& rng) { return rng.next_u32() & 1u ? 1 : -1; }
double weight_sign(CounterRng& rng, double negative_fraction) {
  return rng.uniform() < negative_fraction ? -1.0 : 1.0;
}

// Breit-Wigner restricted to [lo, hi], by inverse CDF.
struct BreitWigner {
  double mass = 0, half_width = 0, angle_lo = 0, angle_span = 0;
  BreitWigner() = default;
  BreitWigner(double m, double width, double lo, double hi)
      : mass(m),
        half_width(0.5 * width),
        angle_lo(std::atan((lo - m) / half_width)),
        angle_span(std::atan((hi - m) / half_width) - angle_lo) {}
  double operator()(CounterRng& rng) const {
    return mass + half_width * std::tan(angle_lo + angle_span * rng.uniform());
  }
  // The same shape with the upper edge lowered to `hi` (a daughter of a lighter parent).
  double below(CounterRng& rng, double hi) const {
    const double span = std::min(angle_span, std::atan((hi - mass) / half_width) - angle_lo);
    return mass + half_width * std::tan(angle_lo + span * rng.uniform());
  }
};
const BreitWigner kZLineShape{kMassZ, kWidthZ, kMassZ - 10 * kWidthZ, kMassZ + 10 * kWidthZ};
const BreitWigner kWLineShape{kMassW, kWidthW, kMassW - 10 * kWidthW, kMassW + 10 * kWidthW};
const BreitWigner kTopLineShape{kMassTop, kWidthTop, kMassTop - 10 * kWidthTop, kMassTop + 10 * kWidthTop};
const BreitWigner kDrellYanLineShape{kMassZ, kWidthZ, kDrellYanMassMin, kDrellYanResonanceMassMax};

double rapidity_max(double m) { return std::log(kSqrtS / m); }

// A system of mass m, transverse momentum pt at azimuth phi and rapidity y.
FourVector make_system(double m, double pt, double phi, double y) {
  const double mt = std::sqrt(m * m + pt * pt);
  return {pt * std::cos(phi), pt * std::sin(phi), mt * std::sinh(y), mt * std::cosh(y)};
}

double two_body_momentum(double m, double m1, double m2) {
  const double s = m * m, a = (m1 + m2) * (m1 + m2), b = (m1 - m2) * (m1 - m2);
  return std::sqrt(std::max(0.0, (s - a) * (s - b))) / (2 * m);
}

// Isotropic two-body decay of `parent` (mass m) into masses m1, m2, boosted to the lab.
void decay_two_body(CounterRng& rng, const FourVector& parent, double m, double m1, double m2, FourVector& d1,
                    FourVector& d2) {
  const double p = two_body_momentum(m, m1, m2);
  const double cos_t = 2 * rng.uniform() - 1, phi = azimuth(rng);
  const FourVector rest = FourVector::from_p_theta_phi_m(p, std::acos(cos_t), phi, m1);
  const double bx = parent.px / parent.e, by = parent.py / parent.e, bz = parent.pz / parent.e;
  d1 = rest.boosted(bx, by, bz);
  d2 = FourVector{-rest.px, -rest.py, -rest.pz, std::sqrt(p * p + m2 * m2)}.boosted(bx, by, bz);
}

// A produced system of total mass `m` (pT Lomax, rapidity triangular).
FourVector produce_system(CounterRng& rng, double m, double pt_scale) {
  const double pt = lomax4(rng, pt_scale);
  const double phi = azimuth(rng);
  return make_system(m, pt, phi, rapidity_max(m) * triangular(rng));
}

// Two particles of masses m1, m2 from a system of mass m1 + m2 + Lomax(mass_scale).
FourVector produce_pair(CounterRng& rng, double m1, double m2, double mass_scale, double pt_scale, FourVector& v1,
                        FourVector& v2) {
  const double m = m1 + m2 + lomax4(rng, mass_scale);
  const FourVector sys = produce_system(rng, m, pt_scale);
  decay_two_body(rng, sys, m, m1, m2, v1, v2);
  return sys;
}

// Three particles: the system decays to 1 + (23) with m23 uniform in its allowed
// range (a simplification of three-body phase space), then (23) -> 2 + 3.
FourVector produce_triplet(CounterRng& rng, const std::array<double, 3>& masses, double mass_scale, double pt_scale,
                           std::array<FourVector, 3>& v) {
  const double m = masses[0] + masses[1] + masses[2] + lomax4(rng, mass_scale);
  const FourVector sys = produce_system(rng, m, pt_scale);
  const double m23 = rng.uniform(masses[1] + masses[2], m - masses[0]);
  FourVector pair;
  decay_two_body(rng, sys, m, masses[0], m23, v[0], pair);
  decay_two_body(rng, pair, m23, masses[1], masses[2], v[1], v[2]);
  return sys;
}

// Visible fraction x of a tau -> l nu nu decay in the collinear limit (unpolarised):
// density (5 - 9x^2 + 4x^3)/3 on [0, 1], by rejection.
double draw_tau_visible_fraction(CounterRng& rng) {
  for (;;) {
    const double x = rng.uniform(), v = rng.uniform();
    if (5 * v < 5 - x * x * (9 - 4 * x)) return x;
  }
}

// ===========================================================================
// Event record while generating (fixed capacity: no allocation per attempt)
// ===========================================================================
enum class Flavour : uint8_t { electron, muon };
enum class JetFlavour : uint8_t { light, charm, bottom };

struct TruthLepton {
  FourVector p;
  int8_t charge;
  Flavour flavour;
  bool prompt;  // false: fake, non-prompt or conversion (its rate already includes the identification)
};
struct TruthJet {
  FourVector p;
  JetFlavour flavour;
};

struct Work {
  static constexpr int kMaxLeptons = 8, kMaxJets = 16;
  std::array<TruthLepton, kMaxLeptons> leptons;
  std::array<TruthJet, kMaxJets> jets;
  int n_leptons = 0, n_jets = 0;
  double inv_x = 0, inv_y = 0;  // true invisible momentum (neutrinos)

  void add_lepton(const FourVector& p, int charge, Flavour f, bool prompt = true) {
    if (n_leptons < kMaxLeptons) leptons[n_leptons++] = {p, int8_t(charge), f, prompt};
  }
  void add_jet(const FourVector& p, JetFlavour f) {
    if (n_jets < kMaxJets) jets[n_jets++] = {p, f};
  }
  void add_invisible(const FourVector& p) { inv_x += p.px, inv_y += p.py; }
};

// Charged-lepton kinds of W/Z decays: e, mu, or a tau that decays to e or mu.
enum class LeptonKind : uint8_t { e, mu, tau_e, tau_mu };

LeptonKind draw_tau_kind(CounterRng& rng) {
  return rng.uniform() < kBrTauToE / kBrTauToLeptons ? LeptonKind::tau_e : LeptonKind::tau_mu;
}
LeptonKind draw_w_lepton_kind(CounterRng& rng) {
  constexpr double p_e = kBrWToLNu / kBrWToLepton;
  const double u = rng.uniform();
  if (u < p_e) return LeptonKind::e;
  if (u < 2 * p_e) return LeptonKind::mu;
  return draw_tau_kind(rng);
}

// Adds a charged lepton of `kind`; a tau decays collinearly, its neutrinos taking 1 - x.
void add_charged_lepton(CounterRng& rng, Work& w, const FourVector& p, int charge, LeptonKind kind) {
  switch (kind) {
    case LeptonKind::e: return w.add_lepton(p, charge, Flavour::electron);
    case LeptonKind::mu: return w.add_lepton(p, charge, Flavour::muon);
    case LeptonKind::tau_e:
    case LeptonKind::tau_mu: break;
  }
  const double x = draw_tau_visible_fraction(rng);
  w.add_invisible((1 - x) * p);
  w.add_lepton(x * p, charge, kind == LeptonKind::tau_e ? Flavour::electron : Flavour::muon);
}

// W -> "l" nu (leptonic) or two quark jets (hadronic, including hadronic taus).
void decay_w(CounterRng& rng, Work& w, const FourVector& boson, double m, int charge, bool leptonic) {
  FourVector a, b;
  decay_two_body(rng, boson, m, 0, 0, a, b);
  if (leptonic) {
    w.add_invisible(b);
    add_charged_lepton(rng, w, a, charge, draw_w_lepton_kind(rng));
    return;
  }
  const bool charm = rng.uniform() < kWHadronicCharmFraction;
  w.add_jet(a, charm ? JetFlavour::charm : JetFlavour::light);
  w.add_jet(b, JetFlavour::light);
}

enum class ZMode : uint8_t { leptons, neutrinos, hadrons };
// A non-leptonic Z: neutrinos or hadrons in proportion to their branching ratios.
ZMode draw_non_leptonic_z(CounterRng& rng) {
  return rng.uniform() < kBrZToNuNu / (1 - kBrZToLeptons) ? ZMode::neutrinos : ZMode::hadrons;
}

void decay_z(CounterRng& rng, Work& w, const FourVector& boson, double m, ZMode mode) {
  FourVector a, b;
  if (mode == ZMode::neutrinos) return w.add_invisible(boson);
  decay_two_body(rng, boson, m, 0, 0, a, b);
  if (mode == ZMode::hadrons) {
    const double u = rng.uniform();
    const JetFlavour f = u < kZHadronicBFraction                          ? JetFlavour::bottom
                         : u < kZHadronicBFraction + kZHadronicCFraction ? JetFlavour::charm
                                                                          : JetFlavour::light;
    w.add_jet(a, f), w.add_jet(b, f);
    return;
  }
  // ee, mumu, or tautau with both taus leptonic.
  constexpr double p_ee = kBrZToLL / kBrZToLeptons;
  const double u = rng.uniform();
  LeptonKind k1 = LeptonKind::e, k2 = LeptonKind::e;
  if (u >= p_ee && u < 2 * p_ee) k1 = k2 = LeptonKind::mu;
  if (u >= 2 * p_ee) k1 = draw_tau_kind(rng), k2 = draw_tau_kind(rng);
  const int charge = random_sign(rng);
  add_charged_lepton(rng, w, a, charge, k1);
  add_charged_lepton(rng, w, b, -charge, k2);
}

// t -> W b (isotropic), then the W decay.
void decay_top(CounterRng& rng, Work& w, const FourVector& top, double m_top, int charge, bool leptonic) {
  const double m_w = kWLineShape.below(rng, m_top - kMassB);
  FourVector wb, b;
  decay_two_body(rng, top, m_top, m_w, kMassB, wb, b);
  w.add_jet(b, JetFlavour::bottom);
  decay_w(rng, w, wb, m_w, charge, leptonic);
}

// Leptonic/hadronic decisions of the W's and Z's of a process, conditioned on at
// least three charged leptons: one uniform picks the pattern from a table of the
// allowed patterns (the sample's branching ratio is their total probability).
struct DecayPattern {
  std::array<bool, 3> w_leptonic{};
  std::array<bool, 3> z_leptonic{};
};
class DecayTable {
 public:
  DecayTable() = default;
  explicit DecayTable(Bosons b) {
    const int n = b.w + b.z;
    double total = 0;
    for (uint32_t bits = 0; bits < (1u << n); ++bits) {
      DecayPattern p;
      double prob = 1;
      int leptons = 0;
      for (int i = 0; i < n; ++i) {
        const bool leptonic = (bits >> i) & 1u;
        const bool is_w = i < b.w;
        const double br = is_w ? kBrWToLepton : kBrZToLeptons;
        prob *= leptonic ? br : 1 - br;
        leptons += leptonic ? (is_w ? 1 : 2) : 0;
        (is_w ? p.w_leptonic[std::size_t(i)] : p.z_leptonic[std::size_t(i - b.w)]) = leptonic;
      }
      if (leptons < 3) continue;
      total += prob;
      patterns_.push_back(p);
      cumulative_.push_back(total);
    }
    for (double& c : cumulative_) c /= total;
  }
  const DecayPattern& draw(CounterRng& rng) const {
    const double u = rng.uniform();
    const auto k = std::size_t(std::lower_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin());
    return patterns_[std::min(k, patterns_.size() - 1)];
  }

 private:
  std::vector<DecayPattern> patterns_;
  std::vector<double> cumulative_;
};

// ISR jets recoiling against a system: a fraction h in [0.75, 1.05] of its pT is
// clustered into 1-3 jets (P(split) = h / (h + 100 GeV)); the leading one close to
// the recoil axis, the others wider, pseudorapidity correlated with the system's.
void add_recoil_jets(CounterRng& rng, Work& w, const FourVector& sys) {
  const double sys_pt = sys.pt();
  if (sys_pt * kRecoilFractionMax < kRecoilJetMinPt) return;
  const double h = sys_pt * rng.uniform(kRecoilFractionMin, kRecoilFractionMax);
  std::array<double, 3> share{1.0, 0.0, 0.0};
  const double p_split = h / (h + kRecoilSplitScale);
  if (rng.uniform() < p_split) {
    share[1] = 0.15 + 0.3 * rng.uniform();
    share[0] -= share[1];
    if (rng.uniform() < 0.5 * p_split) {
      share[2] = share[1] * (0.2 + 0.5 * rng.uniform());
      share[1] -= share[2];
    }
  }
  const double axis = std::atan2(-sys.py, -sys.px);
  const double y_sys = sys.rapidity();
  for (std::size_t i = 0; i < share.size(); ++i) {
    const double pt = share[i] * h;
    if (pt < kRecoilJetMinPt) continue;
    const double spread = i == 0 ? 0.3 : 1.2;
    const double phi = axis + spread * (2 * rng.uniform() - 1);
    const double eta = kJetEtaCorrelation * y_sys + kJetEtaSpread * triangular(rng);
    const double m = pt * rng.uniform(kJetMassFractionMin, kJetMassFractionMax);
    w.add_jet(FourVector::from_pt_eta_phi_m(pt, eta, phi, m), JetFlavour::light);
  }
}

// A light jet of the event fakes a lepton: the leading recoil jet if it is hard
// enough, else a soft jet of the underlying event; the fake takes x of its momentum
// and the rest stays a (usually sub-threshold) jet.
void add_light_fake(CounterRng& rng, Work& w, int first_recoil_jet) {
  int source = -1;
  for (int i = first_recoil_jet; i < w.n_jets; ++i)
    if (w.jets[i].p.pt() > kFakeSourcePtMin && (source < 0 || w.jets[i].p.pt() > w.jets[source].p.pt())) source = i;
  FourVector parent;
  if (source >= 0) {
    parent = w.jets[source].p;
  } else {
    const double pt = kFakeSourcePtMin + lomax4(rng, kSoftFakeJetScale);
    parent = FourVector::from_pt_eta_phi_m(pt, 2.5 * triangular(rng), azimuth(rng), 0.0);
  }
  const double x = rng.uniform(kFakeMomentumFractionMin, kFakeMomentumFractionMax);
  const Flavour f = rng.uniform() < kLightFakeElectronShare ? Flavour::electron : Flavour::muon;
  w.add_lepton(x * parent, random_sign(rng), f, false);
  if (source >= 0) w.jets[source].p = (1 - x) * parent;
}

// ===========================================================================
// Reconstruction and preselection
// ===========================================================================
// Distortions of the pseudo-data (GeneratorOptions::drawing_pseudo_data only).
struct DataDistortion {
  double met_scale = 1.0, jet_pt_scale = 1.0;
};

double electron_resolution(double e) {
  return std::sqrt(kElectronStochastic * kElectronStochastic / e + kElectronConstant * kElectronConstant);
}
double muon_resolution(double pt) {
  const double slope = kMuonResolutionSlope * pt;
  return std::sqrt(kMuonResolution * kMuonResolution + slope * slope);
}
double jet_resolution(double e) {
  return std::sqrt(kJetNoise * kJetNoise / (e * e) + kJetStochastic * kJetStochastic / e + kJetConstant * kJetConstant);
}
double electron_efficiency(double pt) {
  const double turn_on = std::min(1.0, kElectronTurnOnStart + (1 - kElectronTurnOnStart) * (pt - 10.0) / 10.0);
  return kElectronEfficiency * std::max(turn_on, 0.0);
}

template <typename T>
void insert_pt_ordered(std::vector<T>& v, const T& x) {
  v.push_back(x);
  for (std::size_t i = v.size() - 1; i > 0 && v[i - 1].pt < v[i].pt; --i) std::swap(v[i - 1], v[i]);
}

// Reconstructs the event and applies the preselection (leptons first: jets and the
// soft term are only drawn for events that pass). Returns false when it fails.
bool finish_event(CounterRng& rng, Work& w, bool preselection, const DataDistortion& data, RecoEvent& event) {
  double mis_x = 0, mis_y = 0, object_sumet = 0;  // sum of (true - measured) over objects, their pT
  int n_leptons = 0;
  double leading_pt = 0;
  for (int i = 0; i < w.n_leptons; ++i) {
    const TruthLepton& l = w.leptons[i];
    const double pt = l.p.pt(), eta = l.p.eta();
    const bool electron = l.flavour == Flavour::electron;
    if (!(std::fabs(eta) < (electron ? kElectronEtaMax : kMuonEtaMax))) {
      if (!electron && std::fabs(eta) > kMuonLostEta) mis_x += l.p.px, mis_y += l.p.py;
      continue;
    }
    const double sigma = electron ? electron_resolution(l.p.e) : muon_resolution(pt);
    const double response = std::max(0.0, 1 + sigma * rng.normal());
    const double efficiency = !l.prompt ? 1.0 : electron ? electron_efficiency(pt) : kMuonEfficiency;
    const bool identified = rng.uniform() < efficiency;
    const double reco_pt = response * pt;
    if (!identified || !(reco_pt > kLeptonPtMin)) continue;  // measured in the soft term
    mis_x += (1 - response) * l.p.px, mis_y += (1 - response) * l.p.py;
    object_sumet += reco_pt;
    ++n_leptons;
    leading_pt = std::max(leading_pt, reco_pt);
    insert_pt_ordered(electron ? event.electrons : event.muons,
                      Lepton{float(reco_pt), float(eta), float(l.p.phi()), l.charge});
  }
  if (preselection && !(n_leptons >= kPreselectionLeptons && leading_pt > kLeadingLeptonPtMin)) return false;

  for (int i = 0; i < w.n_jets; ++i) {
    const TruthJet& j = w.jets[i];
    const double e = j.p.e;
    if (!(e > 0)) continue;
    // Every jet draws its response and tag before the threshold, so that a distortion
    // moving a jet across it leaves the other jets' draws unchanged.
    const double response = std::max(0.0, 1 + jet_resolution(e) * rng.normal()) * data.jet_pt_scale;
    const double tag_draw = rng.uniform();
    const double pt = j.p.pt() * response, eta = j.p.eta();
    if (!(pt > kJetPtMin) || !(std::fabs(eta) < kJetEtaMax)) continue;
    const double tag_probability = j.flavour == JetFlavour::bottom  ? kBTagEfficiency
                                   : j.flavour == JetFlavour::charm ? kCharmMistagRate
                                                                    : kLightMistagRate;
    const bool btag = std::fabs(eta) < kBTagEtaMax && tag_draw < tag_probability;
    mis_x += (1 - response) * j.p.px, mis_y += (1 - response) * j.p.py;
    object_sumet += pt;
    const double m = response * std::sqrt(std::max(0.0, j.p.m2()));
    insert_pt_ordered(event.jets, Jet{float(pt), float(eta), float(j.p.phi()), float(m), int8_t(btag)});
  }

  const double soft_sumet = kSoftSumEtMin + kSoftSumEtScale * rng.exponential(1.0);
  const double sigma_soft = kSoftResolution * std::sqrt(soft_sumet);
  const double met_x = w.inv_x + mis_x + sigma_soft * rng.normal();
  const double met_y = w.inv_y + mis_y + sigma_soft * rng.normal();
  event.met = float(data.met_scale * std::hypot(met_x, met_y));
  event.met_phi = float(std::atan2(met_y, met_x));
  event.met_sumet = float(soft_sumet + object_sumet);
  event.met_truth = float(std::hypot(w.inv_x, w.inv_y));
  event.met_truth_phi = float(std::atan2(w.inv_y, w.inv_x));
  return true;
}

// ===========================================================================
// Precomputed model (built once per channel; generate() only reads it)
// ===========================================================================
enum class NeutrinoMode : uint8_t { lw_leptonic, lw_hadronic, nuz_leptonic };

struct SignalPoint {
  std::string name;
  Flavour flavour;
  double m_n, mixing, sigma_lo_per_mixing_pb, width;
  NeutrinoWidths widths;       // per |V|^2
  double br_generated, br_3l;  // N decays generated, and those giving >= 3 prompt leptons
  BreitWigner line_shape;
  std::array<double, 2> mode_cumulative;  // lW(-> l nu), lW(-> q q'), nuZ(-> l l)
  double cross_section_pb() const { return sigma_lo_per_mixing_pb * mixing * br_generated; }
};

struct Model {
  std::array<DecayTable, kNumBackgrounds> decays;
  std::vector<SignalPoint> signals;

  Model() {
    for (int i = 0; i < kNumBackgrounds; ++i)
      if (kBackgrounds[i].extra == ExtraLepton::none) decays[std::size_t(i)] = DecayTable(kBackgrounds[i].prompt);
    for (int f = 0; f < 2; ++f)
      for (int k = 0; k < kNumSignalMasses; ++k) {
        SignalPoint p;
        p.flavour = f == 0 ? Flavour::electron : Flavour::muon;
        p.m_n = kSignalMasses[k];
        p.mixing = kSignalMixing[k];
        p.sigma_lo_per_mixing_pb = kSignalSigmaLoPb[k];
        p.widths = neutrino_widths_per_mixing(p.m_n);
        p.width = p.mixing * p.widths.total();
        const double total = p.widths.total();
        const double br_lw = p.widths.lw / total, br_nuz = p.widths.nuz / total;
        // N -> nu H is not generated (it adds ~3% to the three-lepton rate, docs/physics.md).
        p.br_generated = br_lw + br_nuz * kBrZToLeptons;
        p.br_3l = br_lw * kBrWToLepton + br_nuz * kBrZToLeptons;
        p.mode_cumulative = {br_lw * kBrWToLepton / p.br_generated, br_lw / p.br_generated};
        // Wide N (|V|^2 = 0.3 at 1 TeV gives Gamma/m ~ 0.4): the line shape is cut at m/2 and 3m/2.
        p.line_shape = BreitWigner(p.m_n, std::max(p.width, 1e-6 * p.m_n), 0.5 * p.m_n, 1.5 * p.m_n);
        p.name = fmt::format("hnl_{}_m{}", kSignalFlavours[f], int(p.m_n));
        signals.push_back(std::move(p));
      }
  }
};

// ===========================================================================
// Processes
// ===========================================================================
std::array<double, 3> boson_masses(CounterRng& rng, const std::array<bool, 3>& is_w, int n) {
  std::array<double, 3> m{};
  for (int i = 0; i < n; ++i) m[std::size_t(i)] = is_w[std::size_t(i)] ? kWLineShape(rng) : kZLineShape(rng);
  return m;
}

// Processes conditioned on >= 3 prompt leptons: WZ, ZZ -> 4l, ttW, ttZ, VVV.
bool generate_prompt(const Model& model, BackgroundId id, bool preselection, const DataDistortion& data,
                     CounterRng& rng, RecoEvent& event) {
  const BackgroundSpec& spec = kBackgrounds[id];
  event.weight_mc = weight_sign(rng, spec.negative_fraction);
  const DecayPattern& pattern = model.decays[std::size_t(id)].draw(rng);
  Work w;
  FourVector sys;
  if (id == kTtW || id == kTtZ) {
    // Tops first (pattern W slots 0 and 1), then the associated boson.
    const bool z = id == kTtZ;
    const std::array<double, 3> masses{kTopLineShape(rng), kTopLineShape(rng), z ? kZLineShape(rng) : kWLineShape(rng)};
    std::array<FourVector, 3> v;
    sys = produce_triplet(rng, masses, kTripletMassScale, kTripletPtScale, v);
    decay_top(rng, w, v[0], masses[0], +1, pattern.w_leptonic[0]);
    decay_top(rng, w, v[1], masses[1], -1, pattern.w_leptonic[1]);
    if (z) decay_z(rng, w, v[2], masses[2], pattern.z_leptonic[0] ? ZMode::leptons : draw_non_leptonic_z(rng));
    else decay_w(rng, w, v[2], masses[2], random_sign(rng), pattern.w_leptonic[2]);
  } else {
    const Bosons b = spec.prompt;
    const int n = b.w + b.z;
    std::array<bool, 3> is_w{};
    for (int i = 0; i < b.w; ++i) is_w[std::size_t(i)] = true;
    const std::array<double, 3> masses = boson_masses(rng, is_w, n);
    std::array<FourVector, 3> v;
    if (n == 2) {
      sys = produce_pair(rng, masses[0], masses[1], kDibosonMassScale, kDibosonPtScale, v[0], v[1]);
    } else {
      sys = produce_triplet(rng, masses, kTripletMassScale, kTripletPtScale, v);
    }
    // W charges: a lone W takes the 13 TeV W+ : W- ratio; in WWW two W's have opposite
    // charges (W+ W- W+/-), in WWZ they are a W+ W- pair.
    int w_charge = rng.uniform() < kWPlusFraction ? 1 : -1;
    for (int i = 0; i < n; ++i) {
      const auto k = std::size_t(i);
      if (is_w[k]) {
        decay_w(rng, w, v[k], masses[k], w_charge, pattern.w_leptonic[k]);
        w_charge = -w_charge;
      } else {
        const bool leptonic = pattern.z_leptonic[std::size_t(i - b.w)];
        decay_z(rng, w, v[k], masses[k], leptonic ? ZMode::leptons : draw_non_leptonic_z(rng));
      }
    }
  }
  add_recoil_jets(rng, w, sys);
  return finish_event(rng, w, preselection, data, event);
}

// ttbar -> b l nu b l nu with a non-prompt lepton from one of the b's: the lepton
// takes x of the b momentum, a neutrino part of the rest, the b-jet keeps the remainder.
bool generate_ttbar_nonprompt(bool preselection, const DataDistortion& data, CounterRng& rng, RecoEvent& event) {
  event.weight_mc = weight_sign(rng, kBackgrounds[kTtbarNonprompt].negative_fraction);
  Work w;
  const double m1 = kTopLineShape(rng), m2 = kTopLineShape(rng);
  FourVector t1, t2;
  const FourVector sys = produce_pair(rng, m1, m2, kTtbarMassScale, kTtbarPtScale, t1, t2);
  decay_top(rng, w, t1, m1, +1, true);
  const int first_b = 0;  // decay_top adds the b-jet first
  decay_top(rng, w, t2, m2, -1, true);
  const int second_b = 1;
  // The b of the t (charge +1) is a b quark: b -> l- (primary) or b -> c -> l+ (cascade).
  const bool from_top = rng.uniform() < 0.5;
  const int b_index = from_top ? first_b : second_b;
  const int b_quark_sign = from_top ? -1 : +1;  // b from t, b-bar from t-bar
  const int charge = rng.uniform() < kNonpromptPrimaryFraction ? b_quark_sign : -b_quark_sign;
  const FourVector b = w.jets[b_index].p;
  const double x = rng.uniform(kFakeMomentumFractionMin, kFakeMomentumFractionMax);
  const double nu = (1 - x) * rng.uniform(0.2, 0.6);
  w.add_lepton(x * b, charge, rng.uniform() < 0.5 ? Flavour::electron : Flavour::muon, false);
  w.add_invisible(nu * b);
  w.jets[b_index].p = (1 - x - nu) * b;
  add_recoil_jets(rng, w, sys);
  return finish_event(rng, w, preselection, data, event);
}

// Z/gamma* -> l l + a fake, and ZZ -> l l nu nu + a fake.
bool generate_light_fake(BackgroundId id, bool preselection, const DataDistortion& data, CounterRng& rng,
                         RecoEvent& event) {
  event.weight_mc = weight_sign(rng, kBackgrounds[id].negative_fraction);
  Work w;
  FourVector sys;
  if (id == kDrellYanFake) {
    double m;
    if (rng.uniform() < kDrellYanContinuumFraction) {
      // dsigma/dm ~ 1/m^3 by inverse CDF on [min, max].
      const double r = kDrellYanMassMin / kDrellYanContinuumMassMax;
      m = kDrellYanMassMin / std::sqrt(r * r + (1 - r * r) * rng.uniform());
    } else {
      m = kDrellYanLineShape(rng);
    }
    sys = produce_system(rng, m, kBosonPtScale);
    decay_z(rng, w, sys, m, ZMode::leptons);
  } else {
    const double m1 = kZLineShape(rng), m2 = kZLineShape(rng);
    FourVector z1, z2;
    sys = produce_pair(rng, m1, m2, kDibosonMassScale, kDibosonPtScale, z1, z2);
    decay_z(rng, w, z1, m1, ZMode::leptons);
    decay_z(rng, w, z2, m2, ZMode::neutrinos);
  }
  const int first_recoil_jet = w.n_jets;
  add_recoil_jets(rng, w, sys);
  add_light_fake(rng, w, first_recoil_jet);
  return finish_event(rng, w, preselection, data, event);
}

// Z gamma -> l l gamma with the photon converting into one electron that takes x of
// its momentum. The photon is from initial-state radiation (a Z gamma pair) or
// radiated by a lepton of the Z decay (Z -> l l*, l* -> l gamma, m(l gamma)
// log-uniform): then m(l l gamma) is the Z mass. Configurations below the generator
// cut pT(gamma) > 15 GeV are redrawn: they are outside the sample's cross section.
bool generate_zgamma_conversion(bool preselection, const DataDistortion& data, CounterRng& rng, RecoEvent& event) {
  event.weight_mc = weight_sign(rng, kBackgrounds[kZGammaConversion].negative_fraction);
  Work w;
  FourVector sys, photon;
  const bool fsr = rng.uniform() < kZGammaFsrFraction;
  for (int attempt = 0;; ++attempt) {
    w = Work{};
    const double m_z = kZLineShape(rng);
    if (fsr) {
      sys = produce_system(rng, m_z, kBosonPtScale);
      const double virtuality =
          kFsrVirtualityMin * std::pow(kFsrVirtualityMax / kFsrVirtualityMin, rng.uniform());
      FourVector lepton, radiator, radiated;
      decay_two_body(rng, sys, m_z, 0, virtuality, lepton, radiator);
      decay_two_body(rng, radiator, virtuality, 0, 0, radiated, photon);
      const int charge = random_sign(rng);
      const Flavour f = rng.uniform() < 0.5 ? Flavour::electron : Flavour::muon;
      w.add_lepton(lepton, charge, f);
      w.add_lepton(radiated, -charge, f);
    } else {
      FourVector z;
      sys = produce_pair(rng, m_z, 0, kZGammaMassScale, kBosonPtScale, z, photon);
      decay_z(rng, w, z, m_z, ZMode::leptons);
    }
    if (photon.pt() > kPhotonPtMin) break;
    if (attempt > 10'000) throw InternalError("trilepton: no Z gamma configuration passes pT(gamma) > 15 GeV");
  }
  const double x = rng.uniform(kConversionMomentumFractionMin, 1.0);
  w.add_lepton(x * photon, random_sign(rng), Flavour::electron, false);
  add_recoil_jets(rng, w, sys);
  return finish_event(rng, w, preselection, data, event);
}

// The W* mass ratio x = M / m_N (see kWStarMassPower): proposal x^-5 (x = u^-1/4),
// accepted with (1 - r)^2 (1 + r/2) (1 - M/sqrt(s))^5.
double draw_wstar_mass_ratio(CounterRng& rng, double m_n) {
  for (;;) {
    const double x = std::pow(rng.uniform(), -1.0 / kWStarMassPower);
    const double r = 1.0 / (x * x);
    const double reach = 1 - m_n * x / kSqrtS;
    if (reach <= 0) continue;
    if (rng.uniform() < (1 - r) * (1 - r) * (1 + 0.5 * r) * std::pow(reach, kWStarPdfPower)) return x;
  }
}

// pp -> W* -> l N: the W* mass above m_N, isotropic decays; N (Majorana) -> l W
// with either lepton charge, or nu Z.
bool generate_signal(const SignalPoint& p, bool preselection, const DataDistortion& data, CounterRng& rng,
                     RecoEvent& event) {
  event.weight_mc = 1.0;
  Work w;
  const double m_n = p.line_shape(rng);
  const double m = m_n * draw_wstar_mass_ratio(rng, m_n);
  const FourVector sys = produce_system(rng, m, kBosonPtScale);
  FourVector prompt, neutrino;
  decay_two_body(rng, sys, m, 0, m_n, prompt, neutrino);
  const int w_star_charge = rng.uniform() < kWPlusFraction ? 1 : -1;
  w.add_lepton(prompt, w_star_charge, p.flavour);
  const double u = rng.uniform();
  const NeutrinoMode mode = u < p.mode_cumulative[0]   ? NeutrinoMode::lw_leptonic
                            : u < p.mode_cumulative[1] ? NeutrinoMode::lw_hadronic
                                                       : NeutrinoMode::nuz_leptonic;
  if (mode == NeutrinoMode::nuz_leptonic) {
    const double m_z = kZLineShape.below(rng, m_n);
    FourVector nu, z;
    decay_two_body(rng, neutrino, m_n, 0, m_z, nu, z);
    w.add_invisible(nu);
    decay_z(rng, w, z, m_z, ZMode::leptons);
  } else {
    const double m_w = kWLineShape.below(rng, m_n);
    FourVector lepton, boson;
    decay_two_body(rng, neutrino, m_n, 0, m_w, lepton, boson);
    const int charge = random_sign(rng);  // Majorana: l- W+ and l+ W- equally often
    w.add_lepton(lepton, charge, p.flavour);
    decay_w(rng, w, boson, m_w, -charge, mode == NeutrinoMode::lw_leptonic);
  }
  add_recoil_jets(rng, w, sys);
  return finish_event(rng, w, preselection, data, event);
}

// ===========================================================================
// Channel
// ===========================================================================
// Knobs of --parameter: the pseudo-data distortions (docs/physics.md).
constexpr const char* kDataMetScale = "data_met_scale";
constexpr const char* kDataJetPtScale = "data_jet_pt_scale";
constexpr const char* kDataFakeRateScale = "data_fake_rate_scale";

bool is_fake_process(int process) {
  return process >= 0 && process < kNumBackgrounds &&
         (kBackgrounds[process].extra == ExtraLepton::light_fake ||
          kBackgrounds[process].extra == ExtraLepton::b_nonprompt);
}

class TrileptonChannel final : public Channel {
 public:
  std::string name() const override { return "trilepton"; }
  std::string description() const override {
    return "three leptons at 13 TeV (analysis B, heavy neutral leptons): WZ, ZZ, ttbar/Z+jets/ZZ with a non-prompt "
           "lepton, Z gamma conversions, ttW, ttZ, tribosons, and 16 W -> l N signals (e/mu x m_N 100-1000 GeV); "
           "preselection: at least three leptons with pT > 10 GeV, the leading above 25 GeV";
  }
  RecoContent content() const override { return {.leptons = true, .jets = true, .large_jets = false}; }

  std::vector<SampleDefinition> samples(const GeneratorOptions& options) const override {
    check_parameters(options);
    const double lumi_ipb = options.lumi_ifb * units::invfb;
    std::vector<SampleDefinition> out;
    out.reserve(kNumBackgrounds + kNumSignals);
    const auto counts = background_counts(options);
    for (int i = 0; i < kNumBackgrounds; ++i) {
      const BackgroundSpec& b = kBackgrounds[i];
      SampleDefinition s;
      s.info.name = b.name;
      s.info.dsid = b.dsid;
      s.info.process = b.process;
      s.info.role = Role::background;
      s.info.cross_section_pb = b.inclusive_pb * b.branching_ratio;
      s.info.k_factor = 1.0;
      s.info.filter_efficiency = b.filter_efficiency;
      s.info.parameters = {{"description", std::string(b.description)},
                           {"inclusive_cross_section_pb", b.inclusive_pb},
                           {"branching_ratio", b.branching_ratio},
                           {"negative_weight_fraction", b.negative_fraction},
                           {"nonprompt_lepton", std::string(extra_lepton_name(b.extra))}};
      s.n_events = counts[std::size_t(i)];
      s.process = i;
      s.expected_events_hint = s.info.cross_section_pb * s.info.filter_efficiency * lumi_ipb;
      out.push_back(std::move(s));
    }
    for (int i = 0; i < kNumSignals; ++i) {
      const SignalPoint& p = model_.signals[std::size_t(i)];
      SampleDefinition s;
      s.info.name = p.name;
      s.info.dsid = kSignalDsidBase + uint32_t(i);
      s.info.process = "heavy_neutrino";
      s.info.role = Role::signal;
      s.info.cross_section_pb = p.cross_section_pb();
      s.info.k_factor = kSignalKFactor;
      s.info.parameters = {
          {"m_N_GeV", p.m_n},
          {"flavour", std::string(kSignalFlavours[p.flavour == Flavour::electron ? 0 : 1])},
          {"mixing_squared", p.mixing},
          {"sigma_lo_per_mixing_pb", p.sigma_lo_per_mixing_pb},
          {"width_N_GeV", p.width},
          {"br_N_to_lW", p.widths.lw / p.widths.total()},
          {"br_N_to_nuZ", p.widths.nuz / p.widths.total()},
          {"br_N_to_nuH", p.widths.nuh / p.widths.total()},
          {"branching_ratio", p.br_generated},
          {"branching_ratio_3l", p.br_3l},
          {"cross_section_3l_pb", p.sigma_lo_per_mixing_pb * p.mixing * kSignalKFactor * p.br_3l},
          {"decays", std::string("N -> l W (W -> l nu or q q'), N -> nu Z (Z -> l l); Majorana; N -> nu H not "
                                 "generated")}};
      s.n_events = options.signal_events;
      s.process = kSignalProcessBase + i;
      s.expected_events_hint = s.info.cross_section_pb * s.info.k_factor * lumi_ipb;
      out.push_back(std::move(s));
    }
    return out;
  }

  bool generate(const SampleDefinition& sample, const GeneratorOptions& options, CounterRng& rng,
                RecoEvent& event) const override {
    DataDistortion data;
    if (options.drawing_pseudo_data) {
      data.met_scale = options.parameter(kDataMetScale, 1.0);
      data.jet_pt_scale = options.parameter(kDataJetPtScale, 1.0);
    }
    const bool preselection = options.preselection;
    const int process = sample.process;
    if (process >= kSignalProcessBase && process < kSignalProcessBase + kNumSignals)
      return generate_signal(model_.signals[std::size_t(process - kSignalProcessBase)], preselection, data, rng,
                             event);
    switch (process) {
      case kTtbarNonprompt: return generate_ttbar_nonprompt(preselection, data, rng, event);
      case kDrellYanFake:
      case kZZ2l2nuFake: return generate_light_fake(BackgroundId(process), preselection, data, rng, event);
      case kZGammaConversion: return generate_zgamma_conversion(preselection, data, rng, event);
      case kWZ:
      case kZZ4l:
      case kTtW:
      case kTtZ:
      case kWWW:
      case kWWZ:
      case kWZZ:
      case kZZZ: return generate_prompt(model_, BackgroundId(process), preselection, data, rng, event);
      default:
        throw InternalError(
            fmt::format("trilepton: sample '{}' has unknown process id {}", sample.info.name, process));
    }
  }

  // Fake and non-prompt processes weigh data_fake_rate_scale in the pseudo-data mix.
  double data_yield_scale(const SampleDefinition& sample, const GeneratorOptions& options) const override {
    return is_fake_process(sample.process) ? options.parameter(kDataFakeRateScale, 1.0) : 1.0;
  }

 private:
  static const char* extra_lepton_name(ExtraLepton e) {
    switch (e) {
      case ExtraLepton::none: return "none";
      case ExtraLepton::light_fake: return "light-jet fake";
      case ExtraLepton::b_nonprompt: return "b-hadron decay";
      case ExtraLepton::conversion: return "photon conversion";
    }
    return "";
  }

  static void check_parameters(const GeneratorOptions& options) {
    const std::vector<std::string> known = {kDataMetScale, kDataJetPtScale, kDataFakeRateScale};
    for (const auto& [key, value] : options.parameters) {
      if (std::find(known.begin(), known.end(), key) == known.end())
        throw InputError(fmt::format("--parameter {}: the trilepton channel has no such parameter{}; it knows {}", key,
                                     did_you_mean(key, known), join(known, ", ")));
      const bool fake = key == kDataFakeRateScale;
      if (!std::isfinite(value) || value < 0 || (!fake && value == 0))
        throw InputError(fmt::format("--parameter {}={:g}: must be a finite number {} 0", key, value,
                                     fake ? ">=" : ">"));
    }
  }

  // Shares of options.background_events (see kMinBackgroundShare).
  static std::vector<uint64_t> background_counts(const GeneratorOptions& options) {
    const double lumi_ipb = options.lumi_ifb * units::invfb;
    std::vector<double> yields(kNumBackgrounds);
    for (int i = 0; i < kNumBackgrounds; ++i) {
      const BackgroundSpec& b = kBackgrounds[i];
      const double acceptance = options.preselection ? b.preselection_acceptance : 1.0;
      yields[std::size_t(i)] = b.inclusive_pb * b.branching_ratio * b.filter_efficiency * lumi_ipb * acceptance;
    }
    return background_event_counts(yields, options.background_events, kMinBackgroundShare);
  }

  Model model_;
};

}  // namespace

std::unique_ptr<Channel> make_trilepton_channel() { return std::make_unique<TrileptonChannel>(); }

}  // namespace bsmhunt::physics
