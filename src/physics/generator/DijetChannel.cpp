// Generator channel "dijet": QCD dijets and a resonance A -> B C -> J J in two
// large-R jets, for the CWoLa hunting search (analysis D; Collins, Howe, Nachman,
// arXiv:1805.02664 and 1902.02634; ATLAS, arXiv:2005.02983).
//
// The channel parametrises the *reconstructed* dijet system: the background m_JJ is
// drawn from the dijet function f3 (the function experiments fit to their observed
// spectra), the signal m_JJ from a narrow Breit-Wigner times the dijet mass
// resolution. The two jets are then built around that m_JJ: per-jet pT smearing
// shows up as pT imbalance, and a common pT scale is solved for so that the stored
// jets (pt, eta, phi, m) have exactly the drawn m_JJ. So a test (or a user) knows
// the exact m_JJ density of the stored background.
//
// QCD jet substructure: jet mass from a leading-log Sudakov form (Rayleigh in
// L = ln(m_max^2/m^2), quark or gluon width) with a mild pT dependence of m_max, a
// few per cent of hard wide-angle splittings reaching up to ~pT R / 2, and a random
// non-perturbative mass added in quadrature; tau21 from a broad Beta distribution,
// lowered for heavier jets (heavy QCD jets come from hard splittings and look more
// two-prong). The bulk of these features depends only weakly on m_JJ, as CWoLa needs.
// Signal jets: masses m_B and m_C, tau21 from a Beta peaked near 0.3 (two-prong).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/physics/generator/Channel.hpp"

