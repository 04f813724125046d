// Channel "monojet": particle-level V+jets events at 13 TeV in boson-pT slices, the
// final state of analysis E (mono-jet dark matter: Z(->nu nu)+jets against
// W(->tau nu)+jets with CNNs on eta-phi images of the whole event).
//
// A fast parametric generator, not a shower Monte Carlo: the boson recoils against one
// or two partons; each parton is fragmented into charged hadrons, photons (from pi0)
// and neutral hadrons with multiplicities, energy shares, momentum fractions and
// angles from measurements (the tables below); taus decay by their PDG branching
// ratios with the polarised visible-energy spectra; an underlying event adds soft
// particles; jets are clustered from the particles with anti-kT R = 0.4 (FastJet).
// Missing ET is the true invisible momentum (neutrinos). docs/monojet.md explains
// every parameter and its source; none is tuned to make the classifiers' numbers.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/JetClustering.hpp"
#include "bsmhunt/physics/generator/Channel.hpp"

namespace bsmhunt::physics {
namespace {

constexpr double pi = std::numbers::pi;

// --- Masses and widths (GeV), PDG 2022 ---
constexpr double kMassZ = 91.1876, kWidthZ = 2.4952, kMassW = 80.379, kWidthW = 2.085;
constexpr double kMassTop = 172.5, kMassB = 4.8;
constexpr double kMassTau = 1.77686, kMassPi = 0.13957, kMassPi0 = 0.13498;
constexpr double kMassRho = 0.7753, kWidthRho = 0.1491, kMassA1 = 1.230, kWidthA1 = 0.420;
constexpr double kMassKL = 0.49761, kMassNeutron = 0.93957;

// --- Tau decays (PDG 2022 branching ratios); the K modes and the rarer ones (7.5%)
// are lumped into pi pi0 nu, the most similar topology. ---
enum class TauMode { electron, muon, one_pion, rho, a1_neutral, a1_charged, three_pi_pi0 };
struct TauBranch {
  TauMode mode;
  double br;
};
constexpr std::array<TauBranch, 7> kTauBranches = {{{TauMode::electron, 0.1782},
                                                    {TauMode::muon, 0.1739},
                                                    {TauMode::one_pion, 0.1082},
                                                    {TauMode::rho, 0.2549 + 0.0748},
                                                    {TauMode::a1_neutral, 0.0926},
                                                    {TauMode::a1_charged, 0.0899},
                                                    {TauMode::three_pi_pi0, 0.0274}}};
// Tau polarisation: -1 in W decays, -A_tau = -0.144 in Z decays (LEP).
constexpr double kTauPolarisationW = -1.0, kTauPolarisationZ = -0.144;

// --- Boson-pT slices (the samples of the study) with the power law of dsigma/dpT
// inside each, n = 1 - dln(sigma)/dln(pT) from the measured V+jets spectra. ---
struct Slice {
  const char* tag;
  double lo, hi, power;
};
constexpr std::array<Slice, 3> kSlices = {{{"pt280_500", 280, 500, 5.8},
                                           {"pt500_1000", 500, 1000, 6.9},
                                           {"pt1000", 1000, 0, 7.5}}};

// --- Processes and their cross sections per slice (pb), boson-pT slices: Z -> nu nu
// (all three flavours), W -> l nu and Z -> l l per lepton flavour (docs/monojet.md:
// from the CMS Z -> nu nu + jets measurement and W/Z ratios; +-30%). ---
enum Process : int { z_nunu, w_taunu, w_munu, w_enu, z_mumu, z_tautau, ttbar, diboson, kProcesses };
struct ProcessInfo {
  const char* name;
  const char* description;
  Role role;
  std::array<double, 3> cross_section_pb;  // per slice; ttbar and diboson: one sample (slice 0 value)
  double background_share;                 // of --events (they add up to 1; signal: --signal-events per slice)
  uint32_t dsid;
};
constexpr std::array<ProcessInfo, kProcesses> kProcessInfo = {{
    {"znunu", "Z(-> nu nu) + jets", Role::signal, {4.6, 0.29, 0.0050}, 0.0, 700100},
    {"wtaunu", "W(-> tau nu) + jets, tau -> anything", Role::background, {6.7, 0.41, 0.0068}, 0.45, 700110},
    {"wmunu", "W(-> mu nu) + jets", Role::background, {6.7, 0.41, 0.0068}, 0.15, 700120},
    {"wenu", "W(-> e nu) + jets", Role::background, {6.7, 0.41, 0.0068}, 0.15, 700130},
    {"zmumu", "Z(-> mu mu) + jets", Role::background, {0.77, 0.050, 0.00084}, 0.05, 700140},
    {"ztautau", "Z(-> tau tau) + jets", Role::background, {0.77, 0.050, 0.00084}, 0.05, 700150},
    {"ttbar", "ttbar -> b l nu + b q q, pT(W -> l nu) > 250 GeV", Role::background, {3.0, 0, 0}, 0.075, 700160},
    {"diboson", "WZ, ZZ, WW with one boson -> l nu / nu nu (pT > 250 GeV), the other -> q q", Role::background,
     {0.67, 0, 0}, 0.075, 700170},
}};
constexpr double kDibosonPtMin = 250, kDibosonPower = 5.5;  // the leptonic/invisible boson of ttbar and dibosons

// --- Recoil: one parton, or two (the second takes a share u of the boson pT,
// u uniform in [30 GeV / pT, 0.5]) with probability kSecondPartonProbability. ---
constexpr double kSecondPartonProbability = 0.5;
constexpr double kQuarkFractionLeading = 0.75, kQuarkFractionSecond = 0.5;
constexpr double kPartonRapiditySigma = 1.3, kBosonRapiditySigma = 1.2;

// --- Fragmentation (docs/monojet.md, section "Jets") ---
// <n_ch>(pT > 0.5 GeV) = a + b ln(pT/GeV) (ATLAS, arXiv:1602.00988), quark x0.85,
// gluon x1.15; negative binomial with k = 10.
constexpr double kNchA = -9.3, kNchB = 3.98, kNchQuark = 0.85, kNchGluon = 1.15, kNchK = 10;
// Energy shares: charged 65%, photons (pi0) 25%, neutral hadrons 10% (CMS particle flow),
// each share fluctuating as Gamma(20)/20 before normalisation.
constexpr double kShareCharged = 0.65, kSharePhotons = 0.25, kShareNeutral = 0.10, kShareShape = 20;
constexpr double kPi0PerCharged = 0.45, kNeutralPerCharged = 0.15;
// Momentum fractions: MLLA hump-backed plateau in xi = ln(1/x), Q0 = 0.25 GeV.
constexpr double kQ0 = 0.25, kMllaC = 0.29, kMllaWidth = 0.144;
// Angles: theta = pT_rel / (z pT_jet), pT_rel ~ Exp(1.3 GeV) (quark), 1.9 GeV (gluon): the scale
// that gives quark jets of 500 GeV the measured pT-weighted width 0.045 (Psi(0.1) ~ 0.75,
// ATLAS jet shapes), gluon jets 1.45 times wider.
constexpr double kPtRelQuark = 1.3, kPtRelGluon = 1.9, kJetRadius = 0.4;
constexpr double kParticlePtMin = 0.5;  // stored particles (the charged-particle measurements' threshold)

// --- Underlying event: 1.2 charged particles per unit eta-phi (pT > 0.5 GeV), mean
// pT 1.25 GeV (ATLAS/CMS 13 TeV transverse-region measurements), |eta| < 3. ---
constexpr double kUeChargedDensity = 1.2, kUeEtaMax = 3.0, kUePtMean = 0.75;

// --- Stored objects ---
constexpr double kLeptonPtMin = 7.0, kLeptonEtaMax = 2.5;  // electrons/muons collections (baseline leptons)
constexpr double kElectronJetOverlap = 0.2, kElectronIsolationCone = 0.4;  // ATLAS overlap removal
constexpr double kBTagEfficiency = 0.77;

// A hadron species of a fragmenting parton.
struct Species {
  int32_t pdg;
  double mass, share;
};
constexpr std::array<Species, 3> kChargedSpecies = {{{211, kMassPi, 0.85}, {321, 0.49368, 0.11}, {2212, 0.93827, 0.04}}};

struct Parton {
  FourVector p;
  bool quark = true;
  bool b = false;
};

// The event being built: visible particles, invisible momentum, partons to tag b-jets.
struct Build {
  std::vector<Particle>& particles;
  double invisible_px = 0, invisible_py = 0;
  std::vector<FourVector> b_partons;
  void add_visible(const FourVector& v, int8_t charge, int32_t pdg, int8_t em) {
    const double pt = v.pt();
    if (pt < kParticlePtMin) return;
    particles.push_back({float(pt), float(v.eta()), float(wrap_phi(v.phi())), charge, pdg, em});
  }
  void add_invisible(const FourVector& v) { invisible_px += v.px, invisible_py += v.py; }
};

double breit_wigner_mass(CounterRng& rng, double mass, double width, double lo, double hi) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const double m = mass + 0.5 * width * std::tan(pi * (rng.uniform() - 0.5));
    if (m > lo && m < hi) return m;
  }
  return std::clamp(mass, lo, hi);
}

