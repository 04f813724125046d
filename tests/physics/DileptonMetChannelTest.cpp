#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/MetSignificance.hpp"
#include "bsmhunt/physics/generator/DileptonMetDetector.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"

namespace bsmhunt::physics {
std::unique_ptr<Channel> make_dilepton_met_channel();
}

namespace {

using namespace bsmhunt;
using namespace bsmhunt::physics;

constexpr double kMassZ = 91.1876, kWidthZ = 2.4952;

const Channel& channel() {
  static const auto c = make_dilepton_met_channel();
  return *c;
}

const SampleDefinition& find_sample(const std::vector<SampleDefinition>& samples, const std::string& name) {
  for (const auto& s : samples)
    if (s.info.name == name) return s;
  throw std::runtime_error("no sample " + name);
}

double number(const SampleInfo& info, const char* key) {
  const ParameterValue* v = info.parameter(key);
  if (!v) throw std::runtime_error(std::string("missing parameter ") + key);
  return std::get<double>(*v);
}
std::string text(const SampleInfo& info, const char* key) {
  const ParameterValue* v = info.parameter(key);
  if (!v) throw std::runtime_error(std::string("missing parameter ") + key);
  return std::get<std::string>(*v);
}

struct Generated {
  EventBlock block;
  GenerationTally tally;
};

// slices: Drell-Yan drawn in weighted slices (the default with the preselection) or not.
Generated generate(const SampleDefinition& sample, uint64_t n, bool preselection, uint64_t seed = 1,
                   bool slices = true, uint64_t first = 0) {
  GeneratorOptions options;
  options.seed = seed;
  options.preselection = preselection;
  if (!slices) options.parameters["dy_met_slices"] = 0;
  Generated g{EventBlock(reco_event_schema(channel().content())), {}};
  generate_events(channel(), sample, options, first, n, g.block, g.tally);
  return g;
}

std::vector<SampleDefinition> all_samples(bool preselection = true) {
  GeneratorOptions options;
  options.preselection = preselection;
  return channel().samples(options);
}

// Per-event view of the stored lepton collections.
struct Leptons {
  const CollectionColumns& coll;
  const std::vector<float>&pt, &eta, &phi;
  const std::vector<int8_t>& charge;
  explicit Leptons(const EventBlock& b, const char* name)
      : coll(b.collection(name)),
        pt(coll.member("pt").as<float>()),
        eta(coll.member("eta").as<float>()),
        phi(coll.member("phi").as<float>()),
        charge(coll.member("charge").as<int8_t>()) {}
  std::size_t count(std::size_t e) const { return coll.offsets[e + 1] - coll.offsets[e]; }
  FourVector p4(std::size_t i) const { return FourVector::from_pt_eta_phi_m(pt[i], eta[i], phi[i], 0.0); }
};

// m_ll of events with exactly two leptons of the collection (opposite charge).
std::vector<double> dilepton_masses(const EventBlock& b, const char* name) {
  const Leptons l(b, name);
  std::vector<double> m;
  for (std::size_t e = 0; e < b.size(); ++e) {
    if (l.count(e) != 2) continue;
    const std::size_t i = l.coll.offsets[e];
    if (l.charge[i] == l.charge[i + 1]) continue;
    m.push_back((l.p4(i) + l.p4(i + 1)).m());
  }
  return m;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v[v.size() / 2];
}
std::vector<double> within(const std::vector<double>& v, double lo, double hi) {
  std::vector<double> out;
  for (double x : v)
    if (x >= lo && x <= hi) out.push_back(x);
  return out;
}

// Full width at half maximum of a histogram of v in [lo, hi) with `bins` bins,
// smoothed by a 5-bin moving average; crossings interpolated linearly.
double fwhm(const std::vector<double>& v, double lo, double hi, int bins) {
  std::vector<double> h(bins, 0.0), s(bins, 0.0);
  const double width = (hi - lo) / bins;
  for (double x : v)
    if (x >= lo && x < hi) h[int((x - lo) / width)] += 1;
  for (int i = 0; i < bins; ++i) {
    int n = 0;
    for (int k = std::max(0, i - 2); k <= std::min(bins - 1, i + 2); ++k) s[i] += h[k], ++n;
    s[i] /= n;
  }
  const int peak = int(std::max_element(s.begin(), s.end()) - s.begin());
  const double half = 0.5 * s[peak];
  int left = peak, right = peak;
  while (left > 0 && s[left] > half) --left;
  while (right < bins - 1 && s[right] > half) ++right;
  const double x_left = lo + width * (left + 0.5 + (half - s[left]) / (s[left + 1] - s[left]));
  const double x_right = lo + width * (right - 0.5 + (s[right - 1] - half) / (s[right - 1] - s[right]));
  return x_right - x_left;
}

double mean(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += x;
  return v.empty() ? NAN : sum / double(v.size());
}

// The event-level preselection, applied offline to stored events.
bool passes_preselection(const EventBlock& b, std::size_t e) {
  const Leptons el(b, "electrons"), mu(b, "muons");
  if (el.count(e) + mu.count(e) != 2) return false;
  for (std::size_t i = el.coll.offsets[e]; i < el.coll.offsets[e + 1]; ++i)
    if (!(el.pt[i] > 20.0f)) return false;
  for (std::size_t i = mu.coll.offsets[e]; i < mu.coll.offsets[e + 1]; ++i)
    if (!(mu.pt[i] > 20.0f)) return false;
  return b.values<float>("met")[e] > 50.0f;
}

// ---------------------------------------------------------------------------
// Samples and metadata
// ---------------------------------------------------------------------------

TEST(DileptonMetChannel, DescribesItself) {
  EXPECT_EQ(channel().name(), "dilepton_met");
  EXPECT_FALSE(channel().description().empty());
  EXPECT_TRUE(channel().content().leptons);
  EXPECT_TRUE(channel().content().jets);
  EXPECT_FALSE(channel().content().large_jets);
}

TEST(DileptonMetChannel, BackgroundSamplesCarryCrossSectionsAndBranchingRatios) {
  const auto samples = all_samples();
  std::set<std::string> names;
  std::set<uint32_t> dsids;
  int n_background = 0;
  for (const auto& s : samples) {
    EXPECT_TRUE(names.insert(s.info.name).second) << s.info.name;
    EXPECT_TRUE(dsids.insert(s.info.dsid).second) << s.info.name;
    if (s.info.role != Role::background) continue;
    ++n_background;
    const double inclusive = number(s.info, "inclusive_cross_section_pb");
    const double br = number(s.info, "branching_ratio");
    EXPECT_NEAR(s.info.cross_section_pb, inclusive * br, 1e-9 * inclusive) << s.info.name;
    EXPECT_GT(br, 0.0);
    EXPECT_LE(br, 1.0);
    EXPECT_GE(number(s.info, "negative_weight_fraction"), 0.0);
    EXPECT_DOUBLE_EQ(s.info.k_factor, 1.0);
    EXPECT_NEAR(s.expected_events_hint,
                s.info.cross_section_pb * s.info.k_factor * s.info.filter_efficiency * 139e3, 1e-6 * s.expected_events_hint);
  }
  EXPECT_EQ(n_background, 9);
  // Realistic 13 TeV values: ~2 nb per Drell-Yan flavour, 832 pb ttbar.
  EXPECT_NEAR(find_sample(samples, "dy_ee").info.cross_section_pb, 2000.0, 1e-6);
  EXPECT_NEAR(find_sample(samples, "dy_mumu").info.cross_section_pb, 2000.0, 1e-6);
  EXPECT_NEAR(number(find_sample(samples, "ttbar_dilep").info, "inclusive_cross_section_pb"), 832.0, 1e-9);
  EXPECT_NEAR(number(find_sample(samples, "ww_lvlv").info, "inclusive_cross_section_pb"), 119.0, 1e-9);
  EXPECT_NEAR(number(find_sample(samples, "wz_lvll").info, "inclusive_cross_section_pb"), 47.0, 1e-9);
  EXPECT_NEAR(number(find_sample(samples, "zz_llvv").info, "inclusive_cross_section_pb"), 16.5, 1e-9);
}

TEST(DileptonMetChannel, BackgroundEventsAreSharedExactly) {
  for (bool preselection : {true, false})
    for (uint64_t total : {0ull, 1ull, 7ull, 1000ull, 999'999ull, 87'000'000ull}) {
      GeneratorOptions options;
      options.preselection = preselection;
      options.background_events = total;
      options.signal_events = 123;
      uint64_t sum = 0;
      for (const auto& s : channel().samples(options)) {
        if (s.info.role == Role::signal) {
          EXPECT_EQ(s.n_events, 123u);
          continue;
        }
        sum += s.n_events;
        if (total >= 1000) {
          EXPECT_GE(double(s.n_events), 0.0099 * double(total)) << s.info.name;
        }
      }
      EXPECT_EQ(sum, total) << "preselection " << preselection;
    }
  // ttbar (e mu included) is the largest background after the preselection: the fake-MET
  // tail calibrated to the thesis leaves Drell-Yan 0.6 M events per flavour against
  // ttbar's 2.7 M, so ttbar gets the most stored events.
  GeneratorOptions options;
  options.background_events = 1'000'000;
  const auto samples = channel().samples(options);
  uint64_t largest = 0;
  std::string largest_name;
  for (const auto& s : samples)
    if (s.info.role == Role::background && s.n_events > largest) largest = s.n_events, largest_name = s.info.name;
  EXPECT_EQ(largest_name, "ttbar_dilep");
}

TEST(DileptonMetChannel, SignalGridHas144NamedSamplesWithParameters) {
  const auto samples = all_samples();
  std::set<std::string> names;
  // (theory, sector, final state) -> cross section by mass.
  std::map<std::string, std::map<double, double>> by_model;
  for (const auto& s : samples) {
    if (s.info.role != Role::signal) continue;
    names.insert(s.info.name);
    const std::string theory = text(s.info, "theory"), sector = text(s.info, "dark_sector");
    const std::string final_state = text(s.info, "final_state");
    const double m = number(s.info, "m_zprime_GeV"), m_chi = number(s.info, "m_chi_GeV");
    EXPECT_TRUE(theory == "LV" || theory == "DH" || theory == "EFT") << theory;
    EXPECT_TRUE(sector == "LDS" || sector == "HDS") << sector;
    EXPECT_TRUE(final_state == "ee" || final_state == "mumu") << final_state;
    EXPECT_GT(m_chi, 0.0);
    EXPECT_LT(2 * m_chi, m) << s.info.name;
    EXPECT_EQ(s.info.name, "zp_" + theory + "_" + sector + "_m" + std::to_string(int(m)) + "_" + final_state);
    EXPECT_GT(s.info.cross_section_pb, 0.0);
    by_model[theory + sector + final_state][m] = s.info.cross_section_pb;
  }
  EXPECT_EQ(names.size(), 144u);
  EXPECT_EQ(by_model.size(), 12u);
  for (const auto& [model, sigma_by_mass] : by_model) {
    EXPECT_EQ(sigma_by_mass.size(), 12u) << model;
    double previous = INFINITY;
    for (const auto& [m, sigma] : sigma_by_mass) {
      EXPECT_LT(sigma, previous) << model << " m = " << m;
      previous = sigma;
    }
  }
  // The thesis' yields ride on exactly the four models its tables list (the yields
  // themselves are checked against it by tests/physics/thesis_yields.py), and the
  // generated events cover them: the preselection cannot accept more than all.
  std::set<std::string> with_reference;
  for (const auto& s : samples) {
    if (s.info.role != Role::signal) continue;
    EXPECT_NE(text(s.info, "cross_section_calibration").find("thesis"), std::string::npos) << s.info.name;
    if (!s.info.parameter("reference")) continue;
    with_reference.insert(s.info.name);
    const double generated = s.info.cross_section_pb * 139e3, preselected = number(s.info, "reference_signal_preselection");
    EXPECT_GT(preselected, number(s.info, "reference_signal_after_cuts")) << s.info.name;
    EXPECT_LE(preselected, generated) << s.info.name;
  }
  EXPECT_EQ(with_reference, (std::set<std::string>{"zp_DH_HDS_m130_ee", "zp_DH_HDS_m130_mumu", "zp_LV_HDS_m130_ee",
                                                   "zp_LV_HDS_m130_mumu"}));
  for (const auto& [m, sigma_eft] : by_model["EFTLDSee"]) {
    const double ratio = by_model["DHLDSee"][m] / sigma_eft;
    EXPECT_GE(ratio, 10.0) << "m = " << m;
    EXPECT_LE(ratio, 100.0) << "m = " << m;
  }
}

// ---------------------------------------------------------------------------
// Physics
// ---------------------------------------------------------------------------

// The Z peak in ee and mumu: position and core width.
//   Expected width: m_ll = sqrt(2 pT1 pT2 (cosh deta - cos dphi)), so with angles measured
//   exactly sigma_m/m = (1/2) sqrt((sigma/pT)_1^2 + (sigma/pT)_2^2) = 0.02/sqrt(2):
//   sigma_m = 1.29 GeV (muons at 45 GeV: 2% (+) 0.45%, 3% more). The line shape is a Voigt
//   profile (Breit-Wigner Gamma_Z (x) Gaussian FWHM 2.355 sigma_m = 3.04 GeV) whose FWHM
//   is 0.5346 G_L + sqrt(0.2166 G_L^2 + G_G^2) = 4.59 GeV (Olivero & Longbothum 1977,
//   0.02% accurate). It must lie between Gamma_Z (no smearing) and 1.3 sqrt(G_L^2 + G_G^2)
//   = 5.11 GeV, and within 12% of the Voigt value (histogram FWHM from ~25k events).
TEST(DileptonMetChannel, ZPeakPositionAndWidth) {
  const auto samples = all_samples(false);
  for (const auto& [name, collection, resolution] :
       {std::tuple{"dy_ee", "electrons", 0.02}, std::tuple{"dy_mumu", "muons", std::hypot(0.02, 1e-4 * 45.6)}}) {
    const Generated g = generate(find_sample(samples, name), 50'000, false);
    const auto masses = dilepton_masses(g.block, collection);
    ASSERT_GT(masses.size(), 20'000u) << name;
    const auto window = within(masses, 80.0, 100.0);
    EXPECT_NEAR(median(window), kMassZ, 0.3) << name;

    const double sigma_m = kMassZ * resolution / std::sqrt(2.0);
    const double gauss_fwhm = 2.3548 * sigma_m;
    const double voigt_fwhm = 0.5346 * kWidthZ + std::sqrt(0.2166 * kWidthZ * kWidthZ + gauss_fwhm * gauss_fwhm);
    const double measured = fwhm(masses, 80.0, 102.0, 110);
    std::printf("[ %s ] m_ll median %.3f GeV, FWHM %.2f GeV (Voigt expectation %.2f GeV)\n", name,
                median(window), measured, voigt_fwhm);
    EXPECT_GT(measured, kWidthZ) << name;
    EXPECT_LT(measured, 1.3 * std::hypot(kWidthZ, gauss_fwhm)) << name;
    EXPECT_NEAR(measured, voigt_fwhm, 0.12 * voigt_fwhm) << name;
  }
}

TEST(DileptonMetChannel, SignalPeaksAtTheZprimeMass) {
  const auto samples = all_samples();
  for (const char* name : {"zp_DH_LDS_m130_ee", "zp_LV_HDS_m500_mumu", "zp_EFT_LDS_m1500_ee", "zp_DH_HDS_m1500_mumu"}) {
    const auto& sample = find_sample(samples, name);
    const double m_zprime = number(sample.info, "m_zprime_GeV");
    const Generated g = generate(sample, 5'000, true);
    const auto masses = dilepton_masses(g.block, text(sample.info, "final_state") == "ee" ? "electrons" : "muons");
    ASSERT_GT(masses.size(), 4'000u) << name;
    const double peak = median(within(masses, 0.9 * m_zprime, 1.1 * m_zprime));
    EXPECT_NEAR(peak, m_zprime, 0.02 * m_zprime) << name;
    EXPECT_TRUE(std::all_of(g.block.values<float>("weight_mc").begin(), g.block.values<float>("weight_mc").end(),
                            [](float w) { return w == 1.0f; }));
  }
}

// With the preselection off every generated event is stored: the analysis weights
// add up to sigma k eps L, and the fraction of negative weights is the configured one.
TEST(DileptonMetChannel, NormalisationAndNegativeWeightsWithoutPreselection) {
  const auto samples = all_samples(false);
  const double lumi_ipb = 139e3;
  for (const char* name : {"dy_ee", "ttbar_dilep", "ww_lvlv", "wjets_fake"}) {
    const auto& sample = find_sample(samples, name);
    const uint64_t n = 40'000;
    const Generated g = generate(sample, n, false);
    ASSERT_EQ(g.block.size(), n);
    EXPECT_EQ(g.tally.n_generated, n);
    SampleInfo info = sample.info;
    info.sum_of_weights = g.tally.sum_of_weights.value();
    const double scale = info.luminosity_scale(lumi_ipb);
    double sum = 0;
    uint64_t negative = 0;
    for (float w : g.block.values<float>("weight_mc")) {
      ASSERT_TRUE(w == 1.0f || w == -1.0f) << name;
      sum += w * scale, negative += w < 0;
    }
    const double expected = info.cross_section_pb * info.k_factor * info.filter_efficiency * lumi_ipb;
    EXPECT_NEAR(sum, expected, 1e-9 * expected) << name;
    // The sum of weights itself estimates N (1 - 2 f): within 5 sigma of its binomial error.
    const double f = number(info, "negative_weight_fraction");
    EXPECT_NEAR(info.sum_of_weights, double(n) * (1 - 2 * f), 5 * 2 * std::sqrt(n * f * (1 - f))) << name;
    EXPECT_NEAR(double(negative) / double(n), f, 5 * std::sqrt(f * (1 - f) / double(n)) + 1e-12) << name;
    EXPECT_EQ(g.tally.n_negative, negative) << name;
  }
}

// The early rejections inside the generator only reorder the draws: the acceptance
// with the preselection on (stored / generated) equals the fraction of events of an
// unpreselected sample that pass the same cuts offline.
TEST(DileptonMetChannel, PreselectionAcceptanceMatchesOfflineCuts) {
  const auto samples = all_samples(false);
  for (const auto& [name, n_offline, n_stored] :
       {std::tuple{"dy_ee", 300'000, 8'000}, std::tuple{"ttbar_dilep", 30'000, 12'000},
        std::tuple{"zp_DH_LDS_m130_mumu", 60'000, 6'000}}) {
    const auto& sample = find_sample(samples, name);
    const Generated off = generate(sample, uint64_t(n_offline), false, 11);
    uint64_t pass = 0;
    for (std::size_t e = 0; e < off.block.size(); ++e) pass += passes_preselection(off.block, e);
    const double a_off = double(pass) / n_offline;
    // Unit weights: the early rejections alone (the slices are tested below).
    const Generated on = generate(sample, uint64_t(n_stored), true, 12, false);
    for (std::size_t e = 0; e < on.block.size(); ++e) ASSERT_TRUE(passes_preselection(on.block, e)) << name;
    const double a_on = double(n_stored) / double(on.tally.n_generated);
    const double error = std::hypot(std::sqrt(a_off * (1 - a_off) / n_offline),
                                    std::sqrt(a_on * (1 - a_on) / double(on.tally.n_generated)));
    std::printf("[ %s ] preselection acceptance %.4f (offline cuts: %.4f +- %.4f)\n", name, a_on, a_off, error);
    EXPECT_NEAR(a_on, a_off, 4.5 * error) << name;
  }
}

TEST(DileptonMetChannel, GenuineMetOfTtbarAndZZFarAboveDrellYan) {
  const auto samples = all_samples(false);
  const double dy = mean(generate(find_sample(samples, "dy_ee"), 20'000, false).block.values<float>("met_truth"));
  const double ttbar =
      mean(generate(find_sample(samples, "ttbar_dilep"), 20'000, false).block.values<float>("met_truth"));
  const double zz = mean(generate(find_sample(samples, "zz_llvv"), 20'000, false).block.values<float>("met_truth"));
  std::printf("[ mean true MET ] dy_ee %.2f, ttbar %.1f, zz_llvv %.1f GeV\n", dy, ttbar, zz);
  EXPECT_LT(dy, 1.0);
  EXPECT_GT(ttbar, 50.0);
  EXPECT_GT(zz, 50.0);
  // Drell-Yan's preselection acceptance (fake MET only) is checked against the offline
  // cuts in PreselectionAcceptanceMatchesOfflineCuts.
}

// Reconstructed objects respect the detector acceptance, are pT-ordered, and
// b-tags appear where b quarks are.
TEST(DileptonMetChannel, ObjectsRespectAcceptanceAndOrdering) {
  const auto samples = all_samples(false);
  std::map<std::string, double> btag_fraction;
  for (const char* name : {"dy_mumu", "ttbar_dilep", "wz_lvll", "zp_DH_HDS_m500_ee"}) {
    const Generated g = generate(find_sample(samples, name), 10'000, false);
    const auto& b = g.block;
    for (const auto& [coll_name, eta_max] : {std::pair{"electrons", 2.47f}, std::pair{"muons", 2.5f}}) {
      const Leptons l(b, coll_name);
      for (std::size_t e = 0; e < b.size(); ++e)
        for (std::size_t i = l.coll.offsets[e]; i < l.coll.offsets[e + 1]; ++i) {
          ASSERT_GE(l.pt[i], 10.0f);
          ASSERT_LE(std::fabs(l.eta[i]), eta_max);
          ASSERT_TRUE(l.charge[i] == 1 || l.charge[i] == -1);
          if (i > l.coll.offsets[e]) {
            ASSERT_LE(l.pt[i], l.pt[i - 1]);
          }
        }
    }
    const auto& jets = b.collection("jets");
    const auto& pt = jets.member("pt").as<float>();
    const auto& eta = jets.member("eta").as<float>();
    const auto& m = jets.member("m").as<float>();
    const auto& btag = jets.member("btag").as<int8_t>();
    uint64_t events_with_btag = 0;
    for (std::size_t e = 0; e < b.size(); ++e) {
      bool tagged = false;
      for (std::size_t i = jets.offsets[e]; i < jets.offsets[e + 1]; ++i) {
        ASSERT_GE(pt[i], 20.0f);
        ASSERT_LE(std::fabs(eta[i]), 4.5f);
        ASSERT_GE(m[i], 0.0f);
        ASSERT_LT(m[i], 0.3f * pt[i]);
        if (i > jets.offsets[e]) {
          ASSERT_LE(pt[i], pt[i - 1]);
        }
        if (btag[i]) {
          ASSERT_LE(std::fabs(eta[i]), 2.5f);
        }
        tagged |= btag[i] != 0;
      }
      events_with_btag += tagged;
    }
    btag_fraction[name] = double(events_with_btag) / double(b.size());
    // The soft term is never negative: sum ET exceeds the stored objects' pT.
    const auto& sumet = b.values<float>("met_sumet");
    for (std::size_t e = 0; e < b.size(); ++e) {
      float objects = 0;
      for (std::size_t i = jets.offsets[e]; i < jets.offsets[e + 1]; ++i) objects += pt[i];
      ASSERT_GT(sumet[e], objects);
    }
    EXPECT_FALSE(b.has_collection("large_jets"));
  }
  EXPECT_GT(btag_fraction["ttbar_dilep"], 0.7);
  EXPECT_LT(btag_fraction["dy_mumu"], 0.05);
}

// Events depend only on (seed, sample, event number): one call or two give the same bits.
// The MET significance's resolution model against the generator, not against itself:
// Drell-Yan ee events with no jet have no genuine MET; their fake MET comes from the
// electrons' 2% pT smearing along their direction and the isotropic soft term
// (sigma = 0.5 sqrt(sum ET_soft)), the two sources the significance's covariance
// describes. So S^2 follows chi^2 with 2 degrees of freedom, P(S^2 < 2 ln 2) = 1/2,
// except for the generator's fake-MET tail (probability 0.25%, nearly all far out),
// which adds ~0.0021 to P(S^2 > 2 ln 20) = 0.05.
TEST(DileptonMetChannel, MetSignificanceIsChiSquareTwoForDrellYanWithoutJets) {
  const Generated g = generate(find_sample(all_samples(false), "dy_ee"), 60'000, false, 21);
  const auto& b = g.block;
  const Leptons el(b, "electrons"), mu(b, "muons");
  const auto& jets = b.collection("jets");
  const auto &met = b.values<float>("met"), &phi = b.values<float>("met_phi"), &sumet = b.values<float>("met_sumet"),
             &truth = b.values<float>("met_truth");
  double n = 0, below_median = 0, tail = 0;
  for (std::size_t e = 0; e < b.size(); ++e) {
    if (el.count(e) != 2 || mu.count(e) != 0 || jets.offsets[e + 1] != jets.offsets[e] || truth[e] > 1e-3f) continue;
    std::vector<MetObject> objects;
    for (uint64_t i = el.coll.offsets[e]; i < el.coll.offsets[e + 1]; ++i)
      objects.push_back({el.pt[i], el.eta[i], el.phi[i], MetObjectKind::electron});
    const double s = met_significance_polar(objects, met[e], phi[e], soft_sumet(sumet[e], objects));
    n += 1, below_median += s * s < 2 * std::log(2.0), tail += s * s > 2 * std::log(20.0);
  }
  ASSERT_GT(n, 10'000);
  std::printf("[ MET significance, DY ee without jets ] %.0f events: P(S^2 < 2 ln 2) = %.4f, P(S^2 > 2 ln 20) = %.4f\n",
              n, below_median / n, tail / n);
  EXPECT_NEAR(below_median / n, 0.5, 5 * std::sqrt(0.25 / n));
  EXPECT_NEAR(tail / n, 0.05 + 0.0021, 5 * std::sqrt(0.05 * 0.95 / n) + 0.001);
}

// ---------------------------------------------------------------------------
// Drell-Yan drawn in weighted slices (docs/physics.md, "Sliced Drell-Yan")
// ---------------------------------------------------------------------------
// The sum of an event's stored leptons (two after the preselection).
FourVector dilepton(const EventBlock& b, std::size_t e) {
  FourVector sum;
  for (const char* name : {"electrons", "muons"}) {
    const Leptons l(b, name);
    for (std::size_t i = l.coll.offsets[e]; i < l.coll.offsets[e + 1]; ++i) sum = sum + l.p4(i);
  }
  return sum;
}

struct Slice {
  double probability, proposal;
};
// The slices as the sample's attribute `generator_slices` records them.
std::vector<Slice> recorded_slices(const SampleInfo& info) {
  const std::string record = text(info, "generator_slices");
  static const std::regex pair(R"(P = ([0-9.eE+-]+), q = ([0-9.eE+-]+))");
  std::vector<Slice> out;
  for (auto it = std::sregex_iterator(record.begin(), record.end(), pair); it != std::sregex_iterator(); ++it)
    out.push_back({std::stod((*it)[1]), std::stod((*it)[2])});
  return out;
}

// The recorded slice probabilities against a brute-force simulation of the unsliced
// model with the documented constants (docs/physics.md): sum ET = 100 + 350 Exp(1) GeV,
// core noise Rayleigh with sigma = 0.5 sqrt(sum ET), tail 0.25%, boson pT Lomax(4, 50
// GeV), m_ll: 10% continuum 1/m^3 on [40, 3000] GeV, the rest a Breit-Wigner below 200.
TEST(DileptonMetChannel, DrellYanSliceProbabilitiesMatchTheUnslicedModel) {
  const auto samples = all_samples();
  const std::vector<Slice> light = recorded_slices(find_sample(samples, "dy_ee").info);
  ASSERT_EQ(light.size(), 5u);
  for (const char* name : {"dy_mumu", "dy_tautau"}) {
    const std::vector<Slice> other = recorded_slices(find_sample(samples, name).info);
    ASSERT_EQ(other.size(), 5u) << name;
    for (std::size_t k = 0; k < 5; ++k) EXPECT_EQ(other[k].probability, light[k].probability) << name;
  }
  EXPECT_THROW((void)text(all_samples(false)[0].info, "generator_slices"), std::runtime_error)
      << "no slices without the preselection";
  double total = 0;
  for (const Slice& s : light) total += s.probability;
  EXPECT_NEAR(total, 1.0, 1e-9);

  std::mt19937_64 rng(2024);
  std::exponential_distribution<double> exponential(1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double r = dilepton_met_detector::soft_term_resolution();
  const uint64_t n = 4'000'000;
  uint64_t core = 0, core_hard = 0, core_soft_high_pt = 0;
  for (uint64_t i = 0; i < n; ++i) {
    if (uniform(rng) < 0.0025) continue;  // the tail
    ++core;
    const double sumet = 100 + 350 * exponential(rng);
    const double noise = r * std::sqrt(sumet) * std::sqrt(2 * exponential(rng));
    const double boson_pt = 50 * (std::pow(uniform(rng), -0.25) - 1);
    if (noise >= 40) ++core_hard;
    else if (boson_pt >= 60) ++core_soft_high_pt;
  }
  auto expect_fraction = [&](double recorded, uint64_t count, uint64_t of, const char* what) {
    const double p = double(count) / double(of), error = std::sqrt(p * (1 - p) / double(of));
    std::printf("[ slice %s ] recorded %.6f, brute force %.6f +- %.6f\n", what, recorded, p, error);
    EXPECT_NEAR(recorded, p, 5 * error) << what;
  };
  const double core_recorded = 1 - light[4].probability;
  EXPECT_NEAR(light[4].probability, 0.0025, 1e-9);
  expect_fraction(light[3].probability / core_recorded, core_hard, core, "core n >= 40 GeV");
  expect_fraction(light[2].probability / core_recorded, core_soft_high_pt, core, "core n < 40, pT >= 60 GeV");
  // The low-pT low-noise core split at m_ll = 200 GeV: P(m >= 200) = 0.1 ((40/200)^2 -
  // (40/3000)^2) / (1 - (40/3000)^2) of the continuum's inverse CDF.
  const double u_min = (40.0 / 3000) * (40.0 / 3000);
  EXPECT_NEAR(light[1].probability / (light[0].probability + light[1].probability),
              0.1 * ((40.0 / 200) * (40.0 / 200) - u_min) / (1 - u_min), 1e-7);
}

// Weighted slices reproduce the unsliced preselected sample: yields (sum of
// weight_mc x sigma L / sum_of_weights) in several regions agree within the combined
// MC errors, every stored event passes the preselection, the weights are the recorded
// P/q, the effective sample size stays high, and far fewer attempts are spent.
TEST(DileptonMetChannel, SlicedDrellYanReproducesTheUnslicedSample) {
  const auto samples = all_samples();
  const double lumi_ipb = 139e3;
  struct Region {
    const char* name;
    bool (*in)(const EventBlock&, std::size_t);
  };
  const Region regions[] = {
      {"preselected", [](const EventBlock&, std::size_t) { return true; }},
      {"MET > 100 GeV", [](const EventBlock& b, std::size_t e) { return b.values<float>("met")[e] > 100.0f; }},
      {"MET > 250 GeV", [](const EventBlock& b, std::size_t e) { return b.values<float>("met")[e] > 250.0f; }},
      {"sum ET > 1500 GeV",
       [](const EventBlock& b, std::size_t e) { return b.values<float>("met_sumet")[e] > 1500.0f; }},
      {">= 1 jet",
       [](const EventBlock& b, std::size_t e) {
         return b.collection("jets").offsets[e + 1] > b.collection("jets").offsets[e];
       }},
      // Where the small slices (boson pT >= 60 GeV; m_ll >= 200 GeV) carry much of the yield.
      {"dilepton pT > 60 GeV", [](const EventBlock& b, std::size_t e) { return dilepton(b, e).pt() > 60.0; }},
      {"m_ll > 200 GeV", [](const EventBlock& b, std::size_t e) { return dilepton(b, e).m() > 200.0; }},
  };
  for (const auto& [name, n_sliced, n_unsliced] : {std::tuple{"dy_ee", 30'000, 10'000},
                                                   std::tuple{"dy_mumu", 30'000, 10'000},
                                                   std::tuple{"dy_tautau", 30'000, 10'000}}) {
    const auto& sample = find_sample(samples, name);
    const std::vector<Slice> slices = recorded_slices(sample.info);
    const Generated sliced = generate(sample, uint64_t(n_sliced), true, 31);
    const Generated unsliced = generate(sample, uint64_t(n_unsliced), true, 32, false);
    // The relative variance of sum_of_weights per attempt, (E[w^2] - E[w]^2) / E[w]^2:
    // E[w] = 1 - 2f (f: the negative fraction), E[w^2] = sum_k P_k^2 / q_k.
    double mean_w2 = 0;
    for (const Slice& s : slices) mean_w2 += s.probability * s.probability / s.proposal;
    const double mean_w = 1 - 2 * number(sample.info, "negative_weight_fraction");
    const double normaliser_variance = (mean_w2 - mean_w * mean_w) / (mean_w * mean_w);

    std::set<float> allowed;
    for (const Slice& s : slices) allowed.insert(float(s.probability / s.proposal));
    double sum_abs = 0, sum_abs2 = 0;
    for (std::size_t e = 0; e < sliced.block.size(); ++e) {
      const float w = std::fabs(sliced.block.values<float>("weight_mc")[e]);
      ASSERT_TRUE(allowed.count(w)) << name << ": weight " << w << " is not one of the recorded P/q";
      ASSERT_TRUE(passes_preselection(sliced.block, e)) << name;
      sum_abs += w, sum_abs2 += double(w) * w;
    }
    const double ess = sum_abs * sum_abs / sum_abs2 / double(n_sliced);
    const double attempts_sliced = double(sliced.tally.n_generated) / n_sliced;
    const double attempts_unsliced = double(unsliced.tally.n_generated) / n_unsliced;
    std::printf("[ %s ] attempts per stored event %.1f sliced, %.1f unsliced; effective sample size %.3f\n", name,
                attempts_sliced, attempts_unsliced, ess);
    EXPECT_LT(attempts_sliced, attempts_unsliced / 3) << name;
    EXPECT_GT(ess, 0.7) << name;

    auto yield = [&](const Generated& g, const Region& region, double extra_variance) {
      const double scale = sample.info.cross_section_pb * lumi_ipb / g.tally.sum_of_weights.value();
      double sum = 0, sum2 = 0;
      for (std::size_t e = 0; e < g.block.size(); ++e)
        if (region.in(g.block, e)) {
          const double w = g.block.values<float>("weight_mc")[e];
          sum += w, sum2 += w * w;
        }
      // The normaliser sum_of_weights adds its own relative variance.
      const double relative2 = sum2 / (sum * sum) + extra_variance / double(g.tally.n_generated);
      return std::pair{sum * scale, std::fabs(sum * scale) * std::sqrt(relative2)};
    };
    for (const Region& region : regions) {
      const auto [a, error_a] = yield(sliced, region, normaliser_variance);
      const auto [b, error_b] = yield(unsliced, region, 0.0);
      std::printf("[ %s, %s ] sliced %.5g +- %.3g, unsliced %.5g +- %.3g\n", name, region.name, a, error_a, b,
                  error_b);
      EXPECT_NEAR(a, b, 4.5 * std::hypot(error_a, error_b)) << name << ", " << region.name;
    }

    // Pseudo-data must be unweighted draws of the model: no slices there.
    GeneratorOptions data_options;
    data_options.drawing_pseudo_data = true;
    Generated data{EventBlock(reco_event_schema(channel().content())), {}};
    generate_events(channel(), sample, data_options, 0, 200, data.block, data.tally);
    for (float w : data.block.values<float>("weight_mc")) ASSERT_EQ(std::fabs(w), 1.0f) << name;
  }
}

// Event 2611800 of dy_mumu at seed 1 (jobs/dm_dilepton.ini) draws the core slice's
// truncated Rayleigh with a uniform of exactly 1.0f where P(n < T) rounds to 1.0f: it was
// stored with MET = inf (ln 0), and extract refused the full-scale file. The exact noise
// there is the bound T = 40 GeV.
TEST(DileptonMetChannel, SlicedDrellYanNoiseStaysFiniteAtTheUniformsEnd) {
  const Generated g = generate(find_sample(all_samples(), "dy_mumu"), 1, true, 1, true, 2'611'800);
  ASSERT_EQ(g.block.size(), 1u);
  const float met = g.block.values<float>("met")[0], met_phi = g.block.values<float>("met_phi")[0];
  EXPECT_TRUE(std::isfinite(met)) << met;
  EXPECT_TRUE(std::isfinite(met_phi)) << met_phi;
  EXPECT_GT(met, 50.0f) << "a stored event passes the preselection's MET > 50 GeV";
}

TEST(DileptonMetChannel, RejectsUnknownParameters) {
  for (const auto& [key, value] : {std::pair{"m_A_GeV", 1.0}, std::pair{"dy_met_slices", 2.0}}) {
    GeneratorOptions options;
    options.parameters[key] = value;
    try {
      (void)channel().samples(options);
      ADD_FAILURE() << key << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("dy_met_slices=0|1"), std::string::npos) << e.what();
    }
  }
  GeneratorOptions on;
  on.parameters["dy_met_slices"] = 1;  // the default, given explicitly
  EXPECT_FALSE(text(find_sample(channel().samples(on), "dy_ee").info, "generator_slices").empty());
  GeneratorOptions off;
  off.parameters["dy_met_slices"] = 0;
  EXPECT_THROW((void)text(find_sample(channel().samples(off), "dy_ee").info, "generator_slices"), std::runtime_error);
}

TEST(DileptonMetChannel, GenerationIsIndependentOfHowTheRangeIsSplit) {
  const auto samples = all_samples();
  GeneratorOptions options;
  for (const char* name : {"dy_ee", "dy_tautau", "ttbar_dilep", "wjets_fake", "zp_EFT_HDS_m700_mumu"}) {
    const auto& sample = find_sample(samples, name);
    EventBlock whole(reco_event_schema(channel().content())), parts(reco_event_schema(channel().content()));
    GenerationTally t_whole, t_parts;
    generate_events(channel(), sample, options, 0, 1000, whole, t_whole);
    generate_events(channel(), sample, options, 0, 400, parts, t_parts);
    generate_events(channel(), sample, options, 400, 600, parts, t_parts);
    ASSERT_EQ(whole.size(), 1000u);
    ASSERT_EQ(parts.size(), 1000u);
    for (std::size_t c = 0; c < whole.columns().size(); ++c)
      EXPECT_TRUE(whole.columns()[c].values == parts.columns()[c].values) << name << " " << whole.columns()[c].spec.name;
    for (std::size_t c = 0; c < whole.collections().size(); ++c) {
      const auto& a = whole.collections()[c];
      const auto& b = parts.collections()[c];
      EXPECT_EQ(a.offsets, b.offsets) << name << " " << a.spec.name;
      for (std::size_t k = 0; k < a.members.size(); ++k)
        EXPECT_TRUE(a.members[k].values == b.members[k].values) << name << " " << a.spec.name;
    }
    EXPECT_EQ(t_whole.n_generated, t_parts.n_generated) << name;
    EXPECT_EQ(t_whole.n_negative, t_parts.n_negative) << name;
    EXPECT_EQ(t_whole.sum_of_weights.raw(), t_parts.sum_of_weights.raw()) << name;
  }
}

}  // namespace