namespace bsmhunt::physics {

namespace {

using namespace bsmhunt::units;

// ---------------------------------------------------------------------------
// Constants of the channel (GeV, pb). Every number the physics depends on is here.
// ---------------------------------------------------------------------------
// QCD process (fiducial: m_JJ in [kMjjMin, kMjjMax], |dy| < kMaxAbsDeltaY, |y_jet| < kMaxAbsRapidity)
constexpr double kMjjMin = 1.5 * TeV;
constexpr double kMjjMax = 10.0 * TeV;          // f3 has < 1e-9 of its mass above
constexpr double kF3P2 = 10.0;                  // f3 = p1 (1 - x)^p2 x^-p3, x = m_JJ / sqrt(s)
constexpr double kF3P3 = 5.0;
constexpr double kQcdCrossSectionPb = 40.0;     // estimate from 13 TeV dijet spectra (tens of pb)
constexpr double kMaxAbsDeltaY = 1.3;           // as the CMS wide-jet search; preselection tightens to 1.2
constexpr double kMaxAbsRapidity = 2.0;
constexpr double kBoostRangePerLog = 0.85;      // |y_boost| < 0.85 ln(sqrt(s)/m_JJ): parton luminosities
constexpr double kGluonJetFraction = 0.5;       // kept constant in m_JJ: features nearly independent of it
// QCD jet mass: m = sqrt(m_pert^2 + m_np^2), m_pert = m_max exp(-L/2), L Rayleigh with width sigma_L
// (LL Sudakov: P(L > l) = exp(-l^2 / (2 sigma_L^2)), sigma_L = 1/sqrt(C alpha_s / pi)).
constexpr double kQuarkSudakovWidth = 3.9;
constexpr double kGluonSudakovWidth = 2.6;      // quark / gluon = sqrt(C_A / C_F) = 1.5
constexpr double kJetMassCeiling = 300 * GeV;   // m_max at jet pT = 1 TeV (groomed-jet scale)
constexpr double kCeilingPtPower = 0.10;        // m_max ~ pT^0.1: weak growth, as for groomed jets
constexpr double kCeilingPtReference = 1 * TeV;
constexpr double kNonPerturbativeMass = 20 * GeV;  // mean; spread by kNonPerturbativeSpread
constexpr double kNonPerturbativeSpread = 0.35;
// Hard wide-angle splittings (beyond the LL Sudakov): ln m from kHardSplittingMinMass up to the
// kinematic reach m ~ pT R / 2 ~ 0.22 m_JJ, with a density in ln m falling linearly to zero at the
// reach (the LL emission density ~ alpha_s L). They populate the heavy-jet tail where signals sit.
constexpr double kQuarkHardSplitting = 0.04, kGluonHardSplitting = 0.09;  // ratio ~ C_A / C_F
constexpr double kHardSplittingMinMass = 80 * GeV;
constexpr double kHardSplittingMaxMassOverMjj = 0.22;
// QCD tau21: Beta(a, b), then tau21 -> tau21^gamma, gamma = 1 + k ln(m / pivot) (heavier: lower tau21)
constexpr double kQcdTau21A = 5.5, kQcdTau21B = 3.0;  // mean 0.65, sd 0.15
constexpr double kTau21MassPower = 0.15;
constexpr double kTau21MassPivot = 50 * GeV;
// Signal A -> B C -> J J
constexpr double kDefaultMassA = 3500 * GeV, kDefaultMassB = 500 * GeV, kDefaultMassC = 100 * GeV;
constexpr double kWidthOverMassA = 0.01;        // narrow: the detector resolution dominates
constexpr double kBreitWignerWindow = 0.10;     // truncation at m_A (1 +- 0.10)
constexpr double kSignalCrossSectionPb = 1 * fb;  // sigma x BR, a benchmark choice (inject with a strength)
constexpr double kSignalTau21A = 4.0, kSignalTau21B = 8.0;  // mode 0.30, mean 0.33
// Detector
constexpr double kJetPtResolution = 0.05;       // per jet; gives sigma(m_JJ)/m_JJ = 0.05/sqrt(2) = 3.5%
constexpr double kJetMassResolution = 0.10;
constexpr double kMetResolution = 0.5;          // sigma(MET_x,y) = 0.5 sqrt(sum ET / GeV) GeV
constexpr double kSoftSumEt = 150 * GeV;        // mean soft (underlying event, pile-up) sum ET
// Preselection (ATLAS 2005.02983-like)
constexpr double kPreselMaxAbsDeltaY = 1.2;
constexpr double kPreselMaxAbsEta = 2.0;
constexpr double kPreselLeadingPt = 500 * GeV;
constexpr double kPreselSubleadingPt = 200 * GeV;
constexpr double kPreselMjjMin = 1.5 * TeV;
// Sample bookkeeping
constexpr uint32_t kQcdDsid = 910000;
constexpr uint32_t kSignalDsidBase = 920000;   // + a hash of the name, so each mass point keeps its id
constexpr int kQcdProcess = 0, kSignalProcess = 1;

constexpr double kPi = std::numbers::pi;

// Inverse-CDF sampler of a 1-D density tabulated on fixed knots. The CDF is
// integrated once (Simpson per segment); a guide table finds the segment in O(1) on
// average; within a segment x is linear in u. Knots are fine enough that the
// density changes by about 1% or less across a segment. A Position can also
// interpolate companion tables on the same knots (e.g. log x), saving a log().
class TabulatedSampler {
 public:
  struct Position {
    std::size_t segment;
    double frac;
  };

  TabulatedSampler(std::vector<double> knots, const std::function<double(double)>& density)
      : x_(std::move(knots)), cdf_(x_.size(), 0.0) {
    for (std::size_t i = 0; i + 1 < x_.size(); ++i) {
      const double a = x_[i], b = x_[i + 1];
      cdf_[i + 1] = cdf_[i] + (b - a) / 6 * (density(a) + 4 * density(0.5 * (a + b)) + density(b));
    }
    const double total = cdf_.back();
    if (!(total > 0)) throw InternalError("TabulatedSampler: density integrates to zero");
    for (double& c : cdf_) c /= total;
    cdf_.back() = 1.0;
    inv_dp_.resize(x_.size() - 1);
    for (std::size_t i = 0; i + 1 < x_.size(); ++i) {
      const double dp = cdf_[i + 1] - cdf_[i];
      inv_dp_[i] = dp > 0 ? 1.0 / dp : 0.0;
    }
    // guide_[k]: the last segment starting at or below k / size; 4 cells per knot
    // make the forward search below almost always stop at once.
    guide_.resize(4 * x_.size());
    std::size_t segment = 0;
    for (std::size_t k = 0; k < guide_.size(); ++k) {
      const double u = double(k) / double(guide_.size());
      while (segment + 2 < x_.size() && cdf_[segment + 1] <= u) ++segment;
      guide_[k] = uint32_t(segment);
    }
  }

