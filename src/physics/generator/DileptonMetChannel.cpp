// Channel "dilepton_met": dilepton + missing transverse momentum at 13 TeV, the
// final state of analysis A (mono-Z' dark matter, ATLAS-style, 139 fb^-1).
//
// A fast parametric generator, not a simulation: hard processes are reduced to
// their resonances (Breit-Wigner), two-body decays boosted from rest frames,
// falling transverse-momentum spectra with jets recoiling against them, and a
// detector model with Gaussian resolutions plus non-Gaussian tails in the jet
// response and the soft term. Missing ET is built consistently from the same
// objects: MET = true invisible momentum + sum over reconstructed objects of
// (true - measured) + soft-term noise (lost muons count as invisible).
//
// Every number of the model is in the tables below; docs/physics.md quotes them.
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
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/physics/generator/Channel.hpp"
#include "bsmhunt/physics/generator/DileptonMetDetector.hpp"
#include "BackgroundShares.hpp"

namespace bsmhunt::physics {
namespace {

// ===========================================================================
// Constants (GeV, pb). Sources: PDG 2022 (masses, widths, branching ratios),
// LHC 13 TeV cross sections (ATLAS/CMS measurements and NNLO predictions).
// ===========================================================================
constexpr float kSqrtS = float(units::sqrt_s);

// --- Standard Model ---
constexpr float kMassZ = 91.1876f, kWidthZ = 2.4952f;
constexpr float kMassW = 80.379f, kWidthW = 2.085f;
constexpr float kMassTop = 172.5f, kWidthTop = 1.42f;
constexpr float kMassB = 4.8f;
constexpr double kBrZToLL = 0.03366;   // per charged-lepton flavour
constexpr double kBrZToNuNu = 0.2000;  // three neutrino flavours
constexpr double kBrWToLNu = 0.1086;   // per lepton flavour (universality average)
constexpr double kBrTauToE = 0.1782, kBrTauToMu = 0.1739;
constexpr double kBrTauToLeptons = kBrTauToE + kBrTauToMu;
// "l" in the samples below means e, mu, or a tau decaying to e or mu: hadronic taus
// never give two signal leptons in this model (no tau-jet -> lepton fakes), so that
// part of the usual 0.105 "dilepton" ttbar/WW branching ratio is not generated.
constexpr double kBrWToLepton = kBrWToLNu * (2 + kBrTauToLeptons);                     // 0.2554
constexpr double kBrZToLeptons = kBrZToLL * (2 + kBrTauToLeptons * kBrTauToLeptons);  // 0.07149
constexpr double kBrTauTauToLeptons = kBrTauToLeptons * kBrTauToLeptons;              // 0.1240

// --- Inclusive 13 TeV cross sections (pb) ---
constexpr double kXsDrellYanPerFlavour = 2000.0;  // Z/gamma* -> ll, m_ll > 40 GeV (NNLO ~ 2.0 nb)
constexpr double kXsDrellYanInclusive = kXsDrellYanPerFlavour / kBrZToLL;  // all Z/gamma* decays
constexpr double kXsTtbar = 832.0;                // NNLO+NNLL, m_t = 172.5 GeV
constexpr double kXsWW = 119.0, kXsWZ = 47.0, kXsZZ = 16.5;  // NNLO (WW), NLO (WZ, ZZ)
constexpr double kXsWInclusive = 190000.0;       // pp -> W+/W- (20.6 nb per lepton flavour / BR)
constexpr double kFakeLeptonRate = 1e-3;         // P(a jet of a W+jets event passes as a signal lepton)

// --- Drell-Yan line shape ---
constexpr float kDrellYanMassMin = 40.0f;
constexpr float kDrellYanResonanceMassMax = 200.0f;  // BW tail beyond is negligible
constexpr float kDrellYanContinuumMassMax = 3000.0f;
// Fraction of events (m_ll > 40 GeV) from the gamma* continuum. The continuum is
// dsigma/dm ~ 1/m^3: the partonic 1/m^2 steepened by the falling parton luminosity
// (a pure 1/m^2 tail would put 12x more events above 500 GeV; 1/m^3 is still a few
// times above the measured high-mass Drell-Yan, a conservative background).
constexpr float kDrellYanContinuumFraction = 0.10f;

// --- Production spectra: Lomax (Pareto II, shape 4) in pT, P(pT > x) = (1 + x/s)^-4,
// median 0.19 s, mean s/3. For Z: P(pT>30) = 15%, P(pT>100) = 1.2%, P(pT>200) = 0.16%,
// close to the measured 13 TeV Z pT spectrum.
constexpr float kBosonPtScale = 50.0f;    // Z/gamma*, W
constexpr float kTtbarPtScale = 120.0f;   // ttbar system (mean 40 GeV)
constexpr float kDibosonPtScale = 60.0f;  // WW, WZ, ZZ system
constexpr float kSignalIsrPtScale = 50.0f;
constexpr float kTtbarMassScale = 580.0f;    // m_tt - 2 m_t (mean m_tt ~ 540 GeV)
constexpr float kDibosonMassScale = 350.0f;  // m_VV - m_V1 - m_V2
// Rapidity of a produced system of mass m: triangular on [-y_max, y_max],
// y_max = ln(sqrt(s)/m) (4.96 for the Z: sigma_y ~ 2).

// --- Recoil jets: the hadronic recoil (a fraction of the system pT, the rest is
// unclustered) split into 1-3 jets around the recoil axis.
constexpr float kRecoilFractionMin = 0.75f, kRecoilFractionMax = 1.05f;
constexpr float kRecoilSplitScale = 100.0f;  // P(split) = h / (h + scale) for recoil pT h
constexpr float kRecoilJetMinPt = 8.0f;      // lighter jets can never pass 20 GeV: soft term
constexpr float kJetEtaCorrelation = 0.4f, kJetEtaSpread = 3.0f;

// --- W helicity in top decays (NNLO QCD): longitudinal and left-handed fractions.
constexpr float kTopWLongitudinal = 0.70f;

// --- Detector ---
constexpr float kElectronEtaMax = 2.47f, kMuonEtaMax = 2.5f;
constexpr float kMuonLostEta = 2.7f;  // beyond: no muon spectrometer, the muon is invisible
constexpr float kElectronResolution = 0.02f;                       // sigma/pT
constexpr float kMuonResolution = 0.02f, kMuonResolutionSlope = 1e-4f;  // sigma/pT = 2% (+) 0.01% pT/GeV
constexpr float kLeptonPtMin = 10.0f;                              // stored (baseline) leptons
constexpr float kJetPtMin = 20.0f, kJetEtaMax = 4.5f;
constexpr float kJetStochastic = 0.6f, kJetConstant = 0.05f;  // sigma/E = 0.6/sqrt(E) (+) 5%
constexpr float kJetTailProbability = 0.03f;  // response 1 - x, x = u1 u2 (mean 0.25): lost energy
constexpr float kJetMassFractionMin = 0.04f, kJetMassFractionMax = 0.16f;
constexpr float kBTagEtaMax = 2.5f, kBTagEfficiency = 0.77f, kLightMistagRate = 0.01f;
// Soft term: sum ET of everything not in objects (pileup, underlying event) and its
// resolution sigma_x = sigma_y = 0.5 sqrt(sum ET). With probability kSoftTailProbability
// its magnitude is instead Lomax(4, kSoftTailScale) (mean 200 GeV): the rare, hard fake
// MET of mismeasured jets, punch-through and non-collision background that event cleaning
// leaves. Both numbers are calibrated, not derived: they make Drell-Yan give the thesis'
// background after MET > 50 GeV and after the cut-and-count (docs/physics.md,
// "Calibration to the thesis' yields"); the Gaussian core alone gives 0.36 M of the
// 0.6 M Drell-Yan events per channel after the preselection and ~13 of the ~100 after
// the cuts.
constexpr float kSoftSumEtMin = 100.0f, kSoftSumEtScale = 350.0f;  // sum ET = min + scale * Exp(1)
constexpr float kSoftResolution = 0.5f;
constexpr float kSoftTailProbability = 0.0025f, kSoftTailScale = 600.0f;
// The tail is drawn when the top byte of a draw is zero (1/256) and a second draw
// passes: this bounds the probability.
static_assert(kSoftTailProbability * 256 <= 1);
constexpr const char* kMetTailCalibration =
    "soft-term fake-MET tail: probability 0.0025, Lomax(4, 600 GeV), calibrated to the thesis' background after "
    "MET > 50 GeV and after the cut-and-count (Tables 5.4, 5.5)";

// --- Generator-level slices of Drell-Yan (docs/physics.md, "Sliced Drell-Yan") ---
// Only 0.21% of Drell-Yan ee/mumu attempts pass the preselection: 40% through the
// soft-term tail, 57% through a core noise above 40 GeV, 3% through a hard recoil that is
// mismeasured (boson pT > 60 GeV) or TeV muons of the continuum. With the preselection on,
// each attempt is drawn from one of five slices of (soft-term noise n, boson pT, m_ll)
// with probability q_k instead of its true probability P_k, inside the slice from the
// exact conditional distribution, and weighs P_k / q_k: unbiased (sum_of_weights keeps
// counting every attempt, and its expectation per attempt is sum_k q_k P_k/q_k = 1).
enum DrellYanSlice : int { kCoreLowPtLight, kCoreLowPtHeavy, kCoreHighPt, kCoreHardNoise, kTail, kNumSlices };
constexpr float kSliceNoise = 40.0f;    // GeV: the core's noise below (slices 0-2) or above (3)
constexpr float kSliceBosonPt = 60.0f;  // GeV: the low-noise core split at this boson pT
// GeV: and the low-pT part at this Z/gamma* mass (TeV muons mismeasured by 5-10%):
// the Breit-Wigner ends here, only the continuum reaches above.
constexpr float kSliceMass = 200.0f;
// The q_k: for ee/mumu (ESS 0.93 of the stored events, 19 attempts per stored event
// instead of 470) and for tautau, whose leptons from tau decays make it pass through other
// slices (ESS 0.8, 110 attempts instead of 430). Measured on 400 000 (100 000) stored events.
using SliceProposal = std::array<double, kNumSlices>;
constexpr SliceProposal kSliceProposalLight = {0.30, 0.06, 0.33, 0.25, 0.06};
constexpr SliceProposal kSliceProposalTauTau = {0.75, 0.015, 0.17, 0.05, 0.015};
constexpr const char* kSliceNames[kNumSlices] = {
    "core n < 40 GeV, boson pT < 60 GeV, m_ll < 200 GeV", "core n < 40 GeV, boson pT < 60 GeV, m_ll >= 200 GeV",
    "core n < 40 GeV, boson pT >= 60 GeV", "core n >= 40 GeV", "fake-MET tail"};
// The knob that turns the slices off (unit weights, every attempt from the full model).
constexpr const char* kSlicesParameter = "dy_met_slices";

// --- Preselection (options.preselection) ---
// Exactly two baseline leptons (pT > 10 GeV, any flavour and charge: e mu is kept
// for control regions), both with pT > 20 GeV, and MET > 50 GeV.
constexpr float kSignalLeptonPtMin = 20.0f;
constexpr float kMetMin = 50.0f;

// Box-Muller from 24-bit uniforms never exceeds sqrt(-2 ln 2^-25) = 5.887 sigma: the
// exact bound the early rejection relies on.
constexpr float kMaxAbsNormal = 5.89f;
// |1 - response| of a jet with true pT >= kRecoilJetMinPt: max(1, 5.89 sigma(8 GeV) = 1.29).
constexpr float kJetMaxResponseDeviation = 1.3f;

// ===========================================================================
// Samples
// ===========================================================================
enum BackgroundId : int {
  kDrellYanEE,
  kDrellYanMuMu,
  kDrellYanTauTau,
  kTtbar,
  kWW,
  kWZ,
  kZZ2l2nu,
  kZZ4l,
  kWJetsFake,
  kNumBackgrounds
};

struct BackgroundSpec {
  const char* name;
  uint32_t dsid;
  const char* process;  // group label for stacks
  double inclusive_pb;
  double branching_ratio;
  double filter_efficiency;
  double negative_fraction;  // NLO-like events with weight_mc < 0 (-1, or -P/q in a Drell-Yan slice)
  // Preselection acceptance (stored / generated) measured with this generator (>= 4e5
  // unpreselected events, offline cuts); used only to share options.background_events.
  double preselection_acceptance;
};

constexpr BackgroundSpec kBackgrounds[kNumBackgrounds] = {
    {"dy_ee", 910001, "drell_yan", kXsDrellYanInclusive, kBrZToLL, 1.0, 0.05, 0.00214},
    {"dy_mumu", 910002, "drell_yan", kXsDrellYanInclusive, kBrZToLL, 1.0, 0.05, 0.00222},
    {"dy_tautau", 910003, "drell_yan", kXsDrellYanInclusive, kBrZToLL * kBrTauTauToLeptons, 1.0, 0.05, 0.00232},
    {"ttbar_dilep", 910004, "ttbar", kXsTtbar, kBrWToLepton * kBrWToLepton, 1.0, 0.15, 0.356},
    {"ww_lvlv", 910005, "diboson", kXsWW, kBrWToLepton * kBrWToLepton, 1.0, 0.03, 0.246},
    {"wz_lvll", 910006, "diboson", kXsWZ, kBrWToLepton * kBrZToLeptons, 1.0, 0.03, 0.102},
    {"zz_llvv", 910007, "diboson", kXsZZ, 2 * kBrZToLeptons * kBrZToNuNu, 1.0, 0.03, 0.373},
    {"zz_llll", 910008, "diboson", kXsZZ, kBrZToLeptons * kBrZToLeptons, 1.0, 0.03, 0.0256},
    {"wjets_fake", 910009, "w_jets", kXsWInclusive, kBrWToLepton, kFakeLeptonRate, 0.05, 0.0335},
};

// Sizing: stored events of process i proportional to sqrt(expected events after the
// preselection at options.lumi_ifb), with a floor so that every process gets at
// least this share; integer counts by largest remainder, summing exactly to
// options.background_events.
constexpr double kMinBackgroundShare = 0.01;

// --- Signal grid: mono-Z' with Z' -> ll recoiling against a dark-matter pair ---
// Cross section per final state (ee or mumu), before any cut:
//   sigma(theory, sector, m) = sigma130(theory) * f(sector) * (130 GeV / m)^n(theory)
// sigma130 is calibrated: the heavy-dark-sector 130 GeV models must give the events of
// the thesis' cut-and-count tables (Tables 5.4 ee, 5.5 mumu; kReferenceYields): LV x10.5
// and DH x8.8 of this generator's first values (0.08, 0.10 fb); the thesis gives no EFT
// numbers, so EFT takes their geometric mean, x9.6 (docs/physics.md). The mass and
// sector dependences are the generator's own model, not calibrated. EFT stays 23x (130
// GeV) to 11x (1500 GeV) below DH, LV within a factor 4 of DH.
// The invisible pair system has pT ~ Lomax(4, s), s = r(theory) r(sector) (m_Z' + 2 m_chi):
// heavier dark sectors recoil harder. m_chi = 1 GeV (LDS), m_Z'/4 (HDS).
constexpr int kNumTheories = 3, kNumSectors = 2, kNumMasses = 12, kNumFinalStates = 2;
constexpr const char* kTheories[kNumTheories] = {"LV", "DH", "EFT"};
constexpr double kTheorySigma130Fb[kNumTheories] = {0.84, 0.88, 0.0384};
constexpr const char* kCrossSectionCalibration[kNumTheories] = {
    "sigma(130 GeV) x10.5 to the thesis' cut-and-count yields of LV HDS m130 (Tables 5.4, 5.5)",
    "sigma(130 GeV) x8.8 to the thesis' cut-and-count yields of DH HDS m130 (Tables 5.4, 5.5)",
    "sigma(130 GeV) x9.6, the geometric mean of the LV and DH calibrations (the thesis tables give no EFT yields)"};

// The thesis' cut-and-count (its Tables 5.4, ee, and 5.5, mumu) for the models it lists:
// expected events at 139 fb^-1 after MET > 50 GeV (the preselection) and after MET
// significance > 10, mT > 160 GeV, m_ll > 120 GeV, 0 b-jets, mT2 > 110 GeV, and its Z.
// Written into those samples' attributes so significance prints them beside its own.
struct ReferenceYields {
  int theory, final_state;
  double signal_preselection, signal_after_cuts, background_preselection, background_after_cuts, z;
};
constexpr ReferenceYields kReferenceYields[] = {
    {0, 0, 15, 4, 1256624, 117, 0.4},  {1, 0, 20, 6, 1256624, 117, 0.6},
    {0, 1, 14, 3, 1626098, 108, 0.36}, {1, 1, 19, 5, 1626098, 108, 0.51},
};
constexpr const char* kReferenceSource = "thesis Tables 5.4 (ee) and 5.5 (mumu), heavy dark sector, m_Z' = 130 GeV";
constexpr double kTheoryMassSlope[kNumTheories] = {3.0, 2.5, 2.2};
constexpr float kTheoryRecoil[kNumTheories] = {0.8f, 1.0f, 1.3f};
constexpr const char* kSectors[kNumSectors] = {"LDS", "HDS"};
constexpr double kSectorSigmaFactor[kNumSectors] = {1.0, 0.6};
constexpr float kSectorRecoil[kNumSectors] = {0.5f, 1.0f};
constexpr double kZprimeMasses[kNumMasses] = {130, 200, 300, 400, 500, 600, 700, 800, 1000, 1100, 1300, 1500};
constexpr const char* kFinalStates[kNumFinalStates] = {"ee", "mumu"};
constexpr double kLightDarkMatterMass = 1.0;      // LDS
constexpr double kHeavyDarkMatterMassRatio = 0.25;  // HDS: m_chi = m_Z' / 4
constexpr double kZprimeWidthRatio = 0.03;         // Gamma_Z' / m_Z'
constexpr uint32_t kSignalDsidBase = 920000;
constexpr int kSignalProcessBase = 1000;  // SampleDefinition::process of signal point i
constexpr int kNumSignals = kNumTheories * kNumSectors * kNumMasses * kNumFinalStates;  // 144

// ===========================================================================
// Random draws (float precision: the model is far coarser than 2^-24)
// ===========================================================================
class Draws {
 public:
  explicit Draws(CounterRng& rng) noexcept : rng_(rng) {}
  uint32_t bits() noexcept { return rng_.next_u32(); }
  // Uniform in (0, 1] from 24 bits: the smallest value is 2^-25, so -ln(u) <= 17.33; the
  // largest, (2^24 - 1/2) 2^-24, rounds to 1.0f (once in 2^24 draws), so ln(1 - u) may be -inf.
  float uniform() noexcept { return (float(bits() >> 8) + 0.5f) * 0x1p-24f; }
  float uniform(float lo, float hi) noexcept { return lo + (hi - lo) * uniform(); }
  // Two 16-bit uniforms from one draw, where 1/65536 resolution is plenty.
  static float high_half(uint32_t b) noexcept { return (float(b >> 16) + 0.5f) * 0x1p-16f; }
  static float low_half(uint32_t b) noexcept { return (float(b & 0xffffu) + 0.5f) * 0x1p-16f; }
  // Triangular on (-1, 1): the sum of two uniforms.
  float triangular() noexcept {
    const uint32_t b = bits();
    return high_half(b) + low_half(b) - 1.0f;
  }
  // Standard normal by Box-Muller; |value| <= kMaxAbsNormal.
  float normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const float r = std::sqrt(-2.0f * std::log(uniform()));
    const float phi = 2.0f * std::numbers::pi_v<float> * uniform();
    spare_ = r * std::sin(phi);
    has_spare_ = true;
    return r * std::cos(phi);
  }
  // Lomax (Pareto II) with shape 4: P(x > t) = (1 + t/scale)^-4.
  float lomax4(float scale) noexcept { return scale * (1.0f / std::sqrt(std::sqrt(uniform())) - 1.0f); }
  // Random direction in the transverse plane.
  void azimuth(float& c, float& s) noexcept {
    const float phi = 2.0f * std::numbers::pi_v<float> * uniform();
    c = std::cos(phi), s = std::sin(phi);
  }