// dsigma/dpT ~ pT^-n on [lo, hi) (hi = 0: open), by inversion.
double power_law(CounterRng& rng, double lo, double hi, double n) {
  const double a = 1 - n, u = rng.uniform();
  const double l = std::pow(lo, a), h = hi > 0 ? std::pow(hi, a) : 0.0;
  return std::pow(l + u * (h - l), 1 / a);
}

// Gamma(shape, 1) by Marsaglia-Tsang (shape >= 1).
double gamma_draw(CounterRng& rng, double shape) {
  const double d = shape - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  for (;;) {
    double x, v;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = rng.uniform();
    if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v;
  }
}

// The two-body decay of `parent` into masses m1, m2, isotropic in its rest frame.
std::pair<FourVector, FourVector> two_body(CounterRng& rng, const FourVector& parent, double m1, double m2) {
  const double M = std::max(parent.m(), m1 + m2 + 1e-9);
  const double p = std::sqrt(std::max(0.0, (M * M - (m1 + m2) * (m1 + m2)) * (M * M - (m1 - m2) * (m1 - m2)))) / (2 * M);
  const double cos_t = rng.uniform(-1, 1), phi = rng.uniform(0, 2 * pi);
  const double theta = std::acos(cos_t);
  const FourVector a = FourVector::from_p_theta_phi_m(p, theta, phi, m1);
  const FourVector b = FourVector::from_p_theta_phi_m(p, pi - theta, phi + pi, m2);
  const double bx = parent.px / parent.e, by = parent.py / parent.e, bz = parent.pz / parent.e;
  return {a.boosted(bx, by, bz), b.boosted(bx, by, bz)};
}