  // u in (0, 1). The last CDF value is exactly 1 > u, so the search stops at the last segment.
  Position locate(double u) const noexcept {
    std::size_t i = guide_[std::min(std::size_t(u * double(guide_.size())), guide_.size() - 1)];
    i += cdf_[i + 1] <= u;  // the usual single step, without a mispredicted branch
    while (cdf_[i + 1] <= u) ++i;
    return {i, (u - cdf_[i]) * inv_dp_[i]};
  }
  double sample(double u) const noexcept { return lerp(x_, locate(u)); }
  const std::vector<double>& knots() const noexcept { return x_; }
  static double lerp(const std::vector<double>& table, Position p) noexcept {
    return table[p.segment] + p.frac * (table[p.segment + 1] - table[p.segment]);
  }
  // log of the knots (floored at `floor`), a companion table for lerp().
  std::vector<double> log_knots(double floor) const {
    std::vector<double> logs(x_.size());
    for (std::size_t i = 0; i < x_.size(); ++i) logs[i] = std::log(std::max(x_[i], floor));
    return logs;
  }

 private:
  std::vector<double> x_, cdf_, inv_dp_;
  std::vector<uint32_t> guide_;
};

std::vector<double> geometric_knots(double lo, double hi, std::size_t n) {
  std::vector<double> k(n);
  for (std::size_t i = 0; i < n; ++i) k[i] = lo * std::pow(hi / lo, double(i) / double(n - 1));
  k.back() = hi;
  return k;
}
std::vector<double> linear_knots(double lo, double hi, std::size_t n) {
  std::vector<double> k(n);
  for (std::size_t i = 0; i < n; ++i) k[i] = lo + (hi - lo) * double(i) / double(n - 1);
  k.back() = hi;
  return k;
}

double f3_density(double m) {
  const double x = m / sqrt_s;
  return std::pow(1.0 - x, kF3P2) * std::pow(x, -kF3P3);
}
std::function<double(double)> beta_density(double a, double b) {
  return [a, b](double x) { return std::pow(x, a - 1) * std::pow(1 - x, b - 1); };
}

// Single-precision exp/log where the result is stored as float anyway: about twice as fast.
double exp_f(double x) noexcept { return std::exp(float(x)); }
double log_f(double x) noexcept { return std::log(float(x)); }
// Uniform in (0, 1) from one 32-bit draw: enough resolution for all but m_JJ.
double unit32(CounterRng& rng) noexcept { return (double(rng.next_u32()) + 0.5) * 0x1p-32; }
// Symmetric triangular draw on (-1, 1): a cheap bell for the dijet boost.
double triangular(CounterRng& rng) noexcept { return unit32(rng) + unit32(rng) - 1.0; }
// Multiplicative detector response, kept positive.
double response(double resolution, double normal) noexcept { return std::max(1.0 + resolution * normal, 0.1); }

// One jet before the common pT scale is known.
struct JetSeed {
  double exp_rapidity;  // e^y: the rapidity enters only through sinh y
  double mass;          // reconstructed (smeared)
  double tau21;
  double response;      // pT response; the jet's pT is scale x response
};

// Common pT scale s (pT_i = s a_i) at which two jets back to back in phi with
// masses m1, m2 and rapidity difference dy have invariant mass m_jj:
//   m_jj^2 = m1^2 + m2^2 + 2 (mT1 mT2 cosh dy + pT1 pT2).
// Squaring gives a quadratic in P = s^2 with exactly one positive root when
// m_jj^2 - m1^2 - m2^2 > 2 cosh(dy) m1 m2 (room for the masses); otherwise the
// masses are scaled down to make room (far tails only).
double common_pt_scale(double m_jj, double cosh_dy, JetSeed& j1, JetSeed& j2) noexcept {
  const double mjj2 = m_jj * m_jj;
  const double room = (j1.mass * j1.mass + j2.mass * j2.mass + 2 * cosh_dy * j1.mass * j2.mass) / mjj2;
  if (room > 0.81) {
    const double shrink = 0.9 / std::sqrt(room);
    j1.mass *= shrink, j2.mass *= shrink;
  }
  const double a1 = j1.response, a2 = j2.response, m1s = j1.mass * j1.mass, m2s = j2.mass * j2.mass;
  const double d = mjj2 - m1s - m2s;
  const double qa = a1 * a1 * a2 * a2 * (1 - cosh_dy * cosh_dy);  // <= 0
  const double qb = -(d * a1 * a2 + cosh_dy * cosh_dy * (a1 * a1 * m2s + a2 * a2 * m1s));
  const double qc = 0.25 * d * d - cosh_dy * cosh_dy * m1s * m2s;
  // Stable form of the positive root (also right for qa = 0, i.e. dy = 0).
  const double p = 2 * qc / (-qb + std::sqrt(qb * qb - 4 * qa * qc));
  return std::sqrt(p);
}

struct SignalMasses {
  double a, b, c;
};

double required_double(const SampleInfo& info, std::string_view key) {
  const ParameterValue* v = info.parameter(key);
  if (!v || !std::holds_alternative<double>(*v))
    throw InternalError(fmt::format("dijet: sample '{}' lacks parameter {}", info.name, key));
  return std::get<double>(*v);
}

class DijetChannel final : public Channel {
 public:
  DijetChannel()
      : mjj_(geometric_knots(kMjjMin, kMjjMax, 2048), f3_density),
        mjj_log_(mjj_.log_knots(kMjjMin)),
        chi_(linear_knots(1.0, std::exp(kMaxAbsDeltaY), 256), [](double) { return 1.0; }),
        chi_log_(chi_.log_knots(1.0)),
        qcd_tau21_(linear_knots(0, 1, 1024), beta_density(kQcdTau21A, kQcdTau21B)),
        qcd_tau21_log_(qcd_tau21_.log_knots(1e-12)),
        signal_tau21_(linear_knots(0, 1, 1024), beta_density(kSignalTau21A, kSignalTau21B)),
        normal_(linear_knots(-6, 6, 1024), [](double z) { return std::exp(-0.5 * z * z); }),
        rayleigh_(linear_knots(0, 7, 1024), [](double r) { return r * std::exp(-0.5 * r * r); }) {}