 private:
  CounterRng& rng_;
  float spare_ = 0;
  bool has_spare_ = false;
};

// Breit-Wigner restricted to [lo, hi], by inverse CDF; the arctangents are precomputed.
struct BreitWigner {
  float mass = 0, half_width = 0, angle_lo = 0, angle_span = 0;
  BreitWigner() = default;
  BreitWigner(float m, float width, float lo, float hi)
      : mass(m),
        half_width(0.5f * width),
        angle_lo(std::atan((lo - m) / half_width)),
        angle_span(std::atan((hi - m) / half_width) - angle_lo) {}
  // sin/cos rather than tan: libm's tanf is 2x slower than sincosf near +-pi/2.
  float operator()(float u) const noexcept {
    const float a = angle_lo + angle_span * u;
    return mass + half_width * std::sin(a) / std::cos(a);
  }
};

// ===========================================================================
// Kinematics in float
// ===========================================================================
// No default member initialisers: Work holds arrays of these and is built per attempt.
struct P4 {
  float px, py, pz, e;
  float pt() const noexcept { return std::sqrt(px * px + py * py); }
  P4 scaled(float s) const noexcept { return {s * px, s * py, s * pz, s * e}; }
};

// Boost from the rest frame of a parent (four-momentum P, mass m) into the frame
// where it has momentum P. With u = gamma beta = P/m there is no 1 - beta^2
// cancellation: p' = p + u (E + u.p / (gamma + 1)), E' = gamma E + u.p.
struct Boost {
  float ux, uy, uz, gamma, inv_gamma_plus_1;
  Boost(const P4& parent, float m) noexcept {
    const float inv_m = 1.0f / m;
    ux = parent.px * inv_m, uy = parent.py * inv_m, uz = parent.pz * inv_m, gamma = parent.e * inv_m;
    inv_gamma_plus_1 = 1.0f / (gamma + 1.0f);
  }
  P4 operator()(const P4& v) const noexcept {
    const float up = ux * v.px + uy * v.py + uz * v.pz;
    const float k = v.e + up * inv_gamma_plus_1;
    return {v.px + ux * k, v.py + uy * k, v.pz + uz * k, gamma * v.e + up};
  }
};

// A system of mass m, transverse momentum pt along (c, s) and rapidity y.
P4 make_system(float m, float pt, float c, float s, float y) noexcept {
  const float mt = std::sqrt(m * m + pt * pt);
  const float a = std::exp(y), inv_a = 1.0f / a;
  return {pt * c, pt * s, 0.5f * mt * (a - inv_a), 0.5f * mt * (a + inv_a)};
}

float rapidity_max(float m) noexcept { return std::log(kSqrtS / m); }

// Momentum of each daughter in the rest frame of a two-body decay M -> m1 m2.
float two_body_momentum(float m, float m1, float m2) noexcept {
  const float s = m * m, a = (m1 + m2) * (m1 + m2), b = (m1 - m2) * (m1 - m2);
  return std::sqrt(std::max(0.0f, (s - a) * (s - b))) / (2.0f * m);
}

// Two-body decay of `parent` (mass m) with daughter 1 along (cos_t, phi) in the rest
// frame (polar axis = beam axis), boosted to the lab.
void decay_two_body(const P4& parent, float m, float m1, float m2, float cos_t, float c_phi, float s_phi, P4& d1,
                    P4& d2) noexcept {
  const float p = two_body_momentum(m, m1, m2);
  const float sin_t = std::sqrt(std::max(0.0f, 1.0f - cos_t * cos_t));
  const float px = p * sin_t * c_phi, py = p * sin_t * s_phi, pz = p * cos_t;
  const Boost boost(parent, m);
  d1 = boost({px, py, pz, std::sqrt(p * p + m1 * m1)});
  d2 = boost({-px, -py, -pz, std::sqrt(p * p + m2 * m2)});
}

// cos(theta*) with density (3/8)(1 + c^2) (vector boson -> fermions, unpolarised):
// a mixture of uniform (weight 3/4) and density 3c^2/2 (weight 1/4, +-max of 3 uniforms).
float draw_cos_one_plus_c2(Draws& d) noexcept {
  const uint32_t a = d.bits(), b = d.bits();
  const float u1 = Draws::high_half(a), choice = Draws::low_half(b);
  if (choice < 0.75f) return 2.0f * u1 - 1.0f;
  const float m = std::max({u1, Draws::low_half(a), Draws::high_half(b)});
  return choice < 0.875f ? m : -m;
}

// Visible fraction x of a tau -> l nu nu decay in the collinear limit (unpolarised):
// density (5 - 9x^2 + 4x^3)/3 on [0, 1], by rejection (efficiency 60%).
float draw_tau_visible_fraction(Draws& d) noexcept {
  for (;;) {
    const uint32_t b = d.bits();
    const float x = Draws::high_half(b), v = Draws::low_half(b);
    if (5.0f * v < 5.0f - x * x * (9.0f - 4.0f * x)) return x;
  }
}

// atan2 to float precision (Cephes atanf polynomial, max error 3e-7 rad), 2-3x faster
// than libm's; 0 for the null vector.
float fast_atan2(float y, float x) noexcept {
  constexpr float pi = std::numbers::pi_v<float>;
  const float ax = std::fabs(x), ay = std::fabs(y);
  if (ax == 0 && ay == 0) return 0;
  const bool steep = ay > ax;
  float t = steep ? ax / ay : ay / ax, base = 0;
  if (t > 0.41421356f) t = (t - 1.0f) / (t + 1.0f), base = 0.25f * pi;  // tan(pi/8) range reduction
  const float z = t * t;
  float r = (((8.05374449538e-2f * z - 1.38776856032e-1f) * z + 1.99777106478e-1f) * z - 3.33329491539e-1f) * z * t +
            t + base;
  if (steep) r = 0.5f * pi - r;
  if (x < 0) r = pi - r;
  return std::copysign(r, y);
}

// Pseudorapidity without asinh: ln((p + |pz|)/pT) with the sign of pz (no cancellation).
float pseudorapidity(const P4& p, float pt) noexcept {
  const float abs_pz = std::fabs(p.pz);
  return std::copysign(std::log((std::sqrt(pt * pt + abs_pz * abs_pz) + abs_pz) / pt), p.pz);
}

// ===========================================================================
// Detector response, drawn when an object is created so that the early rejection
// can bound (or know) the mismeasurement before the expensive kinematics.
// ===========================================================================
enum Flavour : uint8_t { kElectron, kMuon };

// Relative pT resolution; the muon one grows with pT (sagitta), electrons are flat.
float lepton_resolution(Flavour f, float pt) noexcept {
  if (f == kElectron) return kElectronResolution;
  const float slope = kMuonResolutionSlope * pt;
  return std::sqrt(kMuonResolution * kMuonResolution + slope * slope);
}
// Largest |true - measured| that leptons with summed true pT `sum_pt` can have when
// every |z| <= z_max: the resolution at the whole sum (the muon one if flavours may
// differ), as sigma(pT) pT is convex and zero at zero.
float lepton_mismeasurement_cap(float sum_pt, float z_max, Flavour f) noexcept {
  return z_max * lepton_resolution(f, sum_pt) * sum_pt;
}

float jet_resolution(float e) noexcept {
  return std::sqrt(kJetStochastic * kJetStochastic / e + kJetConstant * kJetConstant);
}
// A jet's response before its energy is known: a Gaussian z or a tail loss.
struct JetResponseDraw {
  bool tail;
  float value;  // z, or the lost fraction in the tail
};
JetResponseDraw draw_jet_response(Draws& d) noexcept {
  const uint32_t b = d.bits();
  if (Draws::high_half(b) < kJetTailProbability) return {true, Draws::low_half(b) * d.uniform()};
  return {false, d.normal()};
}
float jet_response(JetResponseDraw r, float e) noexcept {
  return r.tail ? 1.0f - r.value : std::max(0.0f, 1.0f + jet_resolution(e) * r.value);
}
// |1 - response| for any energy >= pt (the resolution only shrinks with energy).
float jet_mismeasurement_bound(JetResponseDraw r, float pt) noexcept {
  return r.tail ? r.value : std::fabs(r.value) * jet_resolution(pt);
}

// sinh of the acceptance edges: |eta| < eta_max  <=>  |pz| < pT sinh(eta_max).
const float kSinhElectronEta = std::sinh(kElectronEtaMax);
const float kSinhMuonEta = std::sinh(kMuonEtaMax);
const float kSinhMuonLost = std::sinh(kMuonLostEta);
const float kSinhJetEta = std::sinh(kJetEtaMax);
const float kSinhBTagEta = std::sinh(kBTagEtaMax);

// ===========================================================================
// Event record while generating (fixed capacity: no allocation per attempt)
// ===========================================================================
struct TruthLepton {
  P4 p;
  float pt, reco_pt;  // reco_pt: measured pT (the response is drawn at creation)
  int8_t charge;
  Flavour flavour;
  bool in_acceptance;
  // Could this lepton be one of the two signal leptons?
  bool signal_capable() const noexcept { return in_acceptance && reco_pt > kSignalLeptonPtMin; }
};
struct TruthJet {
  P4 p;
  float pt, response;
  bool b;
};
struct RecoLepton {
  int truth;
};
struct RecoJet {
  int truth;
  bool btag;
};

struct Work {
  std::array<TruthLepton, 6> leptons;
  std::array<TruthJet, 8> jets;
  std::array<RecoLepton, 6> reco_leptons;
  std::array<RecoJet, 8> reco_jets;
  int n_leptons = 0, n_jets = 0, n_reco_leptons = 0, n_signal_leptons = 0, n_reco_jets = 0;
  bool jets_reconstructed = false;
  float inv_x = 0, inv_y = 0;  // true invisible momentum (neutrinos, dark matter)
  float mis_x = 0, mis_y = 0;  // sum over reconstructed objects of (true - measured), plus lost muons
  float object_sumet = 0;      // scalar sum of reconstructed object pT