// A particle of momentum `p` along `axis` direction (unit) with mass m.
FourVector along(const FourVector& axis, double p, double m) {
  const double n = axis.p();
  return {p * axis.px / n, p * axis.py / n, p * axis.pz / n, std::sqrt(p * p + m * m)};
}

void add_pi0(CounterRng& rng, const FourVector& pi0, Build& b) {
  const auto [g1, g2] = two_body(rng, pi0, 0, 0);
  b.add_visible(g1, 0, 22, 1), b.add_visible(g2, 0, 22, 1);
}

// Visible-energy fraction x = E_vis / E_tau of a tau with polarisation P in the
// collinear limit (Bullock, Hagiwara, Martin 1993), by rejection.
double tau_visible_fraction(CounterRng& rng, TauMode mode, double m_vis, double P) {
  if (mode == TauMode::electron || mode == TauMode::muon) {
    // Michel spectrum of a massless lepton: (1/3)[5 - 9x^2 + 4x^3 + P(1 - 9x^2 + 8x^3)], max 5/3 + P/3 at x = 0.
    for (;;) {
      const double x = rng.uniform();
      const double f = (5 - 9 * x * x + 4 * x * x * x + P * (1 - 9 * x * x + 8 * x * x * x)) / 3;
      if (rng.uniform() * 2.0 < f) return x;
    }
  }
  const double r = m_vis * m_vis / (kMassTau * kMassTau);
  const double alpha = mode == TauMode::one_pion ? 1.0 : (1 - 2 * r) / (1 + 2 * r);
  for (;;) {
    const double x = rng.uniform(r, 1);
    const double f = 1 + alpha * P * (2 * x - 1 - r) / (1 - r);  // in [1 - |alpha P|, 1 + |alpha P|]
    if (rng.uniform() * 2.0 < f) return x;
  }
}

TauMode tau_mode(CounterRng& rng) {
  double u = rng.uniform(), sum = 0;
  for (const auto& b : kTauBranches) sum += b.br;
  u *= sum;
  for (const auto& b : kTauBranches) {
    if (u < b.br) return b.mode;
    u -= b.br;
  }
  return TauMode::rho;
}