  std::string name() const override { return "dijet"; }
  std::string description() const override {
    return "two large-R jets at 13 TeV: QCD dijets (f3-shaped m_JJ) and A -> B C -> J J resonances, for the "
           "CWoLa bump hunt";
  }
  RecoContent content() const override { return {.leptons = false, .jets = false, .large_jets = true}; }

  std::vector<SampleDefinition> samples(const GeneratorOptions& options) const override {
    check_parameter_names(options);
    const SignalMasses m{options.parameter("m_A_GeV", kDefaultMassA), options.parameter("m_B_GeV", kDefaultMassB),
                         options.parameter("m_C_GeV", kDefaultMassC)};
    check_signal_masses(m);
    const double lumi_ipb = options.lumi_ifb * invfb;

    SampleDefinition qcd;
    qcd.info.name = "qcd_dijet";
    qcd.info.dsid = kQcdDsid;
    qcd.info.process = "pp -> jj (QCD dijets, two large-R jets)";
    qcd.info.role = Role::background;
    qcd.info.cross_section_pb = kQcdCrossSectionPb;
    qcd.info.parameters = {{"mjj_function", std::string("f3 = p1 (1 - x)^p2 x^-p3, x = m_JJ / 13 TeV")},
                           {"mjj_f3_p2", kF3P2},
                           {"mjj_f3_p3", kF3P3},
                           {"mjj_min_GeV", kMjjMin / GeV},
                           {"mjj_max_GeV", kMjjMax / GeV},
                           {"max_abs_delta_y", kMaxAbsDeltaY},
                           {"max_abs_y", kMaxAbsRapidity},
                           {"gluon_jet_fraction", kGluonJetFraction}};
    qcd.n_events = options.background_events;
    qcd.process = kQcdProcess;
    qcd.expected_events_hint = kQcdCrossSectionPb * lumi_ipb;

    SampleDefinition signal;
    signal.info.name = fmt::format("signal_A{:g}_B{:g}_C{:g}", m.a / GeV, m.b / GeV, m.c / GeV);
    signal.info.dsid = kSignalDsidBase + uint32_t(stable_hash(signal.info.name.c_str()) % 80000);
    signal.info.process = "pp -> A -> B C, B -> qq, C -> qq (two two-prong large-R jets)";
    signal.info.role = Role::signal;
    signal.info.cross_section_pb = kSignalCrossSectionPb;
    // Only decays with |dy| < kMaxAbsDeltaY are generated: for an isotropic decay
    // (tanh(dy/2) = cos theta*) that is a fraction tanh(kMaxAbsDeltaY / 2).
    signal.info.filter_efficiency = std::tanh(0.5 * kMaxAbsDeltaY);
    signal.info.parameters = {{"m_A_GeV", m.a / GeV},
                              {"m_B_GeV", m.b / GeV},
                              {"m_C_GeV", m.c / GeV},
                              {"width_A_GeV", kWidthOverMassA * m.a / GeV},
                              {"max_abs_delta_y", kMaxAbsDeltaY}};
    signal.n_events = options.signal_events;
    signal.process = kSignalProcess;
    signal.expected_events_hint = kSignalCrossSectionPb * signal.info.filter_efficiency * lumi_ipb;
    return {qcd, signal};
  }