  // Adds a lepton measured with the standard-normal draw z (processes have at most 4).
  const TruthLepton& add_lepton(const P4& p, int charge, Flavour f, float z) noexcept {
    TruthLepton& l = leptons[n_leptons++];
    l.p = p, l.pt = p.pt(), l.charge = int8_t(charge), l.flavour = f;
    l.reco_pt = l.pt * (1.0f + lepton_resolution(f, l.pt) * z);
    l.in_acceptance = std::fabs(p.pz) < l.pt * (f == kElectron ? kSinhElectronEta : kSinhMuonEta);
    return l;
  }
  void add_jet(const P4& p, JetResponseDraw r, bool b) noexcept {
    if (n_jets < int(jets.size())) jets[n_jets++] = {p, p.pt(), jet_response(r, p.e), b};
  }
  void add_invisible(const P4& p) noexcept { inv_x += p.px, inv_y += p.py; }
  float invisible_pt() const noexcept { return std::sqrt(inv_x * inv_x + inv_y * inv_y); }
  float mismeasurement() const noexcept { return std::sqrt(mis_x * mis_x + mis_y * mis_y); }
};

// Charged-lepton "flavours" of W/Z decays: e, mu, or a tau that decays to e or mu.
enum class LeptonKind : uint8_t { e, mu, tau_e, tau_mu };

LeptonKind draw_w_lepton_kind(Draws& d) noexcept {
  constexpr float p_e = float(kBrWToLNu / kBrWToLepton);
  constexpr float p_tau_e = float(kBrWToLNu * kBrTauToE / kBrWToLepton);
  const float u = d.uniform();
  if (u < p_e) return LeptonKind::e;
  if (u < 2 * p_e) return LeptonKind::mu;
  return u < 2 * p_e + p_tau_e ? LeptonKind::tau_e : LeptonKind::tau_mu;
}

LeptonKind draw_tau_kind(Draws& d) noexcept {
  return d.uniform() < float(kBrTauToE / kBrTauToLeptons) ? LeptonKind::tau_e : LeptonKind::tau_mu;
}

// Z -> "ll" pair kinds: ee, mumu or tautau with both taus leptonic.
void draw_z_lepton_kinds(Draws& d, LeptonKind& k1, LeptonKind& k2) noexcept {
  constexpr float p_ee = float(kBrZToLL / kBrZToLeptons);
  const float u = d.uniform();
  if (u < p_ee) {
    k1 = k2 = LeptonKind::e;
  } else if (u < 2 * p_ee) {
    k1 = k2 = LeptonKind::mu;
  } else {
    k1 = draw_tau_kind(d), k2 = draw_tau_kind(d);
  }
}

// Adds a charged lepton of `kind` with momentum p: taus decay collinearly, the
// neutrinos carrying 1 - x of the tau momentum.
const TruthLepton& add_charged_lepton(Draws& d, Work& w, const P4& p, int charge, LeptonKind kind) noexcept {
  switch (kind) {
    case LeptonKind::e: return w.add_lepton(p, charge, kElectron, d.normal());
    case LeptonKind::mu: return w.add_lepton(p, charge, kMuon, d.normal());
    case LeptonKind::tau_e:
    case LeptonKind::tau_mu: break;
  }
  const float x = draw_tau_visible_fraction(d);
  w.add_invisible(p.scaled(1.0f - x));
  return w.add_lepton(p.scaled(x), charge, kind == LeptonKind::tau_e ? kElectron : kMuon, d.normal());
}

// ISR jets recoiling against a system of transverse momentum pT_sys: a fraction
// h in [0.75, 1.05] pT_sys is clustered into 1-3 jets (P(split) = h/(h + 100 GeV)),
// the rest is unclustered. Planned (pT and response) before their directions, so that
// the early rejection can bound their mismeasurement: sum |1 - r| pT.
struct RecoilPlan {
  int n = 0;
  std::array<float, 3> pt{};
  std::array<JetResponseDraw, 3> response{};
  float mismeasurement_bound() const noexcept {
    float sum = 0;
    for (int i = 0; i < n; ++i) sum += jet_mismeasurement_bound(response[i], pt[i]) * pt[i];
    return sum;
  }
};
// Upper bound of RecoilPlan::mismeasurement_bound() before the plan is drawn: jets of
// pT >= kRecoilJetMinPt have |1 - r| <= kJetMaxResponseDeviation.
float recoil_mismeasurement_cap(float sys_pt) noexcept {
  return kJetMaxResponseDeviation * kRecoilFractionMax * sys_pt;
}

RecoilPlan plan_recoil_jets(Draws& d, float sys_pt) noexcept {
  RecoilPlan plan;
  if (sys_pt * kRecoilFractionMax < kRecoilJetMinPt) return plan;
  const float h = sys_pt * d.uniform(kRecoilFractionMin, kRecoilFractionMax);
  std::array<float, 3> share{1.0f, 0.0f, 0.0f};
  const uint32_t b = d.bits();
  const float p_split = h / (h + kRecoilSplitScale);
  if (Draws::high_half(b) < p_split) {
    share[1] = 0.15f + 0.3f * Draws::low_half(b);
    share[0] -= share[1];
    const uint32_t b2 = d.bits();
    if (Draws::high_half(b2) < 0.5f * p_split) {
      share[2] = share[1] * (0.2f + 0.5f * Draws::low_half(b2));
      share[1] -= share[2];
    }
  }
  for (float s : share) {
    const float pt = s * h;
    if (pt < kRecoilJetMinPt) continue;  // never a 20 GeV jet: part of the soft term
    plan.pt[plan.n] = pt;
    plan.response[plan.n++] = draw_jet_response(d);
  }
  return plan;
}

// Directions of the planned jets: the leading one close to the recoil axis, the
// others wider; pseudorapidity correlated with the system rapidity.
void build_recoil_jets(Draws& d, Work& w, const RecoilPlan& plan, float sys_px, float sys_py, float y_sys) noexcept {
  if (plan.n == 0) return;
  const float inv_pt = 1.0f / std::sqrt(sys_px * sys_px + sys_py * sys_py);
  const float axis_c = -sys_px * inv_pt, axis_s = -sys_py * inv_pt;
  for (int i = 0; i < plan.n; ++i) {
    const float spread = i == 0 ? 0.3f : 1.2f;
    const float dphi = spread * (2.0f * d.uniform() - 1.0f);
    const float dc = std::cos(dphi), ds = std::sin(dphi);
    const float eta = kJetEtaCorrelation * y_sys + kJetEtaSpread * d.triangular();
    const float m = plan.pt[i] * d.uniform(kJetMassFractionMin, kJetMassFractionMax);
    w.add_jet(make_system(m, plan.pt[i], axis_c * dc - axis_s * ds, axis_s * dc + axis_c * ds, eta), plan.response[i],
              false);
  }
}

void add_recoil_jets(Draws& d, Work& w, float sys_px, float sys_py, float y_sys) noexcept {
  build_recoil_jets(d, w, plan_recoil_jets(d, std::sqrt(sys_px * sys_px + sys_py * sys_py)), sys_px, sys_py, y_sys);
}

// Selects jets (pT > 20 GeV, |eta| < 4.5), b-tags them and accumulates their
// mismeasurement into w.mis; the others are part of the soft term.
void reconstruct_jets(Draws& d, Work& w) noexcept {
  w.jets_reconstructed = true;
  for (int i = 0; i < w.n_jets; ++i) {
    const TruthJet& j = w.jets[i];
    const float pt = j.response * j.pt;
    const float abs_pz = std::fabs(j.p.pz);
    if (pt < kJetPtMin || abs_pz > j.pt * kSinhJetEta) continue;
    bool btag = false;
    if (abs_pz < j.pt * kSinhBTagEta) btag = d.uniform() < (j.b ? kBTagEfficiency : kLightMistagRate);
    const float lost = 1.0f - j.response;
    w.mis_x += lost * j.p.px, w.mis_y += lost * j.p.py;
    w.object_sumet += pt;
    w.reco_jets[w.n_reco_jets++] = {i, btag};
  }
}

// Selects leptons (pT > 10 GeV in acceptance) and counts signal ones (pT > 20 GeV).
// Forward electrons end up in the calorimeter soft term; muons beyond the
// spectrometer (|eta| > 2.7) leave nothing and add to MET.
void reconstruct_leptons(Work& w) noexcept {
  for (int i = 0; i < w.n_leptons; ++i) {
    const TruthLepton& l = w.leptons[i];
    if (!l.in_acceptance) {
      if (l.flavour == kMuon && std::fabs(l.p.pz) > l.pt * kSinhMuonLost) w.mis_x += l.p.px, w.mis_y += l.p.py;
      continue;
    }
    if (l.reco_pt < kLeptonPtMin) continue;
    const float lost = 1.0f - l.reco_pt / l.pt;
    w.mis_x += lost * l.p.px, w.mis_y += lost * l.p.py;
    w.object_sumet += l.reco_pt;
    w.reco_leptons[w.n_reco_leptons++] = {i};
    w.n_signal_leptons += l.reco_pt > kSignalLeptonPtMin;
  }
}

// Soft term: its scalar sum ET and the magnitude of its noise vector (the direction
// is drawn only when the event survives, see finish_event).
struct SoftTerm {
  float sumet, noise;
};
constexpr uint32_t kTailThreshold = uint32_t(double(kSoftTailProbability) * 256.0 * 4294967296.0);
// The probability draw_soft_term gives the tail: 2^-8 x kTailThreshold / 2^32.
constexpr double kTailProbabilityExact = double(kTailThreshold) * 0x1p-40;
float soft_sumet(float x) noexcept { return kSoftSumEtMin + kSoftSumEtScale * x; }  // x ~ Exp(1)
SoftTerm draw_soft_term(Draws& d) noexcept {
  const float sumet = kSoftSumEtMin - kSoftSumEtScale * std::log(d.uniform());
  const uint32_t b = d.bits();
  // The tail decision uses the top byte and, 1 time in 256, a second draw; u the low
  // 24 bits, so the core's noise is independent of the decision.
  if ((b >> 24) == 0 && d.bits() < kTailThreshold) return {sumet, d.lomax4(kSoftTailScale)};
  // |2D Gaussian| = sigma sqrt(-2 ln u), sigma = resolution sqrt(sum ET); 24 bits for u.
  const float u = (float(b & 0x00ffffffu) + 0.5f) * 0x1p-24f;
  return {sumet, kSoftResolution * std::sqrt(-2.0f * sumet * std::log(u))};
}

template <typename T>
void insert_pt_ordered(std::vector<T>& v, const T& x) {
  v.push_back(x);
  for (std::size_t i = v.size() - 1; i > 0 && v[i - 1].pt < v[i].pt; --i) std::swap(v[i - 1], v[i]);
}

// What finish_event still has to draw: ISR jets against a system, the soft term.
struct Pending {
  bool recoil = false;
  float recoil_px = 0, recoil_py = 0, recoil_y = 0;
  bool soft_drawn = false;
  SoftTerm soft{};
};

// Reconstructs the event, applies the preselection (leptons first: no jets or soft
// term are drawn for events that fail it) and writes it. Returns false when the
// preselection fails.
bool finish_event(Draws& d, Work& w, const Pending& pending, bool preselection, RecoEvent& event) {
  reconstruct_leptons(w);
  if (preselection && !(w.n_reco_leptons == 2 && w.n_signal_leptons == 2)) return false;
  if (pending.recoil) add_recoil_jets(d, w, pending.recoil_px, pending.recoil_py, pending.recoil_y);
  if (!w.jets_reconstructed) reconstruct_jets(d, w);
  const SoftTerm soft = pending.soft_drawn ? pending.soft : draw_soft_term(d);
  float nc, ns;
  d.azimuth(nc, ns);
  const float met_x = w.inv_x + w.mis_x - soft.noise * nc, met_y = w.inv_y + w.mis_y - soft.noise * ns;
  const float met = std::sqrt(met_x * met_x + met_y * met_y);
  if (preselection && met <= kMetMin) return false;

  event.met = met;
  event.met_phi = fast_atan2(met_y, met_x);
  event.met_sumet = soft.sumet + w.object_sumet;
  event.met_truth = w.invisible_pt();
  event.met_truth_phi = fast_atan2(w.inv_y, w.inv_x);
  for (int i = 0; i < w.n_reco_leptons; ++i) {
    const TruthLepton& l = w.leptons[w.reco_leptons[i].truth];
    const Lepton lepton{l.reco_pt, pseudorapidity(l.p, l.pt), fast_atan2(l.p.py, l.p.px), l.charge};
    insert_pt_ordered(l.flavour == kElectron ? event.electrons : event.muons, lepton);
  }
  for (int i = 0; i < w.n_reco_jets; ++i) {
    const RecoJet& r = w.reco_jets[i];
    const TruthJet& j = w.jets[r.truth];
    const float m2 = j.p.e * j.p.e - j.pt * j.pt - j.p.pz * j.p.pz;  // the mass scales with the response
    insert_pt_ordered(event.jets, Jet{j.response * j.pt, pseudorapidity(j.p, j.pt), fast_atan2(j.p.py, j.p.px),
                                      j.response * std::sqrt(std::max(0.0f, m2)), int8_t(r.btag)});
  }
  return true;
}

// ===========================================================================
// Sliced Drell-Yan soft term and boson pT (see kSliceProposalLight)
// ===========================================================================
// The core noise n given sum ET s is Rayleigh with sigma^2 = r^2 s (r = kSoftResolution):
// P(n >= T | s) = exp(-T^2 / (2 r^2 s)) =: G(x), s = 100 + 350 x, x ~ Exp(1).
class DrellYanSlices {
 public:
  struct Draw {
    SoftTerm soft;
    float boson_pt;
    float weight;  // P_k / q_k of the slice drawn
    DrellYanSlice slice;
  };