// A tau decays: neutrinos carry (1 - x) of its momentum along its direction; the
// visible system (lepton, pi, rho, a1) carries x and decays into its particles.
void decay_tau(CounterRng& rng, const FourVector& tau, int charge, double P, Build& b) {
  const TauMode mode = tau_mode(rng);
  double m_vis = kMassPi;
  if (mode == TauMode::electron) m_vis = 0.000511;
  if (mode == TauMode::muon) m_vis = 0.10566;
  if (mode == TauMode::rho) m_vis = breit_wigner_mass(rng, kMassRho, kWidthRho, kMassPi + kMassPi0, kMassTau - 0.01);
  if (mode == TauMode::a1_neutral || mode == TauMode::a1_charged)
    m_vis = breit_wigner_mass(rng, kMassA1, kWidthA1, 3 * kMassPi + 0.01, kMassTau - 0.01);
  if (mode == TauMode::three_pi_pi0) m_vis = breit_wigner_mass(rng, 1.4, 0.3, 3 * kMassPi + kMassPi0 + 0.01, kMassTau - 0.01);
  const double x = tau_visible_fraction(rng, mode, m_vis, P);
  const double e_vis = std::max(x * tau.e, m_vis + 1e-6);
  const FourVector vis = along(tau, std::sqrt(e_vis * e_vis - m_vis * m_vis), m_vis);
  b.add_invisible(tau - vis);
  const int8_t q = int8_t(charge);
  switch (mode) {
    case TauMode::electron: b.add_visible(vis, q, charge < 0 ? 11 : -11, 1); return;
    case TauMode::muon: b.add_visible(vis, q, charge < 0 ? 13 : -13, 0); return;
    case TauMode::one_pion: b.add_visible(vis, q, 211 * charge, 0); return;
    case TauMode::rho: {
      const auto [pic, pi0] = two_body(rng, vis, kMassPi, kMassPi0);
      b.add_visible(pic, q, 211 * charge, 0);
      add_pi0(rng, pi0, b);
      return;
    }
    case TauMode::a1_neutral:
    case TauMode::a1_charged: {
      // a1 -> rho pi, rho -> pi pi (pi+- pi0 for the one-prong mode, pi+ pi- for three prongs).
      const bool three = mode == TauMode::a1_charged;
      const double m_rho = breit_wigner_mass(rng, kMassRho, kWidthRho, 2 * kMassPi + 0.001, m_vis - kMassPi - 0.001);
      const auto [rho, bachelor] = two_body(rng, vis, m_rho, three ? kMassPi : kMassPi0);
      const auto [a, c] = two_body(rng, rho, kMassPi, three ? kMassPi : kMassPi0);
      if (three) {
        b.add_visible(bachelor, q, 211 * charge, 0);
        b.add_visible(a, 1, 211, 0), b.add_visible(c, -1, -211, 0);
      } else {
        add_pi0(rng, bachelor, b);
        b.add_visible(a, q, 211 * charge, 0);
        add_pi0(rng, c, b);
      }
      return;
    }
    case TauMode::three_pi_pi0: {
      const auto [three_pi, pi0] = two_body(rng, vis, m_vis - kMassPi0 - 0.001, kMassPi0);
      add_pi0(rng, pi0, b);
      const auto [rho, bachelor] = two_body(rng, three_pi, 2 * kMassPi + 0.2, kMassPi);
      const auto [a, c] = two_body(rng, rho, kMassPi, kMassPi);
      b.add_visible(bachelor, q, 211 * charge, 0);
      b.add_visible(a, 1, 211, 0), b.add_visible(c, -1, -211, 0);
      return;
    }
  }
}

// A lepton of a boson decay: e, mu visible; tau decays; neutrinos invisible.
enum class Lepton { e, mu, tau, nu };
void add_lepton(CounterRng& rng, const FourVector& p, Lepton kind, int charge, double P, Build& b) {
  switch (kind) {
    case Lepton::e: b.add_visible(p, int8_t(charge), charge < 0 ? 11 : -11, 1); return;
    case Lepton::mu: b.add_visible(p, int8_t(charge), charge < 0 ? 13 : -13, 0); return;
    case Lepton::tau: decay_tau(rng, p, charge, P, b); return;
    case Lepton::nu: b.add_invisible(p); return;
  }
}