  bool generate(const SampleDefinition& sample, const GeneratorOptions& options, CounterRng& rng,
                RecoEvent& event) const override {
    event.weight_mc = 1.0;
    if (sample.process == kQcdProcess) return generate_qcd(options.preselection, rng, event);
    if (sample.process == kSignalProcess) return generate_signal(sample.info, options.preselection, rng, event);
    throw InternalError(fmt::format("dijet: unknown process id {} of sample '{}'", sample.process, sample.info.name));
  }

 private:
  static void check_parameter_names(const GeneratorOptions& options) {
    const std::vector<std::string> known = {"m_A_GeV", "m_B_GeV", "m_C_GeV"};
    for (const auto& [key, value] : options.parameters)
      if (std::find(known.begin(), known.end(), key) == known.end())
        throw InputError(fmt::format("--parameter {}: the dijet channel has no such parameter{}; it knows {}", key,
                                     did_you_mean(key, known), join(known, ", ")));
  }
  static void check_signal_masses(const SignalMasses& m) {
    if (!(m.a >= 1.6 * TeV && m.a <= 9 * TeV))
      throw InputError(fmt::format("--parameter m_A_GeV={:g}: must be within 1600..9000 GeV (the QCD sample "
                                   "covers m_JJ > 1.5 TeV)",
                                   m.a / GeV));
    if (!(m.b > 0 && m.c > 0))
      throw InputError(fmt::format("--parameter m_B_GeV={:g}, m_C_GeV={:g}: masses must be positive", m.b / GeV,
                                   m.c / GeV));
    // B and C must be boosted enough to each fit in one R = 1 jet (2 m / pT < R, pT ~ m_A / 2).
    if (!(m.b + m.c <= 0.5 * m.a))
      throw InputError(fmt::format("--parameter m_B_GeV + m_C_GeV = {:g} must be at most m_A_GeV / 2 = {:g} "
                                   "(B and C must each be contained in one large-R jet)",
                                   (m.b + m.c) / GeV, 0.5 * m.a / GeV));
  }

  double normal(CounterRng& rng) const noexcept { return normal_.sample(unit32(rng)); }

  // Places the jets in rapidity around a dijet boost: y1,2 = y_boost +- dy/2, with
  // |y_boost| limited by the parton luminosities (ln(sqrt(s)/m_JJ)) and |y_jet| < 2.
  static void place_in_rapidity(double log_mjj, double abs_dy, double exp_half_dy, CounterRng& rng, JetSeed& j1,
                                JetSeed& j2) noexcept {
    const double reach = std::min(kBoostRangePerLog * (std::log(sqrt_s) - log_mjj), kMaxAbsRapidity - 0.5 * abs_dy);
    const double exp_boost = exp_f(std::max(reach, 0.0) * triangular(rng));
    j1.exp_rapidity = exp_boost * exp_half_dy;
    j2.exp_rapidity = exp_boost / exp_half_dy;
  }