  // heavy_fraction: P(m_ll >= kSliceMass) of the line shape.
  DrellYanSlices(double heavy_fraction, const SliceProposal& proposal) {
    // I = P(n >= T) of the core = int_0^inf e^-x G(x) dx: Simpson on [0, 60] (e^-60 is
    // below any double rounding here), the integrand is smooth.
    constexpr int kIntervals = 12'000;
    constexpr double kUpper = 60.0, h = kUpper / kIntervals;
    double sum = 0;
    for (int i = 0; i <= kIntervals; ++i) {
      const double x = i * h, f = std::exp(-x) * hard_noise_probability(x);
      sum += (i == 0 || i == kIntervals ? 1 : i % 2 ? 4 : 2) * f;
    }
    core_hard_fraction_ = sum * h / 3;
    boson_high_fraction_ = std::pow(1.0 + double(kSliceBosonPt) / kBosonPtScale, -4.0);
    const double core = 1.0 - kTailProbabilityExact, soft = 1.0 - core_hard_fraction_;
    const double low_pt = core * soft * (1.0 - boson_high_fraction_);
    probability_ = {low_pt * (1.0 - heavy_fraction), low_pt * heavy_fraction, core * soft * boson_high_fraction_,
                    core * core_hard_fraction_, kTailProbabilityExact};
    // The slice is chosen by one 32-bit draw; q_k are the exact shares of that draw.
    double cumulative = 0;
    uint32_t previous = 0;
    for (int k = 0; k < kNumSlices; ++k) {
      cumulative += proposal[std::size_t(k)];
      const uint32_t upper = k + 1 == kNumSlices ? 0 : uint32_t(std::llround(cumulative * 0x1p32));
      if (k + 1 < kNumSlices) upper_[std::size_t(k)] = upper;
      const double share = (k + 1 == kNumSlices ? 0x1p32 : double(upper)) - double(previous);
      proposal_[std::size_t(k)] = share * 0x1p-32;
      weight_[std::size_t(k)] = float(probability_[std::size_t(k)] / proposal_[std::size_t(k)]);
      previous = upper;
    }
    // Slice 2's x by rejection from Exp(lambda): accept with exp(h(x) - h*), h(x) =
    // -(1 - lambda) x + ln G(x), concave, maximal where (100 + 350 x)^2 = 350 c / (1 -
    // lambda), c = T^2 / (2 r^2). lambda maximises the acceptance lambda I e^-h*.
    double best = -1;
    for (int i = 5; i < 100; ++i) {
      const double lambda = i / 100.0, h_max = max_log_envelope(lambda);
      const double acceptance = lambda * core_hard_fraction_ * std::exp(-h_max);
      if (acceptance > best)
        best = acceptance, inv_lambda_ = float(1 / lambda), one_minus_lambda_ = float(1 - lambda),
        log_envelope_ = float(h_max);
    }
    // The envelope's maximum rounded to float must stay above every float h(x).
    log_envelope_ = std::nextafter(log_envelope_, 1.0f);
    boson_high_fraction_f_ = float(boson_high_fraction_);
  }