// A parton's jet: charged hadrons, photons and neutral hadrons around its axis.
void fragment(CounterRng& rng, const Parton& parton, Build& b) {
  const double pt = parton.p.pt();
  if (pt < 1) return;
  const double eta = parton.p.eta(), phi = parton.p.phi();
  const double mean_nch = std::max(1.0, kNchA + kNchB * std::log(pt)) * (parton.quark ? kNchQuark : kNchGluon);
  const auto n_charged = 1 + rng.poisson(gamma_draw(rng, kNchK) / kNchK * std::max(mean_nch - 1, 0.1));
  const auto n_pi0 = rng.poisson(kPi0PerCharged * double(n_charged));
  const auto n_neutral = rng.poisson(kNeutralPerCharged * double(n_charged));
  double shares[3] = {kShareCharged * gamma_draw(rng, kShareShape), kSharePhotons * gamma_draw(rng, kShareShape),
                      kShareNeutral * gamma_draw(rng, kShareShape)};
  if (n_pi0 == 0) shares[1] = 0;
  if (n_neutral == 0) shares[2] = 0;
  const double total = shares[0] + shares[1] + shares[2];
  const double Y = std::log(std::max(pt * std::cosh(eta), 2 * kQ0) / kQ0);
  const double xi_peak = Y / 2 + std::sqrt(kMllaC * Y) - kMllaC, xi_width = std::sqrt(kMllaWidth * std::pow(Y, 1.5));
  const double pt_rel_mean = parton.quark ? kPtRelQuark : kPtRelGluon;
  std::vector<double> x;
  const auto emit = [&](uint64_t n, double share, const auto& make) {
    if (n == 0 || share <= 0) return;
    x.clear();
    double sum = 0;
    for (uint64_t i = 0; i < n; ++i) x.push_back(std::exp(-std::max(0.0, rng.normal(xi_peak, xi_width)))), sum += x.back();
    for (uint64_t i = 0; i < n; ++i) {
      const double z = x[i] / sum * share / total;
      double theta = 0;
      for (int attempt = 0; attempt < 4; ++attempt) {
        theta = rng.exponential(pt_rel_mean) / std::max(z * pt, 1e-3);
        if (theta < kJetRadius) break;
      }
      theta = std::min(theta, kJetRadius);
      const double alpha = rng.uniform(0, 2 * pi);
      make(z * pt, eta + theta * std::cos(alpha), phi + theta * std::sin(alpha));
    }
  };
  emit(n_charged, shares[0], [&](double p, double e, double f) {
    double u = rng.uniform();
    const Species* s = &kChargedSpecies[0];
    for (const auto& sp : kChargedSpecies) {
      if (u < sp.share) {
        s = &sp;
        break;
      }
      u -= sp.share;
    }
    const int charge = rng.bernoulli(0.5) ? 1 : -1;
    b.add_visible(FourVector::from_pt_eta_phi_m(p, e, f, s->mass), int8_t(charge), s->pdg * charge, 0);
  });
  emit(2 * n_pi0, shares[1], [&](double p, double e, double f) {
    b.add_visible(FourVector::from_pt_eta_phi_m(p, e, f, 0), 0, 22, 1);
  });
  emit(n_neutral, shares[2], [&](double p, double e, double f) {
    const bool kaon = rng.bernoulli(0.6);
    b.add_visible(FourVector::from_pt_eta_phi_m(p, e, f, kaon ? kMassKL : kMassNeutron), 0, kaon ? 130 : 2112, 0);
  });
  if (parton.b) b.b_partons.push_back(parton.p);
}

void underlying_event(CounterRng& rng, Build& b) {
  const double area = 2 * kUeEtaMax * 2 * pi;
  const auto n_charged = rng.poisson(kUeChargedDensity * area);
  const auto n_photons = rng.poisson(kPi0PerCharged * 2 * double(n_charged) * 0.5);  // softer: half pass 0.5 GeV
  const auto n_neutral = rng.poisson(kNeutralPerCharged * double(n_charged));
  const auto place = [&](double m, int8_t charge, int32_t pdg, int8_t em) {
    const double pt = kParticlePtMin + rng.exponential(kUePtMean);
    b.add_visible(FourVector::from_pt_eta_phi_m(pt, rng.uniform(-kUeEtaMax, kUeEtaMax), rng.uniform(-pi, pi), m),
                  charge, pdg, em);
  };
  for (uint64_t i = 0; i < n_charged; ++i) {
    const int8_t q = rng.bernoulli(0.5) ? 1 : -1;
    place(kMassPi, q, 211 * q, 0);
  }
  for (uint64_t i = 0; i < n_photons; ++i) place(0, 0, 22, 1);
  for (uint64_t i = 0; i < n_neutral; ++i) place(kMassKL, 0, 130, 0);
}