  // Scales the jets to m_jj, fills the event (pT-ordered jets, MET) and applies
  // the rest of the preselection.
  bool finish(double m_jj, double cosh_dy, JetSeed j1, JetSeed j2, bool preselection, CounterRng& rng,
              RecoEvent& event) const {
    const double scale = common_pt_scale(m_jj, cosh_dy, j1, j2);
    const double phi = kPi * (2 * unit32(rng) - 1);
    LargeJet jets[2];
    const JetSeed* seeds[2] = {&j1, &j2};
    for (int k = 0; k < 2; ++k) {
      const JetSeed& s = *seeds[k];
      const double pt = scale * s.response;
      // pz = mT sinh y; eta = asinh(pz / pT), written with one log.
      const double pz = std::sqrt(pt * pt + s.mass * s.mass) * 0.5 * (s.exp_rapidity - 1.0 / s.exp_rapidity);
      const double abs_eta = log_f((std::sqrt(pt * pt + pz * pz) + std::fabs(pz)) / pt);
      const double jet_phi = k == 0 ? phi : (phi >= 0 ? phi - kPi : phi + kPi);
      jets[k] = {float(pt), float(std::copysign(abs_eta, pz)), float(jet_phi), float(s.mass), float(s.tau21)};
    }
    if (jets[1].pt > jets[0].pt) std::swap(jets[0], jets[1]);
    // (m_JJ > 1.5 TeV and |dy| < 1.2 were checked by the caller, as early as possible.)
    if (preselection &&
        (std::fabs(jets[0].eta) >= kPreselMaxAbsEta || std::fabs(jets[1].eta) >= kPreselMaxAbsEta ||
         jets[0].pt <= kPreselLeadingPt || jets[1].pt <= kPreselSubleadingPt))
      return false;
    event.large_jets.push_back(jets[0]);
    event.large_jets.push_back(jets[1]);
    // No invisible particles: MET is resolution only (2-D Gaussian -> Rayleigh magnitude).
    const double sumet = double(jets[0].pt) + double(jets[1].pt) + kSoftSumEt * 2 * unit32(rng);
    event.met = float(kMetResolution * std::sqrt(sumet / GeV) * GeV * rayleigh_.sample(unit32(rng)));
    event.met_phi = float(kPi * (2 * unit32(rng) - 1));
    event.met_sumet = float(sumet);
    return true;
  }

  bool generate_qcd(bool preselection, CounterRng& rng, RecoEvent& event) const {
    // t-channel QCD is nearly flat in chi = exp|dy| (Rutherford-like); the table
    // gives |dy| = ln chi without a log(). m_JJ > 1.5 TeV holds by construction.
    const auto chi_at = chi_.locate(unit32(rng));
    const double chi = TabulatedSampler::lerp(chi_.knots(), chi_at);
    if (preselection && chi >= presel_max_chi_) return false;
    const double abs_dy = TabulatedSampler::lerp(chi_log_, chi_at);
    const auto mjj_at = mjj_.locate(rng.uniform());
    const double m_jj = TabulatedSampler::lerp(mjj_.knots(), mjj_at);
    const double log_mjj = TabulatedSampler::lerp(mjj_log_, mjj_at);
    const uint32_t flags = rng.next_u32(), splitting_bits = rng.next_u32();
    const double sqrt_chi = std::sqrt(chi);
    JetSeed j1{}, j2{};
    place_in_rapidity(log_mjj, abs_dy, (flags & 1u) ? sqrt_chi : 1.0 / sqrt_chi, rng, j1, j2);
    // Jet-mass ceiling grows weakly with the jet pT ~ m_JJ / 2.
    const double log_ceiling =
        std::log(kJetMassCeiling) + kCeilingPtPower * (log_mjj - std::log(2 * kCeilingPtReference));
    const double log_splitting_min = std::log(kHardSplittingMinMass);
    const double log_splitting_range =
        std::max(log_mjj + std::log(kHardSplittingMaxMassOverMjj) - log_splitting_min, 0.0);
    // Per jet, 15 random bits choose quark or gluon and 16 bits whether it had a hard splitting.
    const double flavour_u[2] = {double((flags >> 1) & 0x7FFFu) * 0x1p-15, double((flags >> 16) & 0x7FFFu) * 0x1p-15};
    const double splitting_u[2] = {double(splitting_bits & 0xFFFFu) * 0x1p-16, double(splitting_bits >> 16) * 0x1p-16};
    JetSeed* seeds[2] = {&j1, &j2};
    for (int k = 0; k < 2; ++k) {
      const bool gluon = flavour_u[k] < kGluonJetFraction;
      const double u = unit32(rng);
      double log_m_pert;
      if (splitting_u[k] < (gluon ? kGluonHardSplitting : kQuarkHardSplitting)) {
        log_m_pert = log_splitting_min + (1.0 - std::sqrt(u)) * log_splitting_range;
      } else {
        const double sudakov_log = (gluon ? kGluonSudakovWidth : kQuarkSudakovWidth) * rayleigh_.sample(u);
        log_m_pert = log_ceiling - 0.5 * sudakov_log;
      }
      const double m_pert = exp_f(log_m_pert);
      // Hadronisation and underlying event add a random few-tens-of-GeV mass in quadrature.
      const double m_np = kNonPerturbativeMass * std::max(1.0 + kNonPerturbativeSpread * normal(rng), 0.2);
      const double m_true = std::sqrt(m_pert * m_pert + m_np * m_np);
      const double log_m = std::max(log_m_pert, std::log(kNonPerturbativeMass));
      const double gamma = 1.0 + kTau21MassPower * (log_m - std::log(kTau21MassPivot));
      const auto tau_at = qcd_tau21_.locate(unit32(rng));
      seeds[k]->tau21 = exp_f(gamma * TabulatedSampler::lerp(qcd_tau21_log_, tau_at));
      seeds[k]->mass = m_true * response(kJetMassResolution, normal(rng));
      seeds[k]->response = response(kJetPtResolution, normal(rng));
    }
    return finish(m_jj, 0.5 * (chi + 1.0 / chi), j1, j2, preselection, rng, event);
  }