  double probability(int k) const noexcept { return probability_[std::size_t(k)]; }
  double proposal(int k) const noexcept { return proposal_[std::size_t(k)]; }
  float weight(int k) const noexcept { return weight_[std::size_t(k)]; }

  Draw draw(Draws& d) const noexcept {
    const uint32_t b = d.bits();
    int k = 0;
    while (k + 1 < kNumSlices && b >= upper_[std::size_t(k)]) ++k;
    Draw out{};
    out.weight = weight_[std::size_t(k)];
    out.slice = DrellYanSlice(k);
    if (k == kTail) {
      out.soft = {soft_sumet(-std::log(d.uniform())), d.lomax4(kSoftTailScale)};
      out.boson_pt = d.lomax4(kBosonPtScale);
      return out;
    }
    if (k == kCoreHardNoise) {
      float x;
      do x = -std::log(d.uniform()) * inv_lambda_;
      while (std::log(d.uniform()) > -one_minus_lambda_ * x - kNoiseExponent / soft_sumet(x) - log_envelope_);
      const float s = soft_sumet(x);
      // Rayleigh above T: n^2 = T^2 + 2 sigma^2 E, E ~ Exp(1).
      out.soft = {s, std::sqrt(kSliceNoise * kSliceNoise - 2.0f * kResolution2 * s * std::log(d.uniform()))};
      out.boson_pt = d.lomax4(kBosonPtScale);
      return out;
    }
    // Core below T: x by rejection from Exp(1) with acceptance 1 - G(x) (>= 98.9%), then
    // the Rayleigh truncated to n < T by inverse CDF. Where 1 - G(x) rounds to 1.0f, a
    // uniform of 1.0f gives ln 0 = -inf; the exact value there is the bound n = T, and
    // min() keeps it (a MET of inf in one event of 70 M stopped the full-scale job).
    float x, soft_fraction;
    do x = -std::log(d.uniform()), soft_fraction = -std::expm1(-kNoiseExponent / soft_sumet(x));
    while (d.uniform() > soft_fraction);
    const float s = soft_sumet(x);
    const float noise = std::sqrt(-2.0f * kResolution2 * s * std::log1p(-d.uniform() * soft_fraction));
    out.soft = {s, std::min(noise, kSliceNoise)};
    // Boson pT of Lomax(4, s_b) below or above the split by inverse CDF: P(pT > t) =
    // (1 + t/s_b)^-4, Q at the split.
    const float u = d.uniform();
    const float above = k == kCoreHighPt ? boson_high_fraction_f_ * u : 1.0f - u * (1.0f - boson_high_fraction_f_);
    out.boson_pt = kBosonPtScale * (1.0f / std::sqrt(std::sqrt(above)) - 1.0f);
    return out;
  }

  std::string description() const {
    std::string text = fmt::format(
        "Drell-Yan drawn in slices of the soft-term noise n and the boson pT (docs/physics.md, \"Sliced "
        "Drell-Yan\"); weight_mc = sign x P/q:");
    for (int k = 0; k < kNumSlices; ++k)
      text += fmt::format(" {}: P = {}, q = {};", kSliceNames[k], probability(k), proposal(k));  // exact
    text.pop_back();
    return text;
  }

 private:
  static constexpr float kResolution2 = kSoftResolution * kSoftResolution;
  // -ln G = T^2 / (2 r^2 s).
  static constexpr float kNoiseExponent = kSliceNoise * kSliceNoise / (2.0f * kResolution2);
  static double hard_noise_probability(double x) noexcept {
    return std::exp(-double(kNoiseExponent) / (double(kSoftSumEtMin) + double(kSoftSumEtScale) * x));
  }
  static double max_log_envelope(double lambda) noexcept {
    const double c = kNoiseExponent;
    const double root = std::sqrt(double(kSoftSumEtScale) * c / (1.0 - lambda));
    const double x = std::max(0.0, (root - kSoftSumEtMin) / kSoftSumEtScale);
    return -(1.0 - lambda) * x - c / (kSoftSumEtMin + kSoftSumEtScale * x);
  }