// A boson of mass m with transverse momentum pt, rapidity ~ N(0, sigma), random azimuth.
FourVector boson(CounterRng& rng, double m, double pt) {
  const double y = rng.normal(0, kBosonRapiditySigma), phi = rng.uniform(-pi, pi);
  const double mt = std::sqrt(m * m + pt * pt);
  return {pt * std::cos(phi), pt * std::sin(phi), mt * std::sinh(y), mt * std::cosh(y)};
}

// Massless parton of transverse momentum (px, py) at a random rapidity.
Parton parton_with(CounterRng& rng, double px, double py, bool quark) {
  const double pt = std::hypot(px, py), y = rng.normal(0, kPartonRapiditySigma);
  return {{px, py, pt * std::sinh(y), pt * std::cosh(y)}, quark, false};
}

// The hadronic recoil of a system of transverse momentum (px, py): one or two partons.
void recoil(CounterRng& rng, double px, double py, Build& b) {
  const double pt = std::hypot(px, py);
  double rx = -px, ry = -py;
  if (pt > 60 && rng.bernoulli(kSecondPartonProbability)) {
    const double u = rng.uniform(30 / pt, 0.5), phi = rng.uniform(-pi, pi);
    const double sx = u * pt * std::cos(phi), sy = u * pt * std::sin(phi);
    fragment(rng, parton_with(rng, sx, sy, rng.bernoulli(kQuarkFractionSecond)), b);
    rx -= sx, ry -= sy;
  }
  fragment(rng, parton_with(rng, rx, ry, rng.bernoulli(kQuarkFractionLeading)), b);
}

// A boson at rest-frame decay into two leptons of the given kinds.
void decay_boson(CounterRng& rng, const FourVector& v, Lepton l1, int q1, Lepton l2, int q2, double P, Build& b) {
  const auto mass = [](Lepton l) { return l == Lepton::tau ? kMassTau : (l == Lepton::mu ? 0.10566 : 0.0); };
  const auto [a, c] = two_body(rng, v, mass(l1), mass(l2));
  add_lepton(rng, a, l1, q1, P, b);
  add_lepton(rng, c, l2, q2, P, b);
}

// Two quarks of a hadronic W/Z/top-W decay, fragmented.
void hadronic_decay(CounterRng& rng, const FourVector& v, double m1, double m2, bool b_quark, Build& b) {
  const auto [q1, q2] = two_body(rng, v, m1, m2);
  fragment(rng, {q1, true, b_quark}, b);
  fragment(rng, {q2, true, false}, b);
}

class MonojetChannel final : public Channel {
 public:
  std::string name() const override { return "monojet"; }
  std::string description() const override {
    return "particle-level V+jets at 13 TeV in boson-pT slices (Z -> nu nu, W -> tau/mu/e nu, Z -> mu mu/tau tau, "
           "ttbar, dibosons): stable particles, anti-kT R=0.4 jets, MET, for eta-phi images (analysis E)";
  }
  RecoContent content() const override {
    return {.leptons = true, .jets = true, .large_jets = false, .jet_shapes = true, .particles = true};
  }