  bool generate_signal(const SampleInfo& info, bool preselection, CounterRng& rng, RecoEvent& event) const {
    // Isotropic decay in the A frame: tanh(dy/2) = cos theta*, uniform.
    const double cos_theta = std::tanh(0.5 * kMaxAbsDeltaY) * (2 * unit32(rng) - 1);
    const double exp_dy = (1 + cos_theta) / (1 - cos_theta);
    const double abs_dy = std::fabs(std::log(exp_dy));
    if (preselection && abs_dy >= kPreselMaxAbsDeltaY) return false;
    const SignalMasses m{required_double(info, "m_A_GeV") * GeV, required_double(info, "m_B_GeV") * GeV,
                         required_double(info, "m_C_GeV") * GeV};
    // Breit-Wigner by inversion, truncated to m_A (1 +- window).
    const double half_width = 0.5 * kWidthOverMassA * m.a;
    const double reach = std::atan(kBreitWignerWindow * m.a / half_width);
    const double m_true = m.a + half_width * std::tan(reach * (2 * unit32(rng) - 1));
    JetSeed jet_b{}, jet_c{};
    jet_b.response = response(kJetPtResolution, normal(rng));
    jet_c.response = response(kJetPtResolution, normal(rng));
    // Massless-jet dijet mass scales as sqrt(pT1 pT2): the m_JJ resolution follows from the jets'.
    const double m_jj = m_true * std::sqrt(jet_b.response * jet_c.response);
    if (preselection && m_jj <= kPreselMjjMin) return false;
    jet_b.mass = m.b * response(kJetMassResolution, normal(rng));
    jet_c.mass = m.c * response(kJetMassResolution, normal(rng));
    jet_b.tau21 = signal_tau21_.sample(unit32(rng));
    jet_c.tau21 = signal_tau21_.sample(unit32(rng));
    place_in_rapidity(std::log(m_jj), abs_dy, std::sqrt(exp_dy), rng, jet_b, jet_c);
    const double cosh_dy = (1 + cos_theta * cos_theta) / (1 - cos_theta * cos_theta);
    return finish(m_jj, cosh_dy, jet_b, jet_c, preselection, rng, event);
  }

  TabulatedSampler mjj_;
  std::vector<double> mjj_log_;
  TabulatedSampler chi_;
  std::vector<double> chi_log_;
  TabulatedSampler qcd_tau21_;
  std::vector<double> qcd_tau21_log_;
  TabulatedSampler signal_tau21_;
  TabulatedSampler normal_;
  TabulatedSampler rayleigh_;
  double presel_max_chi_ = std::exp(kPreselMaxAbsDeltaY);
};

}  // namespace

std::unique_ptr<Channel> make_dijet_channel() { return std::make_unique<DijetChannel>(); }

}  // namespace bsmhunt::physics