  double core_hard_fraction_ = 0, boson_high_fraction_ = 0;
  float boson_high_fraction_f_ = 0, inv_lambda_ = 1, one_minus_lambda_ = 0;
  std::array<double, kNumSlices> probability_{}, proposal_{};
  std::array<float, kNumSlices> weight_{};
  std::array<uint32_t, kNumSlices - 1> upper_{};
  float log_envelope_ = 0;
};

// ===========================================================================
// Precomputed model (built once per channel; generate() only reads it)
// ===========================================================================
struct SignalPoint {
  int theory, sector, mass_index, final_state;
  double m_zprime, m_chi, cross_section_pb;
  float recoil_scale;
  BreitWigner line_shape;
  std::string name;
};

struct Model {
  BreitWigner z_drell_yan{kMassZ, kWidthZ, kDrellYanMassMin, kDrellYanResonanceMassMax};
  BreitWigner z_on_shell{kMassZ, kWidthZ, kMassZ - 10 * kWidthZ, kMassZ + 10 * kWidthZ};
  BreitWigner w_on_shell{kMassW, kWidthW, kMassW - 10 * kWidthW, kMassW + 10 * kWidthW};
  BreitWigner top{kMassTop, kWidthTop, kMassTop - 10 * kWidthTop, kMassTop + 10 * kWidthTop};
  // Continuum dsigma/dm ~ 1/m^3 by inverse CDF: m = m_min / sqrt(u), u in [u_min, 1].
  float continuum_u_min =
      (kDrellYanMassMin / kDrellYanContinuumMassMax) * (kDrellYanMassMin / kDrellYanContinuumMassMax);
  std::vector<SignalPoint> signals;
  // The continuum's v (see drell_yan_mass) below which m >= kSliceMass.
  float continuum_v_heavy = ((kDrellYanMassMin / kSliceMass) * (kDrellYanMassMin / kSliceMass) - continuum_u_min) /
                            (1.0f - continuum_u_min);
  DrellYanSlices drell_yan_slices{double(kDrellYanContinuumFraction) * continuum_v_heavy, kSliceProposalLight};
  DrellYanSlices tautau_slices{double(kDrellYanContinuumFraction) * continuum_v_heavy, kSliceProposalTauTau};

  Model() {
    signals.reserve(kNumSignals);
    for (int t = 0; t < kNumTheories; ++t)
      for (int s = 0; s < kNumSectors; ++s)
        for (int mi = 0; mi < kNumMasses; ++mi)
          for (int f = 0; f < kNumFinalStates; ++f) {
            SignalPoint p;
            p.theory = t, p.sector = s, p.mass_index = mi, p.final_state = f;
            p.m_zprime = kZprimeMasses[mi];
            p.m_chi = s == 0 ? kLightDarkMatterMass : kHeavyDarkMatterMassRatio * p.m_zprime;
            p.cross_section_pb = kTheorySigma130Fb[t] * 1e-3 * kSectorSigmaFactor[s] *
                                 std::pow(130.0 / p.m_zprime, kTheoryMassSlope[t]);
            p.recoil_scale = kTheoryRecoil[t] * kSectorRecoil[s] * float(p.m_zprime + 2 * p.m_chi);
            const float m = float(p.m_zprime), width = float(kZprimeWidthRatio * p.m_zprime);
            p.line_shape = BreitWigner(m, width, 0.5f * m, 1.5f * m);
            p.name = fmt::format("zp_{}_{}_m{}_{}", kTheories[t], kSectors[s], int(p.m_zprime), kFinalStates[f]);
            signals.push_back(std::move(p));
          }
  }