  std::vector<SampleDefinition> samples(const GeneratorOptions& options) const override {
    if (!options.parameters.empty())
      throw InputError(fmt::format("--parameter {}: the monojet channel has no parameters",
                                   options.parameters.begin()->first));
    const double lumi_ipb = options.lumi_ifb * units::invfb;
    std::vector<SampleDefinition> out;
    for (int p = 0; p < kProcesses; ++p) {
      const ProcessInfo& info = kProcessInfo[std::size_t(p)];
      const bool sliced = p != ttbar && p != diboson;
      const std::size_t slices = sliced ? kSlices.size() : 1;
      for (std::size_t s = 0; s < slices; ++s) {
        SampleDefinition d;
        d.info.name = sliced ? fmt::format("{}_{}", info.name, kSlices[s].tag) : info.name;
        d.info.dsid = info.dsid + uint32_t(s);
        d.info.process = info.description;
        d.info.role = info.role;
        d.info.cross_section_pb = info.cross_section_pb[s];
        d.info.parameters = {{"boson_pt_min_GeV", sliced ? kSlices[s].lo : kDibosonPtMin},
                             {"boson_pt_max_GeV", sliced ? kSlices[s].hi : 0.0},
                             {"boson_pt_power", sliced ? kSlices[s].power : kDibosonPower},
                             {"slice", std::string(sliced ? kSlices[s].tag : "pt250")}};
        d.process = p * 8 + int(s);
        d.n_events = info.role == Role::signal
                         ? options.signal_events
                         : uint64_t(std::llround(double(options.background_events) * info.background_share /
                                                 double(slices)));
        d.expected_events_hint = d.info.cross_section_pb * lumi_ipb;
        out.push_back(std::move(d));
      }
    }
    return out;
  }

  bool generate(const SampleDefinition& sample, const GeneratorOptions&, CounterRng& rng,
                RecoEvent& event) const override {
    event.weight_mc = 1.0;
    Build b{event.particles, 0, 0, {}};
    const int process = sample.process / 8;
    const Slice& slice = kSlices[std::size_t(sample.process % 8)];
    switch (process) {
      case z_nunu:
      case z_mumu:
      case z_tautau: {
        const double m = breit_wigner_mass(rng, kMassZ, kWidthZ, 60, 120);
        const FourVector z = boson(rng, m, power_law(rng, slice.lo, slice.hi, slice.power));
        const Lepton l = process == z_nunu ? Lepton::nu : (process == z_mumu ? Lepton::mu : Lepton::tau);
        decay_boson(rng, z, l, -1, l, 1, kTauPolarisationZ, b);
        recoil(rng, z.px, z.py, b);
        break;
      }
      case w_taunu:
      case w_munu:
      case w_enu: {
        const double m = breit_wigner_mass(rng, kMassW, kWidthW, 50, 110);
        const FourVector w = boson(rng, m, power_law(rng, slice.lo, slice.hi, slice.power));
        const Lepton l = process == w_taunu ? Lepton::tau : (process == w_munu ? Lepton::mu : Lepton::e);
        const int q = rng.bernoulli(0.5) ? 1 : -1;  // W+ and W- alike (the tau polarisation is the same)
        decay_boson(rng, w, l, -q, Lepton::nu, 0, kTauPolarisationW, b);
        recoil(rng, w.px, w.py, b);
        break;
      }
      case ttbar: generate_ttbar(rng, b); break;
      case diboson: generate_diboson(rng, b); break;
      default: throw InternalError(fmt::format("monojet: unknown process {}", sample.process));
    }
    underlying_event(rng, b);
    finish(event, b, rng);
    return true;
  }

 private:
  // Leptonic top: t -> b W(-> l nu), pT(W) > 250 GeV; the other top -> b q q recoils.
  static void generate_ttbar(CounterRng& rng, Build& b) {
    const double m = breit_wigner_mass(rng, kMassW, kWidthW, 50, 110);
    const FourVector w = boson(rng, m, power_law(rng, kDibosonPtMin, 0, kDibosonPower));
    const double u = rng.uniform();
    const Lepton l = u < 1.0 / 3 ? Lepton::e : (u < 2.0 / 3 ? Lepton::mu : Lepton::tau);
    const int q = rng.bernoulli(0.5) ? 1 : -1;
    decay_boson(rng, w, l, -q, Lepton::nu, 0, kTauPolarisationW, b);
    // The b of the leptonic top close to the W; the hadronic top opposite.
    const double bpt = rng.uniform(20, 0.5 * w.pt());
    const double bphi = w.phi() + rng.normal(0, 0.5);
    fragment(rng, {FourVector::from_pt_eta_phi_m(bpt, w.eta() + rng.normal(0, 0.5), bphi, kMassB), true, true}, b);
    const double tpt = std::hypot(w.px + bpt * std::cos(bphi), w.py + bpt * std::sin(bphi));
    const double tphi = std::atan2(-(w.py + bpt * std::sin(bphi)), -(w.px + bpt * std::cos(bphi)));
    const FourVector top = FourVector::from_pt_eta_phi_m(tpt, rng.normal(0, kPartonRapiditySigma), tphi, kMassTop);
    const auto [bq, wh] = two_body(rng, top, kMassB, breit_wigner_mass(rng, kMassW, kWidthW, 50, 110));
    fragment(rng, {bq, true, true}, b);
    hadronic_decay(rng, wh, 0, 0, false, b);
  }