  // Z/gamma* mass: Breit-Wigner or (fraction kDrellYanContinuumFraction) continuum.
  float drell_yan_mass(Draws& d) const noexcept {
    const float u = d.uniform();
    if (u < kDrellYanContinuumFraction) {
      const float v = u * (1.0f / kDrellYanContinuumFraction);  // the residual is uniform again
      return kDrellYanMassMin / std::sqrt(continuum_u_min + (1.0f - continuum_u_min) * v);
    }
    return z_drell_yan((u - kDrellYanContinuumFraction) * (1.0f / (1.0f - kDrellYanContinuumFraction)));
  }
  // The line shape within a slice of DrellYanSlices.
  float drell_yan_mass(Draws& d, DrellYanSlice slice) const noexcept {
    return slice == kCoreLowPtLight   ? drell_yan_mass_light(d)
           : slice == kCoreLowPtHeavy ? drell_yan_mass_heavy(d)
                                      : drell_yan_mass(d);
  }
  // The same line shape above or below kSliceMass (the Breit-Wigner lies below).
  float drell_yan_mass_heavy(Draws& d) const noexcept { return continuum_mass(continuum_v_heavy * d.uniform()); }
  float drell_yan_mass_light(Draws& d) const noexcept {
    const float continuum_share = kDrellYanContinuumFraction * (1.0f - continuum_v_heavy);
    const float continuum = continuum_share / (continuum_share + (1.0f - kDrellYanContinuumFraction));
    const float u = d.uniform();
    if (u < continuum) return continuum_mass(continuum_v_heavy + (1.0f - continuum_v_heavy) * (u / continuum));
    return z_drell_yan((u - continuum) / (1.0f - continuum));
  }
  float continuum_mass(float v) const noexcept {
    return kDrellYanMassMin / std::sqrt(continuum_u_min + (1.0f - continuum_u_min) * v);
  }
};

// Sign of weight_mc: -1 with probability `fraction`, from one 32-bit draw.
double draw_weight_sign(Draws& d, double fraction) noexcept {
  const uint32_t threshold = uint32_t(fraction * 4294967296.0);
  return d.bits() < threshold ? -1.0 : 1.0;
}

// Early rejections compare upper bounds with the cuts; the margin covers float
// rounding between a bound and the value computed later, so they stay exact.
bool is_below(float bound, float cut) noexcept { return bound * 1.0001f <= cut; }

// Largest pT of a massless daughter of a parent with mass m and transverse momentum
// pt: (E_T + pT)/2; the daughters together carry at most E_T.
float daughter_pt_max(float et, float pt) noexcept { return 0.5f * (et + pt); }

// ===========================================================================
// Processes. Each draws first what decides the preselection and returns false as
// soon as the event cannot pass: the rejections below are exact (every event that
// would pass survives them), they only change the order of draws.
// ===========================================================================

// The start of a sliced Drell-Yan attempt: the slice's soft term and boson pT, then the
// mass inside the slice; the event weighs P/q of its slice.
void draw_drell_yan_slice(const Model& model, const DrellYanSlices& slices, Draws& d, RecoEvent& event,
                          SoftTerm& soft, float& m, float& boson_pt) {
  const DrellYanSlices::Draw slice = slices.draw(d);
  event.weight_mc *= double(slice.weight);
  soft = slice.soft, boson_pt = slice.boson_pt;
  m = model.drell_yan_mass(d, slice.slice);
}

// Z/gamma* -> ee or mumu. Fake MET decides (~5% pass MET > 50 GeV), so the soft-term
// noise, the boson mass and pT come first: an upper bound on MET rejects ~60% of the
// attempts there, tighter ones (jet, then lepton responses drawn) bring the survivors
// to ~6% before any direction or decay is computed.
// With `sliced` (the preselection on, not pseudo-data) the soft term and the boson pT
// come from DrellYanSlices and the event weighs P/q.
bool generate_drell_yan_light(const Model& model, BackgroundId id, bool preselection, bool sliced, Draws& d,
                              RecoEvent& event) {
  event.weight_mc = draw_weight_sign(d, kBackgrounds[id].negative_fraction);
  SoftTerm soft;
  float m, boson_pt;
  if (sliced) {
    draw_drell_yan_slice(model, model.drell_yan_slices, d, event, soft, m, boson_pt);
  } else {
    soft = draw_soft_term(d);
    m = model.drell_yan_mass(d);
    boson_pt = d.lomax4(kBosonPtScale);
  }
  const Flavour flavour = id == kDrellYanEE ? kElectron : kMuon;
  // The bounds tighten as the responses are drawn: none, jets, then leptons.
  // E_T <= m + pT saves a square root on every attempt.
  const float et_cap = m + boson_pt;
  const float lepton_unit_cap = lepton_resolution(flavour, et_cap) * et_cap;  // per unit |z|
  if (preselection &&
      is_below(soft.noise + kMaxAbsNormal * lepton_unit_cap + recoil_mismeasurement_cap(boson_pt), kMetMin))
    return false;
  const RecoilPlan plan = plan_recoil_jets(d, boson_pt);
  const float jet_cap = plan.mismeasurement_bound();
  if (preselection && is_below(soft.noise + kMaxAbsNormal * lepton_unit_cap + jet_cap, kMetMin)) return false;
  const float z1 = d.normal(), z2 = d.normal();
  const float lepton_cap = std::max(std::fabs(z1), std::fabs(z2)) * lepton_unit_cap;
  if (preselection && is_below(soft.noise + lepton_cap + jet_cap, kMetMin)) return false;

  Work w;
  float c, s;
  d.azimuth(c, s);
  const float y = rapidity_max(m) * d.triangular();
  const P4 boson = make_system(m, boson_pt, c, s, y);
  build_recoil_jets(d, w, plan, boson.px, boson.py, y);
  reconstruct_jets(d, w);
  if (preselection && is_below(soft.noise + lepton_cap + w.mismeasurement(), kMetMin)) return false;

  const float cos_t = draw_cos_one_plus_c2(d);
  float dc, ds;
  d.azimuth(dc, ds);
  P4 l1, l2;
  decay_two_body(boson, m, 0, 0, cos_t, dc, ds, l1, l2);
  const int charge = d.bits() & 1u ? 1 : -1;
  w.add_lepton(l1, charge, flavour, z1);
  w.add_lepton(l2, -charge, flavour, z2);
  Pending pending;
  pending.soft_drawn = true, pending.soft = soft;
  return finish_event(d, w, pending, preselection, event);
}

// Z/gamma* -> tautau -> l l + 4 nu. Here the soft leptons decide (~4% have two above
// 20 GeV): visible fractions and the decay come first, the MET bound after.
bool generate_drell_yan_tautau(const Model& model, bool preselection, bool sliced, Draws& d, RecoEvent& event) {
  event.weight_mc = draw_weight_sign(d, kBackgrounds[kDrellYanTauTau].negative_fraction);
  SoftTerm soft{};
  float m, boson_pt;
  if (sliced) {
    draw_drell_yan_slice(model, model.tautau_slices, d, event, soft, m, boson_pt);
  } else {
    m = model.drell_yan_mass(d);
    boson_pt = d.lomax4(kBosonPtScale);
  }
  const float pt_max = daughter_pt_max(std::sqrt(m * m + boson_pt * boson_pt), boson_pt);
  // A lepton of visible fraction x has at most x pt_max (1 + 5.89 sigma) measured pT.
  const float pt_reach = pt_max * (1.0f + kMaxAbsNormal * lepton_resolution(kMuon, pt_max));
  const float x1 = draw_tau_visible_fraction(d);
  if (preselection && is_below(x1 * pt_reach, kSignalLeptonPtMin)) return false;
  const float x2 = draw_tau_visible_fraction(d);
  if (preselection && is_below(x2 * pt_reach, kSignalLeptonPtMin)) return false;

  Work w;
  float c, s;
  d.azimuth(c, s);
  const float y = rapidity_max(m) * d.triangular();
  const P4 boson = make_system(m, boson_pt, c, s, y);
  const float cos_t = draw_cos_one_plus_c2(d);
  float dc, ds;
  d.azimuth(dc, ds);
  P4 t1, t2;
  decay_two_body(boson, m, 0, 0, cos_t, dc, ds, t1, t2);
  const int charge = d.bits() & 1u ? 1 : -1;
  const Flavour f1 = draw_tau_kind(d) == LeptonKind::tau_e ? kElectron : kMuon;
  if (!w.add_lepton(t1.scaled(x1), charge, f1, d.normal()).signal_capable() && preselection) return false;
  const Flavour f2 = draw_tau_kind(d) == LeptonKind::tau_e ? kElectron : kMuon;
  if (!w.add_lepton(t2.scaled(x2), -charge, f2, d.normal()).signal_capable() && preselection) return false;
  w.add_invisible(t1.scaled(1.0f - x1));
  w.add_invisible(t2.scaled(1.0f - x2));

  // Both leptons will be reconstructed: MET <= |inv + their mismeasurement| + noise + jets.
  if (!sliced) soft = draw_soft_term(d);
  const RecoilPlan plan = plan_recoil_jets(d, boson_pt);
  if (preselection) {
    float vx = w.inv_x, vy = w.inv_y;
    for (int i = 0; i < 2; ++i) {
      const TruthLepton& l = w.leptons[i];
      const float lost = 1.0f - l.reco_pt / l.pt;
      vx += lost * l.p.px, vy += lost * l.p.py;
    }
    if (is_below(std::sqrt(vx * vx + vy * vy) + soft.noise + plan.mismeasurement_bound(), kMetMin)) return false;
  }
  build_recoil_jets(d, w, plan, boson.px, boson.py, y);
  Pending pending;
  pending.soft_drawn = true, pending.soft = soft;
  return finish_event(d, w, pending, preselection, event);
}

// Signal: Z' (m, Gamma = 3% m) -> ll recoiling against the dark-matter pair system
// (pT_X) and ISR (jets balance the ISR); MET truth = pT_X.
bool generate_signal(const SignalPoint& p, bool preselection, Draws& d, RecoEvent& event) {
  event.weight_mc = 1.0;
  const Flavour f = p.final_state == 0 ? kElectron : kMuon;
  const SoftTerm soft = draw_soft_term(d);
  const float m = p.line_shape(d.uniform());
  const float x_pt = d.lomax4(p.recoil_scale);
  const float isr_pt = d.lomax4(kSignalIsrPtScale);
  float xc, xs, ic, is;
  d.azimuth(xc, xs);
  d.azimuth(ic, is);
  const float zp_px = isr_pt * ic - x_pt * xc, zp_py = isr_pt * is - x_pt * xs;
  const float zp_pt = std::sqrt(zp_px * zp_px + zp_py * zp_py);
  const float et = std::sqrt(m * m + zp_pt * zp_pt);
  if (preselection && is_below(soft.noise + x_pt + lepton_mismeasurement_cap(et, kMaxAbsNormal, f) +
                                   recoil_mismeasurement_cap(isr_pt),
                               kMetMin))
    return false;
  Work w;
  w.inv_x = x_pt * xc, w.inv_y = x_pt * xs;
  const float y = rapidity_max(et) * d.triangular();
  const float inv_pt = zp_pt > 0 ? 1.0f / zp_pt : 0.0f;
  const P4 zprime = make_system(m, zp_pt, zp_pt > 0 ? zp_px * inv_pt : 1.0f, zp_py * inv_pt, y);
  const float cos_t = draw_cos_one_plus_c2(d);
  float dc, ds;
  d.azimuth(dc, ds);
  P4 l1, l2;
  decay_two_body(zprime, m, 0, 0, cos_t, dc, ds, l1, l2);
  const int charge = d.bits() & 1u ? 1 : -1;
  if (!w.add_lepton(l1, charge, f, d.normal()).signal_capable() && preselection) return false;
  if (!w.add_lepton(l2, -charge, f, d.normal()).signal_capable() && preselection) return false;
  Pending pending;
  pending.recoil = true, pending.recoil_px = isr_pt * ic, pending.recoil_py = isr_pt * is, pending.recoil_y = y;
  pending.soft_drawn = true, pending.soft = soft;
  return finish_event(d, w, pending, preselection, event);
}

// t -> W b with W -> l nu: W direction isotropic in the top rest frame, the charged
// lepton in the W rest frame distributed by the W helicity (F0 = 0.7, F_L = 0.3)
// about the W flight direction; both boosted to the lab. Returns the charged lepton.
const TruthLepton& decay_top(const Model& model, Draws& d, Work& w, const P4& top, float m_top, int charge) {
  const float m_w = model.w_on_shell(d.uniform());
  const float p = two_body_momentum(m_top, m_w, kMassB);
  const float cos_w = 2.0f * d.uniform() - 1.0f, sin_w = std::sqrt(std::max(0.0f, 1.0f - cos_w * cos_w));
  float cw, sw;
  d.azimuth(cw, sw);
  const float nx = sin_w * cw, ny = sin_w * sw, nz = cos_w;  // W direction in the top frame
  const P4 w_rest{p * nx, p * ny, p * nz, std::sqrt(p * p + m_w * m_w)};
  const P4 b_rest{-p * nx, -p * ny, -p * nz, std::sqrt(p * p + kMassB * kMassB)};

  // Helicity angle: longitudinal (1 - c^2): c = 2 median(u1,u2,u3) - 1; left-handed
  // (1 - c)^2 for l+ (1 + c)^2 for l-: c = -+(2 max(u1,u2,u3) - 1).
  const uint32_t a = d.bits(), b = d.bits();
  const float u1 = Draws::high_half(a), u2 = Draws::low_half(a), u3 = Draws::high_half(b);
  float c;
  if (Draws::low_half(b) < kTopWLongitudinal) {
    c = 2.0f * std::max(std::min(u1, u2), std::min(std::max(u1, u2), u3)) - 1.0f;
  } else {
    c = 2.0f * std::max({u1, u2, u3}) - 1.0f;
    if (charge > 0) c = -c;
  }
  const float sc = std::sqrt(std::max(0.0f, 1.0f - c * c));
  float lc, ls;
  d.azimuth(lc, ls);
  // Local (sc lc, sc ls, c) about the z axis, rotated so that z -> n.
  const float lx = sc * lc, ly = sc * ls;
  const float t = cos_w * lx + sin_w * c;
  const float dx = cw * t - sw * ly, dy = sw * t + cw * ly, dz = -sin_w * lx + cos_w * c;
  const float e = 0.5f * m_w;
  const Boost w_to_top(w_rest, m_w), top_to_lab(top, m_top);
  const P4 lepton = top_to_lab(w_to_top({e * dx, e * dy, e * dz, e}));
  w.add_invisible(top_to_lab(w_to_top({-e * dx, -e * dy, -e * dz, e})));
  w.add_jet(top_to_lab(b_rest), draw_jet_response(d), true);
  return add_charged_lepton(d, w, lepton, charge, draw_w_lepton_kind(d));
}

// A produced pair (m1, m2) with system mass m1 + m2 + Lomax, pT Lomax and triangular
// rapidity; the pair is isotropic in the system frame. Returns the system.
P4 produce_pair(Draws& d, float m1, float m2, float mass_scale, float pt_scale, P4& v1, P4& v2, float& y) {
  const float m = m1 + m2 + d.lomax4(mass_scale);
  const float pt = d.lomax4(pt_scale);
  float c, s;
  d.azimuth(c, s);
  y = rapidity_max(m) * d.triangular();
  const P4 sys = make_system(m, pt, c, s, y);
  float dc, ds;
  d.azimuth(dc, ds);
  decay_two_body(sys, m, m1, m2, 2.0f * d.uniform() - 1.0f, dc, ds, v1, v2);
  return sys;
}

// Isotropic two-body decay of a boson of mass m into massless daughters.
void decay_isotropic(Draws& d, const P4& boson, float m, P4& d1, P4& d2) {
  float c, s;
  d.azimuth(c, s);
  decay_two_body(boson, m, 0, 0, 2.0f * d.uniform() - 1.0f, c, s, d1, d2);
}

const TruthLepton& decay_w_to_leptons(Draws& d, Work& w, const P4& boson, float m, int charge) {
  P4 l, nu;
  decay_isotropic(d, boson, m, l, nu);
  w.add_invisible(nu);
  return add_charged_lepton(d, w, l, charge, draw_w_lepton_kind(d));
}

// Returns whether both leptons could be signal leptons.
bool decay_z_to_leptons(Draws& d, Work& w, const P4& boson, float m) {
  P4 l1, l2;
  decay_isotropic(d, boson, m, l1, l2);
  LeptonKind k1, k2;
  draw_z_lepton_kinds(d, k1, k2);
  const int charge = d.bits() & 1u ? 1 : -1;
  const bool capable1 = add_charged_lepton(d, w, l1, charge, k1).signal_capable();
  return add_charged_lepton(d, w, l2, -charge, k2).signal_capable() && capable1;
}

int draw_w_charge(Draws& d) noexcept { return d.uniform() < 0.58f ? 1 : -1; }  // W+ : W- ~ 1.4 at 13 TeV

// ttbar and dibosons: decays first; in processes with exactly two true leptons each
// must be a signal lepton, checked as soon as it exists. Jets and the soft term are
// drawn by finish_event, after the lepton preselection.
bool generate_pair_background(const Model& model, BackgroundId id, bool preselection, Draws& d, RecoEvent& event) {
  event.weight_mc = draw_weight_sign(d, kBackgrounds[id].negative_fraction);
  Work w;
  float y = 0;
  P4 v1, v2, sys;
  switch (id) {
    case kTtbar: {
      const float m1 = model.top(d.uniform()), m2 = model.top(d.uniform());
      sys = produce_pair(d, m1, m2, kTtbarMassScale, kTtbarPtScale, v1, v2, y);
      if (!decay_top(model, d, w, v1, m1, +1).signal_capable() && preselection) return false;
      if (!decay_top(model, d, w, v2, m2, -1).signal_capable() && preselection) return false;
      break;
    }
    case kWW: {
      const float m1 = model.w_on_shell(d.uniform()), m2 = model.w_on_shell(d.uniform());
      sys = produce_pair(d, m1, m2, kDibosonMassScale, kDibosonPtScale, v1, v2, y);
      if (!decay_w_to_leptons(d, w, v1, m1, +1).signal_capable() && preselection) return false;
      if (!decay_w_to_leptons(d, w, v2, m2, -1).signal_capable() && preselection) return false;
      break;
    }
    case kWZ: {
      const float m1 = model.w_on_shell(d.uniform()), m2 = model.z_on_shell(d.uniform());
      sys = produce_pair(d, m1, m2, kDibosonMassScale, kDibosonPtScale, v1, v2, y);
      decay_w_to_leptons(d, w, v1, m1, draw_w_charge(d));
      decay_z_to_leptons(d, w, v2, m2);
      break;
    }
    case kZZ2l2nu: {
      const float m1 = model.z_on_shell(d.uniform()), m2 = model.z_on_shell(d.uniform());
      sys = produce_pair(d, m1, m2, kDibosonMassScale, kDibosonPtScale, v1, v2, y);
      if (!decay_z_to_leptons(d, w, v1, m1) && preselection) return false;
      w.add_invisible(v2);  // Z -> nu nu: the neutrinos carry the whole Z
      break;
    }
    case kZZ4l: {
      const float m1 = model.z_on_shell(d.uniform()), m2 = model.z_on_shell(d.uniform());
      sys = produce_pair(d, m1, m2, kDibosonMassScale, kDibosonPtScale, v1, v2, y);
      decay_z_to_leptons(d, w, v1, m1);
      decay_z_to_leptons(d, w, v2, m2);
      break;
    }
    default: throw InternalError(fmt::format("dilepton_met: {} is not a pair process", int(id)));
  }
  Pending pending;
  pending.recoil = true, pending.recoil_px = sys.px, pending.recoil_py = sys.py, pending.recoil_y = y;
  return finish_event(d, w, pending, preselection, event);
}

// W -> l nu plus one jet that fakes a lepton: the leading recoil jet if there is one,
// else a soft jet (pT 10 GeV + Lomax(60 GeV)); the fake takes 50-95% of the jet pT
// (the rest is in the soft term), flavour e (60%) or mu, random charge. The fake,
// which decides the preselection most often, is drawn before the W decay.
bool generate_w_jets_fake(const Model& model, bool preselection, Draws& d, RecoEvent& event) {
  event.weight_mc = draw_weight_sign(d, kBackgrounds[kWJetsFake].negative_fraction);
  const float m = model.w_on_shell(d.uniform());
  const float boson_pt = d.lomax4(kBosonPtScale);
  const RecoilPlan plan = plan_recoil_jets(d, boson_pt);
  const float source_pt = plan.n > 0 ? plan.pt[0] : 10.0f + d.lomax4(60.0f);
  const uint32_t b = d.bits();
  const float x = 0.5f + 0.45f * Draws::high_half(b);
  const Flavour fake_flavour = Draws::low_half(b) < 0.6f ? kElectron : kMuon;
  const float z = d.normal();
  if (preselection &&
      is_below(x * source_pt * (1.0f + lepton_resolution(fake_flavour, x * source_pt) * z), kSignalLeptonPtMin))
    return false;

  Work w;
  float c, s;
  d.azimuth(c, s);
  const float y = rapidity_max(m) * d.triangular();
  const P4 boson = make_system(m, boson_pt, c, s, y);
  build_recoil_jets(d, w, plan, boson.px, boson.py, y);
  P4 source;
  if (plan.n > 0) {
    source = w.jets[0].p;  // the leading recoil jet becomes the fake
    std::copy(w.jets.begin() + 1, w.jets.begin() + w.n_jets, w.jets.begin());
    --w.n_jets;
  } else {
    float jc, js;
    d.azimuth(jc, js);
    source = make_system(0, source_pt, jc, js, 2.5f * d.triangular());
  }
  if (!w.add_lepton(source.scaled(x), (b & 1u) ? 1 : -1, fake_flavour, z).signal_capable() && preselection)
    return false;
  if (!decay_w_to_leptons(d, w, boson, m, draw_w_charge(d)).signal_capable() && preselection) return false;
  return finish_event(d, w, Pending{}, preselection, event);
}

// ===========================================================================
// Channel
// ===========================================================================
class DileptonMetChannel final : public Channel {
 public:
  std::string name() const override { return "dilepton_met"; }
  std::string description() const override {
    return "dilepton + MET at 13 TeV (analysis A, mono-Z' dark matter): Drell-Yan (ee, mumu, tautau), ttbar, "
           "WW, WZ, ZZ, W+jets with a fake lepton, and 144 mono-Z' signals (LV/DH/EFT x LDS/HDS x "
           "130-1500 GeV x ee/mumu); preselection: exactly two leptons with pT > 20 GeV and MET > 50 GeV";
  }
  RecoContent content() const override { return {.leptons = true, .jets = true, .large_jets = false}; }