  // One boson -> l nu or nu nu with pT > 250 GeV, the other -> q q recoiling.
  static void generate_diboson(CounterRng& rng, Build& b) {
    const double u = rng.uniform();
    const bool z_invisible = u < 0.07;  // ZZ -> nu nu q q share of sigma x BR (docs/monojet.md)
    const double m = z_invisible ? breit_wigner_mass(rng, kMassZ, kWidthZ, 60, 120)
                                 : breit_wigner_mass(rng, kMassW, kWidthW, 50, 110);
    const FourVector v = boson(rng, m, power_law(rng, kDibosonPtMin, 0, kDibosonPower));
    if (z_invisible) {
      decay_boson(rng, v, Lepton::nu, 0, Lepton::nu, 0, 0, b);
    } else {
      const double r = rng.uniform();
      const Lepton l = r < 1.0 / 3 ? Lepton::e : (r < 2.0 / 3 ? Lepton::mu : Lepton::tau);
      decay_boson(rng, v, l, -1, Lepton::nu, 0, kTauPolarisationW, b);
    }
    const bool z_hadronic = rng.bernoulli(0.3);
    const double mh = z_hadronic ? breit_wigner_mass(rng, kMassZ, kWidthZ, 60, 120)
                                 : breit_wigner_mass(rng, kMassW, kWidthW, 50, 110);
    const double mt = std::sqrt(mh * mh + v.pt2()), y = rng.normal(0, kPartonRapiditySigma);
    const FourVector h{-v.px, -v.py, mt * std::sinh(y), mt * std::cosh(y)};
    hadronic_decay(rng, h, 0, 0, false, b);
  }

  // ATLAS overlap removal: an electron is also clustered into a jet of its own, so a
  // jet within Delta R 0.2 of an electron is that electron and is dropped; an electron
  // then within 0.4 of a remaining jet is not isolated (inside a jet) and is dropped.
  static void remove_overlaps(RecoEvent& event) {
    std::erase_if(event.jets, [&](const Jet& j) {
      return std::any_of(event.electrons.begin(), event.electrons.end(),
                         [&](const physics::Lepton& e) { return delta_r(j.eta, j.phi, e.eta, e.phi) < kElectronJetOverlap; });
    });
    std::erase_if(event.electrons, [&](const physics::Lepton& e) {
      return std::any_of(event.jets.begin(), event.jets.end(),
                         [&](const Jet& j) { return delta_r(j.eta, j.phi, e.eta, e.phi) < kElectronIsolationCone; });
    });
  }

  // Jets, leptons and MET from the particles.
  static void finish(RecoEvent& event, const Build& b, CounterRng& rng) {
    std::sort(event.particles.begin(), event.particles.end(),
              [](const Particle& x, const Particle& y) { return x.pt > y.pt; });
    event.jets = cluster_antikt(event.particles);
    double sum_pt = 0;
    for (const auto& p : event.particles) {
      sum_pt += p.pt;
      if (p.pt < kLeptonPtMin || std::fabs(p.eta) > kLeptonEtaMax) continue;
      if (std::abs(p.pdg_id) == 11) event.electrons.push_back({p.pt, p.eta, p.phi, p.charge});
      if (std::abs(p.pdg_id) == 13) event.muons.push_back({p.pt, p.eta, p.phi, p.charge});
    }
    remove_overlaps(event);
    for (auto& j : event.jets)
      for (const auto& bp : b.b_partons)
        if (delta_r(j.eta, j.phi, bp.eta(), bp.phi()) < 0.3 && std::fabs(j.eta) < 2.5 && rng.bernoulli(kBTagEfficiency))
          j.btag = 1;
    event.met_truth = float(std::hypot(b.invisible_px, b.invisible_py));
    event.met_truth_phi = float(std::atan2(b.invisible_py, b.invisible_px));
    event.met = event.met_truth, event.met_phi = event.met_truth_phi;  // particle level: MET is the invisible pT
    event.met_sumet = float(sum_pt);
  }
};

}  // namespace

std::unique_ptr<Channel> make_monojet_channel() { return std::make_unique<MonojetChannel>(); }

}  // namespace bsmhunt::physics