  std::vector<SampleDefinition> samples(const GeneratorOptions& options) const override {
    for (const auto& [key, value] : options.parameters)
      if (key != kSlicesParameter || (value != 0 && value != 1))
        throw InputError(fmt::format("--parameter {}={}: the dilepton_met channel knows only {}=0|1 (1, the "
                                     "default: Drell-Yan ee/mumu drawn in weighted slices when the preselection "
                                     "is on; 0: unit weights, ~20x slower)",
                                     key, value, kSlicesParameter));
    const double lumi_ipb = options.lumi_ifb * 1000.0;
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
      s.info.parameters = {{"inclusive_cross_section_pb", b.inclusive_pb},
                           {"branching_ratio", b.branching_ratio},
                           {"negative_weight_fraction", b.negative_fraction}};
      if (b.process == std::string_view("drell_yan"))
        s.info.parameters.push_back({"met_tail_calibration", std::string(kMetTailCalibration)});
      if (b.process == std::string_view("drell_yan") && slices_on(options))
        s.info.parameters.push_back({"generator_slices", (i == kDrellYanTauTau ? model_.tautau_slices
                                                                                 : model_.drell_yan_slices)
                                                             .description()});
      s.n_events = counts[i];
      s.process = i;
      s.expected_events_hint = s.info.cross_section_pb * s.info.k_factor * s.info.filter_efficiency * lumi_ipb;
      out.push_back(std::move(s));
    }
    for (int i = 0; i < kNumSignals; ++i) {
      const SignalPoint& p = model_.signals[i];
      SampleDefinition s;
      s.info.name = p.name;
      s.info.dsid = kSignalDsidBase + uint32_t(i);
      s.info.process = "mono_zprime";
      s.info.role = Role::signal;
      s.info.cross_section_pb = p.cross_section_pb;
      s.info.parameters = {{"theory", std::string(kTheories[p.theory])},
                           {"dark_sector", std::string(kSectors[p.sector])},
                           {"m_zprime_GeV", p.m_zprime},
                           {"m_chi_GeV", p.m_chi},
                           {"zprime_width_GeV", kZprimeWidthRatio * p.m_zprime},
                           {"final_state", std::string(kFinalStates[p.final_state])},
                           {"cross_section_calibration", std::string(kCrossSectionCalibration[p.theory])}};
      for (const ReferenceYields& r : kReferenceYields)
        if (r.theory == p.theory && r.final_state == p.final_state && p.sector == 1 && p.mass_index == 0)
          s.info.parameters.insert(s.info.parameters.end(),
                                   {{"reference", std::string(kReferenceSource)},
                                    {"reference_signal_preselection", r.signal_preselection},
                                    {"reference_signal_after_cuts", r.signal_after_cuts},
                                    {"reference_background_preselection", r.background_preselection},
                                    {"reference_background_after_cuts", r.background_after_cuts},
                                    {"reference_z", r.z}});
      s.n_events = options.signal_events;
      s.process = kSignalProcessBase + i;
      s.expected_events_hint = p.cross_section_pb * lumi_ipb;
      out.push_back(std::move(s));
    }
    return out;
  }

  // The slices serve the preselected sample only: without the preselection every event
  // is stored anyway.
  static bool slices_on(const GeneratorOptions& options) {
    return options.preselection && (options.parameters.empty() || options.parameter(kSlicesParameter, 1) != 0);
  }

  bool generate(const SampleDefinition& sample, const GeneratorOptions& options, CounterRng& rng,
                RecoEvent& event) const override {
    Draws d(rng);
    const int process = sample.process;
    if (process >= kSignalProcessBase && process < kSignalProcessBase + kNumSignals)
      return generate_signal(model_.signals[process - kSignalProcessBase], options.preselection, d, event);
    const bool preselection = options.preselection;
    switch (process) {
      case kDrellYanEE:
      case kDrellYanMuMu:
        return generate_drell_yan_light(model_, BackgroundId(process), preselection,
                                        slices_on(options) && !options.drawing_pseudo_data, d, event);
      case kDrellYanTauTau:
        return generate_drell_yan_tautau(model_, preselection, slices_on(options) && !options.drawing_pseudo_data, d,
                                         event);
      case kWJetsFake: return generate_w_jets_fake(model_, preselection, d, event);
      case kTtbar:
      case kWW:
      case kWZ:
      case kZZ2l2nu:
      case kZZ4l: return generate_pair_background(model_, BackgroundId(process), preselection, d, event);
      default:
        throw InternalError(
            fmt::format("dilepton_met: sample '{}' has unknown process id {}", sample.info.name, process));
    }
  }

 private:
  // Shares of options.background_events (see kMinBackgroundShare).
  static std::vector<uint64_t> background_counts(const GeneratorOptions& options) {
    const double lumi_ipb = options.lumi_ifb * 1000.0;
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

std::unique_ptr<Channel> make_dilepton_met_channel() { return std::make_unique<DileptonMetChannel>(); }

namespace dilepton_met_detector {
double electron_resolution(double pt) noexcept { return lepton_resolution(kElectron, float(pt)); }
double muon_resolution(double pt) noexcept { return lepton_resolution(kMuon, float(pt)); }
double jet_resolution(double e) noexcept { return physics::jet_resolution(float(e)); }
double soft_term_resolution() noexcept { return kSoftResolution; }
}  // namespace dilepton_met_detector

}  // namespace bsmhunt::physics
