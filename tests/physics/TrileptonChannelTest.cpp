// The trilepton generator channel (analysis B) and the trilepton feature set.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/features/FeatureSet.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"

namespace {

using namespace bsmhunt;
using namespace bsmhunt::physics;

constexpr double kMassZ = 91.1876;

const Channel& channel() {
  static const auto c = make_channel("trilepton");
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

std::vector<SampleDefinition> all_samples(bool preselection = true) {
  GeneratorOptions options;
  options.preselection = preselection;
  return channel().samples(options);
}

struct Generated {
  EventBlock block;
  GenerationTally tally;
};

Generated generate(const SampleDefinition& sample, uint64_t n, const GeneratorOptions& options) {
  Generated g{EventBlock(reco_event_schema(channel().content())), {}};
  generate_events(channel(), sample, options, 0, n, g.block, g.tally);
  return g;
}
Generated generate(const SampleDefinition& sample, uint64_t n, bool preselection, uint64_t seed = 1) {
  GeneratorOptions options;
  options.seed = seed;
  options.preselection = preselection;
  return generate(sample, n, options);
}

// The leptons of one event, pT-ordered, with flavour 0 (e) or 1 (mu).
struct LeptonView {
  double pt, eta, phi;
  int charge, flavour;
  FourVector p4() const { return FourVector::from_pt_eta_phi_m(pt, eta, phi, 0.0); }
};
std::vector<LeptonView> leptons_of(const EventBlock& b, std::size_t e) {
  std::vector<LeptonView> out;
  for (int flavour = 0; flavour < 2; ++flavour) {
    const auto& c = b.collection(flavour == 0 ? "electrons" : "muons");
    const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(), &phi = c.member("phi").as<float>();
    const auto& q = c.member("charge").as<int8_t>();
    for (uint64_t k = c.offsets[e]; k < c.offsets[e + 1]; ++k) out.push_back({pt[k], eta[k], phi[k], q[k], flavour});
  }
  std::sort(out.begin(), out.end(), [](const LeptonView& a, const LeptonView& c) { return a.pt > c.pt; });
  return out;
}
struct JetView {
  FourVector p4;
  bool btag;
};
std::vector<JetView> jets_of(const EventBlock& b, std::size_t e) {
  const auto& c = b.collection("jets");
  const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(), &phi = c.member("phi").as<float>(),
             &m = c.member("m").as<float>();
  const auto& btag = c.member("btag").as<int8_t>();
  std::vector<JetView> out;
  for (uint64_t k = c.offsets[e]; k < c.offsets[e + 1]; ++k)
    out.push_back({FourVector::from_pt_eta_phi_m(pt[k], eta[k], phi[k], m[k]), btag[k] != 0});
  return out;
}

// Mass of the SFOS pair closest to m_Z among the leptons, or NaN.
double best_sfos_mass(const std::vector<LeptonView>& l) {
  double best = NAN;
  for (std::size_t a = 0; a < l.size(); ++a)
    for (std::size_t c = a + 1; c < l.size(); ++c) {
      if (l[a].flavour != l[c].flavour || l[a].charge == l[c].charge) continue;
      const double m = (l[a].p4() + l[c].p4()).m();
      if (std::isnan(best) || std::fabs(m - kMassZ) < std::fabs(best - kMassZ)) best = m;
    }
  return best;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v[v.size() / 2];
}
double mean(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += x;
  return v.empty() ? NAN : sum / double(v.size());
}

// Position of the maximum of a histogram of v in [lo, hi) smoothed by a 5-bin moving average.
double histogram_peak(const std::vector<double>& v, double lo, double hi, int bins) {
  std::vector<double> h(std::size_t(bins), 0.0), s(std::size_t(bins), 0.0);
  const double width = (hi - lo) / bins;
  for (double x : v)
    if (x >= lo && x < hi) h[std::size_t((x - lo) / width)] += 1;
  for (int i = 0; i < bins; ++i)
    for (int k = std::max(0, i - 2); k <= std::min(bins - 1, i + 2); ++k) s[std::size_t(i)] += h[std::size_t(k)];
  const auto peak = std::max_element(s.begin(), s.end()) - s.begin();
  return lo + width * (double(peak) + 0.5);
}

// ---------------------------------------------------------------------------
// Samples and metadata
// ---------------------------------------------------------------------------

TEST(TrileptonChannel, IsRegisteredAndDescribesItself) {
  const auto names = channel_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "trilepton"), names.end());
  EXPECT_EQ(channel().name(), "trilepton");
  EXPECT_FALSE(channel().description().empty());
  EXPECT_TRUE(channel().content().leptons);
  EXPECT_TRUE(channel().content().jets);
  EXPECT_FALSE(channel().content().large_jets);
  EXPECT_FALSE(channel().content().particles);
}

TEST(TrileptonChannel, BackgroundsCarryThirteenTeVCrossSectionsAndBranchingRatios) {
  const auto samples = all_samples();
  std::set<std::string> names;
  std::set<uint32_t> dsids;
  std::set<std::string> backgrounds;
  for (const auto& s : samples) {
    EXPECT_TRUE(names.insert(s.info.name).second) << s.info.name;
    EXPECT_TRUE(dsids.insert(s.info.dsid).second) << s.info.name;
    if (s.info.role != Role::background) continue;
    backgrounds.insert(s.info.name);
    const double inclusive = number(s.info, "inclusive_cross_section_pb");
    const double br = number(s.info, "branching_ratio");
    EXPECT_NEAR(s.info.cross_section_pb, inclusive * br, 1e-12 * inclusive) << s.info.name;
    EXPECT_GT(br, 0.0) << s.info.name;
    EXPECT_LT(br, 1.0) << s.info.name;
    EXPECT_GT(s.info.filter_efficiency, 0.0) << s.info.name;
    EXPECT_LE(s.info.filter_efficiency, 1.0) << s.info.name;
    EXPECT_FALSE(text(s.info, "description").empty());
  }
  EXPECT_EQ(backgrounds, (std::set<std::string>{"wz_lvll", "zz_llll", "zz_llvv_fake", "ttbar_nonprompt", "ttw_3l",
                                                "ttz_3l", "dy_fake", "zgamma_conv", "www_3l", "wwz_3l", "wzz_3l",
                                                "zzz_3l"}));
  // Branching ratios from the PDG values: "l" = e, mu, tau -> e/mu.
  const double br_w = 0.1086 * (2 + 0.1782 + 0.1739), br_z = 0.033658 * (2 + std::pow(0.1782 + 0.1739, 2));
  auto sample = [&](const char* name) { return find_sample(samples, name).info; };
  EXPECT_NEAR(number(sample("wz_lvll"), "inclusive_cross_section_pb"), 51.0, 1e-9);
  EXPECT_NEAR(number(sample("wz_lvll"), "branching_ratio"), br_w * br_z, 1e-12);
  EXPECT_NEAR(number(sample("zz_llll"), "branching_ratio"), br_z * br_z, 1e-12);
  EXPECT_NEAR(number(sample("zz_llvv_fake"), "branching_ratio"), 2 * br_z * 0.2, 1e-12);
  EXPECT_NEAR(number(sample("ttbar_nonprompt"), "inclusive_cross_section_pb"), 831.76, 1e-9);
  EXPECT_NEAR(number(sample("ttw_3l"), "branching_ratio"), br_w * br_w * br_w, 1e-12);
  // ttZ: Z -> ll and at least one of the two W -> l nu.
  EXPECT_NEAR(number(sample("ttz_3l"), "branching_ratio"), br_z * (1 - (1 - br_w) * (1 - br_w)), 1e-12);
  // ZZZ: at least two of three Z -> ll.
  EXPECT_NEAR(number(sample("zzz_3l"), "branching_ratio"), 3 * br_z * br_z * (1 - br_z) + br_z * br_z * br_z, 1e-12);
  // Drell-Yan m_ll > 50 GeV: 1921.8 pb per flavour (ee, mumu, and tautau -> ll).
  EXPECT_NEAR(sample("dy_fake").cross_section_pb, 1921.8 * (2 + std::pow(0.1782 + 0.1739, 2)), 1e-6);
  EXPECT_NEAR(sample("zgamma_conv").cross_section_pb, 117.9 / 3 * (2 + std::pow(0.1782 + 0.1739, 2)), 1e-9);
  // Prompt processes have no filter; fakes are rare.
  EXPECT_DOUBLE_EQ(sample("wz_lvll").filter_efficiency, 1.0);
  EXPECT_LT(sample("dy_fake").filter_efficiency, 1e-3);
  EXPECT_LT(sample("zgamma_conv").filter_efficiency, 0.03);
}

TEST(TrileptonChannel, BackgroundEventsAreSharedExactly) {
  for (bool preselection : {true, false})
    for (uint64_t total : {0ull, 1ull, 13ull, 1000ull, 999'999ull}) {
      GeneratorOptions options;
      options.preselection = preselection;
      options.background_events = total;
      options.signal_events = 77;
      uint64_t sum = 0;
      for (const auto& s : channel().samples(options)) {
        if (s.info.role == Role::signal) {
          EXPECT_EQ(s.n_events, 77u);
          continue;
        }
        sum += s.n_events;
        if (total >= 1000) {
          EXPECT_GE(double(s.n_events), 0.0099 * double(total)) << s.info.name;
        }
      }
      EXPECT_EQ(sum, total);
    }
  // WZ, the dominant prompt background, gets more events than ttW.
  GeneratorOptions options;
  const auto samples = channel().samples(options);
  EXPECT_GT(find_sample(samples, "wz_lvll").n_events, 3 * find_sample(samples, "ttw_3l").n_events);
}

// Heavy-neutrino grid: e and mu x 8 masses; widths and branching ratios from the
// closed-form formulas agree with the research table (br.py), the cross section
// falls with m_N, and sigma x BR(3l) matches the independent calculation.
TEST(TrileptonChannel, SignalGridFollowsTheHeavyNeutrinoModel) {
  const auto samples = all_samples();
  // Research table (m_N: BR(lW), BR(nuZ), BR(nuH), Gamma/|V|^2 GeV, sigma_LO/|V|^2 pb).
  struct Row {
    double m, lw, nuz, nuh, width, sigma_lo;
  };
  const std::vector<Row> table = {{100, 0.884, 0.116, 0.0, 0.213, 24.9},  {150, 0.671, 0.290, 0.038, 2.64, 4.52},
                                  {200, 0.597, 0.285, 0.118, 8.19, 1.54}, {300, 0.543, 0.269, 0.188, 32.2, 0.346},
                                  {400, 0.524, 0.261, 0.214, 79.7, 0.116}, {500, 0.516, 0.257, 0.227, 159, 4.82e-2},
                                  {700, 0.508, 0.254, 0.238, 443, 1.19e-2}, {1000, 0.504, 0.252, 0.244, 1302, 2.31e-3}};
  const double br_w = 0.1086 * (2 + 0.1782 + 0.1739), br_z = 0.033658 * (2 + std::pow(0.1782 + 0.1739, 2));
  for (const char* flavour : {"e", "mu"}) {
    double previous_sigma = INFINITY, previous_sigma_3l = INFINITY;
    for (const Row& r : table) {
      const std::string name = std::string("hnl_") + flavour + "_m" + std::to_string(int(r.m));
      const SampleInfo& info = find_sample(samples, name).info;
      EXPECT_EQ(info.role, Role::signal);
      EXPECT_EQ(text(info, "flavour"), flavour);
      EXPECT_DOUBLE_EQ(number(info, "m_N_GeV"), r.m);
      EXPECT_NEAR(number(info, "br_N_to_lW"), r.lw, 0.0015) << name;
      EXPECT_NEAR(number(info, "br_N_to_nuZ"), r.nuz, 0.0015) << name;
      EXPECT_NEAR(number(info, "br_N_to_nuH"), r.nuh, 0.0015) << name;
      const double mixing = number(info, "mixing_squared");
      EXPECT_NEAR(number(info, "width_N_GeV") / mixing, r.width, 0.005 * r.width) << name;
      EXPECT_DOUBLE_EQ(number(info, "sigma_lo_per_mixing_pb"), r.sigma_lo);
      EXPECT_DOUBLE_EQ(info.k_factor, 1.17);
      // Generated: N -> l W (any W decay) and N -> nu Z (Z -> ll).
      const double br = r.lw + r.nuz * br_z;
      EXPECT_NEAR(info.cross_section_pb, r.sigma_lo * mixing * br, 0.003 * info.cross_section_pb) << name;
      const double sigma_3l = number(info, "cross_section_3l_pb");
      EXPECT_NEAR(sigma_3l, 1.17 * r.sigma_lo * mixing * (r.lw * br_w + r.nuz * br_z), 0.003 * sigma_3l) << name;
      EXPECT_LT(info.cross_section_pb, previous_sigma) << name;
      EXPECT_LT(sigma_3l, previous_sigma_3l) << name;
      previous_sigma = info.cross_section_pb, previous_sigma_3l = sigma_3l;
      if (r.m == 300) {
        // O(100) three-lepton signal events at 139 fb^-1 before cuts: near the sensitivity edge.
        EXPECT_GT(sigma_3l * 139e3, 50.0);
        EXPECT_LT(sigma_3l * 139e3, 200.0);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Physics
// ---------------------------------------------------------------------------

// WZ: the SFOS pair closest to m_Z peaks at the Z mass. Resolution: electrons
// 10%/sqrt(E) (+) 0.7%, muons 1.5% at 45 GeV, so sigma_m ~ 1 GeV and the core of
// the peak is the Breit-Wigner of width 2.5 GeV.
TEST(TrileptonChannel, ZPeakInTheSfosPairsOfWZ) {
  const Generated g = generate(find_sample(all_samples(), "wz_lvll"), 20'000, true);
  std::vector<double> masses, window;
  for (std::size_t e = 0; e < g.block.size(); ++e) {
    const double m = best_sfos_mass(leptons_of(g.block, e));
    if (std::isnan(m)) continue;
    masses.push_back(m);
    if (std::fabs(m - kMassZ) < 10) window.push_back(m);
  }
  ASSERT_GT(masses.size(), 18'000u);
  const double peak = histogram_peak(masses, 60, 120, 120);
  std::printf("[ wz_lvll ] SFOS mass: median in window %.3f GeV, histogram peak %.2f GeV, %.3f within 10 GeV\n",
              median(window), peak, double(window.size()) / double(masses.size()));
  EXPECT_NEAR(median(window), kMassZ, 0.3);
  EXPECT_NEAR(peak, kMassZ, 1.5);
  EXPECT_GT(double(window.size()) / double(masses.size()), 0.85);
}

// N -> l W with W -> q q': m(l j j) of the right lepton with the two W jets peaks at
// m_N. The signal sample keeps these dilepton events when the preselection is off.
// Best candidate: events with exactly two leptons of the signal flavour and two
// leading jets with m_jj in [60, 100] GeV; both leptons are tried (the wrong one
// gives a broad distribution), and the histogram peak must lie within the
// resolution (~5%) of m_N, for two masses.
TEST(TrileptonChannel, HeavyNeutrinoMassPeakInLeptonPlusHadronicW) {
  const auto samples = all_samples(false);
  for (const auto& [name, m_n] : {std::pair{"hnl_mu_m300", 300.0}, std::pair{"hnl_e_m150", 150.0}}) {
    const Generated g = generate(find_sample(samples, name), 40'000, false);
    std::vector<double> masses;
    std::size_t candidates = 0;
    for (std::size_t e = 0; e < g.block.size(); ++e) {
      const auto l = leptons_of(g.block, e);
      const auto j = jets_of(g.block, e);
      if (l.size() != 2 || l[0].flavour != l[1].flavour || j.size() < 2) continue;
      const FourVector w = j[0].p4 + j[1].p4;
      if (w.m() < 60 || w.m() > 100) continue;
      ++candidates;
      for (const auto& lepton : l) masses.push_back((lepton.p4() + w).m());
    }
    ASSERT_GT(candidates, 2'000u) << name;
    const double peak = histogram_peak(masses, 0.3 * m_n, 2.0 * m_n, 85);
    std::printf("[ %s ] m(l jj) peak %.1f GeV (m_N = %.0f GeV) from %zu candidates\n", name, peak, m_n, candidates);
    EXPECT_NEAR(peak, m_n, 0.05 * m_n) << name;
  }
}

// Weights: with the preselection off every generated event is stored, the analysis
// weights add up to sigma k eps L, and the negative-weight fraction is the documented one.
TEST(TrileptonChannel, NegativeWeightFractionsAndNormalisation) {
  const auto samples = all_samples(false);
  const double lumi_ipb = 139e3;
  for (const char* name : {"wz_lvll", "ttw_3l", "ttz_3l", "zgamma_conv", "ttbar_nonprompt", "hnl_mu_m300"}) {
    const auto& sample = find_sample(samples, name);
    const uint64_t n = 40'000;
    const Generated g = generate(sample, n, false);
    ASSERT_EQ(g.block.size(), n);
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
    const double f = info.role == Role::signal ? 0.0 : number(info, "negative_weight_fraction");
    EXPECT_NEAR(double(negative) / double(n), f, 5 * std::sqrt(f * (1 - f) / double(n)) + 1e-12) << name;
  }
  // The NLO-like samples named in the documentation do have negative weights.
  for (const char* name : {"wz_lvll", "ttw_3l", "ttz_3l"})
    EXPECT_GE(number(find_sample(samples, name).info, "negative_weight_fraction"), 0.05) << name;
}

// Stored events pass the preselection: >= 3 leptons above 10 GeV in acceptance, the
// leading above 25 GeV; objects are pT-ordered and inside the detector.
TEST(TrileptonChannel, StoredEventsPassThePreselection) {
  const auto samples = all_samples();
  for (const char* name :
       {"wz_lvll", "zz_llll", "dy_fake", "ttbar_nonprompt", "zgamma_conv", "zzz_3l", "hnl_e_m1000"}) {
    const Generated g = generate(find_sample(samples, name), 3'000, true);
    for (std::size_t e = 0; e < g.block.size(); ++e) {
      const auto l = leptons_of(g.block, e);
      ASSERT_GE(l.size(), 3u) << name;
      ASSERT_GT(l[0].pt, 25.0) << name;
      for (const auto& lepton : l) {
        ASSERT_GT(lepton.pt, 10.0) << name;
        ASSERT_LT(std::fabs(lepton.eta), lepton.flavour == 0 ? 2.47 : 2.5) << name;
        ASSERT_TRUE(lepton.charge == 1 || lepton.charge == -1) << name;
      }
      const auto j = jets_of(g.block, e);
      for (std::size_t k = 0; k < j.size(); ++k) {
        ASSERT_GT(j[k].p4.pt(), 25.0 - 1e-4) << name;
        if (k > 0) {
          ASSERT_LE(j[k].p4.pt(), j[k - 1].p4.pt() + 1e-4) << name;
        }
        if (j[k].btag) {
          ASSERT_LT(std::fabs(j[k].p4.eta()), 2.5) << name;
        }
      }
    }
    // Some attempts fail: the preselection is applied, not trivially passed.
    EXPECT_GT(g.tally.n_generated, g.block.size()) << name;
  }
}

// Process signatures: ttbar has b-jets and genuine MET, ZZ -> 4l keeps a fourth
// lepton often, Drell-Yan has little genuine MET, and in WZ the lepton outside the
// Z pair comes with the W neutrino (large mT), in Z+fake it does not.
TEST(TrileptonChannel, ProcessSignatures) {
  const auto samples = all_samples();
  auto fraction = [](const Generated& g, auto&& predicate) {
    std::size_t n = 0;
    for (std::size_t e = 0; e < g.block.size(); ++e) n += predicate(g.block, e);
    return double(n) / double(g.block.size());
  };
  const Generated tt = generate(find_sample(samples, "ttbar_nonprompt"), 5'000, true);
  const Generated zz = generate(find_sample(samples, "zz_llll"), 5'000, true);
  const Generated dy = generate(find_sample(samples, "dy_fake"), 5'000, true);
  const Generated wz = generate(find_sample(samples, "wz_lvll"), 5'000, true);
  const double tt_btag = fraction(tt, [](const EventBlock& b, std::size_t e) {
    const auto j = jets_of(b, e);
    return std::any_of(j.begin(), j.end(), [](const JetView& v) { return v.btag; });
  });
  const double zz_four = fraction(zz, [](const EventBlock& b, std::size_t e) { return leptons_of(b, e).size() >= 4; });
  const double dy_met = mean(dy.block.values<float>("met_truth"));
  const double wz_met = mean(wz.block.values<float>("met_truth"));
  const double tt_met = mean(tt.block.values<float>("met_truth"));
  std::printf("[ signatures ] ttbar b-tag %.2f, ZZ 4 leptons %.2f, true MET: DY %.1f, WZ %.1f, ttbar %.1f GeV\n",
              tt_btag, zz_four, dy_met, wz_met, tt_met);
  EXPECT_GT(tt_btag, 0.6);
  EXPECT_GT(zz_four, 0.4);
  EXPECT_LT(dy_met, 10.0);  // only tau decays and the fake's parent
  EXPECT_GT(wz_met, 30.0);
  EXPECT_GT(tt_met, 60.0);
}

// ---------------------------------------------------------------------------
// Pseudo-data distortions
// ---------------------------------------------------------------------------

GeneratorOptions data_options(std::map<std::string, double> parameters, bool drawing) {
  GeneratorOptions o;
  o.parameters = std::move(parameters);
  o.drawing_pseudo_data = drawing;
  return o;
}

// data_met_scale multiplies the MET of the pseudo-data, event by event (the same
// stream gives the same event), and leaves the Monte Carlo alone.
TEST(TrileptonChannel, DataMetScaleDistortsOnlyThePseudoData) {
  const auto samples = all_samples();
  const auto& sample = find_sample(samples, "wz_lvll");
  const Generated nominal = generate(sample, 5'000, data_options({}, true));
  const Generated scaled = generate(sample, 5'000, data_options({{"data_met_scale", 1.2}}, true));
  const Generated monte_carlo = generate(sample, 5'000, data_options({{"data_met_scale", 1.2}}, false));
  const auto &met0 = nominal.block.values<float>("met"), &met1 = scaled.block.values<float>("met");
  ASSERT_EQ(met0.size(), met1.size());
  for (std::size_t e = 0; e < met0.size(); ++e) ASSERT_NEAR(met1[e], 1.2f * met0[e], 1e-4f * met0[e] + 1e-5f);
  const double ratio = mean(met1) / mean(met0);
  std::printf("[ data_met_scale = 1.2 ] mean MET %.2f -> %.2f GeV (ratio %.4f)\n", mean(met0), mean(met1), ratio);
  EXPECT_NEAR(ratio, 1.2, 1e-3);
  EXPECT_EQ(monte_carlo.block.values<float>("met"), met0);
  EXPECT_EQ(scaled.block.values<float>("met_truth"), nominal.block.values<float>("met_truth"));
  EXPECT_EQ(scaled.tally.n_generated, nominal.tally.n_generated);
}

// data_jet_pt_scale: the jet energy scale of the data; jets move, and MET follows
// (the jets' extra measured momentum is subtracted from it).
TEST(TrileptonChannel, DataJetPtScaleShiftsJetsAndPropagatesToMet) {
  const auto samples = all_samples();
  const auto& sample = find_sample(samples, "ttz_3l");
  const Generated nominal = generate(sample, 3'000, data_options({}, true));
  const Generated scaled = generate(sample, 3'000, data_options({{"data_jet_pt_scale", 1.05}}, true));
  std::size_t compared = 0, met_changed = 0;
  for (std::size_t e = 0; e < nominal.block.size(); ++e) {
    const auto j0 = jets_of(nominal.block, e), j1 = jets_of(scaled.block, e);
    ASSERT_GE(j1.size(), j0.size());  // jets only cross the threshold upwards
    if (j0.empty()) continue;
    ++compared;
    EXPECT_NEAR(j1[0].p4.pt(), 1.05 * j0[0].p4.pt(), 1e-4 * j0[0].p4.pt());
    met_changed += nominal.block.values<float>("met")[e] != scaled.block.values<float>("met")[e];
  }
  EXPECT_GT(compared, 2'500u);
  EXPECT_EQ(met_changed, compared);
  EXPECT_EQ(leptons_of(nominal.block, 7).size(), leptons_of(scaled.block, 7).size());
}

TEST(TrileptonChannel, DataFakeRateScaleWeighsOnlyNonpromptProcesses) {
  const GeneratorOptions options = data_options({{"data_fake_rate_scale", 1.5}}, true);
  const auto samples = channel().samples(options);
  std::set<std::string> scaled;
  for (const auto& s : samples) {
    const double k = channel().data_yield_scale(s, options);
    if (k != 1.0) scaled.insert(s.info.name);
    EXPECT_TRUE(k == 1.0 || k == 1.5) << s.info.name;
    EXPECT_EQ(channel().data_yield_scale(s, GeneratorOptions{}), 1.0) << s.info.name;
  }
  EXPECT_EQ(scaled, (std::set<std::string>{"dy_fake", "zz_llvv_fake", "ttbar_nonprompt"}));
}

TEST(TrileptonChannel, ParametersAreChecked) {
  for (const auto& [parameters, message] :
       {std::pair{std::map<std::string, double>{{"data_met_scal", 1.1}}, "data_met_scale"},
        std::pair{std::map<std::string, double>{{"data_met_scale", 0.0}}, "must be a finite number > 0"},
        std::pair{std::map<std::string, double>{{"data_jet_pt_scale", -1.0}}, "data_jet_pt_scale"},
        std::pair{std::map<std::string, double>{{"data_fake_rate_scale", -0.5}}, ">= 0"},
        std::pair{std::map<std::string, double>{{"m_A_GeV", 3000}}, "no such parameter"}}) {
    GeneratorOptions o;
    o.parameters = parameters;
    try {
      channel().samples(o);
      ADD_FAILURE() << "accepted " << parameters.begin()->first;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
  GeneratorOptions ok;
  ok.parameters = {{"data_fake_rate_scale", 0.0}, {"data_met_scale", 0.97}, {"data_jet_pt_scale", 1.02}};
  EXPECT_NO_THROW(channel().samples(ok));
}

// ---------------------------------------------------------------------------
// Rank invariance
// ---------------------------------------------------------------------------

// Events depend only on (seed, sample, event number): one call or two give the same
// bits, for Monte Carlo and for distorted pseudo-data options.
TEST(TrileptonChannel, GenerationIsIndependentOfHowTheRangeIsSplit) {
  const auto samples = all_samples();
  for (const GeneratorOptions& options :
       {GeneratorOptions{}, data_options({{"data_met_scale", 1.1}, {"data_jet_pt_scale", 0.97}}, true)})
    for (const char* name : {"wz_lvll", "ttbar_nonprompt", "zgamma_conv", "dy_fake", "ttz_3l", "hnl_mu_m300"}) {
      const auto& sample = find_sample(samples, name);
      EventBlock whole(reco_event_schema(channel().content())), parts(reco_event_schema(channel().content()));
      GenerationTally t_whole, t_parts;
      generate_events(channel(), sample, options, 0, 700, whole, t_whole);
      generate_events(channel(), sample, options, 0, 300, parts, t_parts);
      generate_events(channel(), sample, options, 300, 400, parts, t_parts);
      ASSERT_EQ(whole.size(), 700u);
      ASSERT_EQ(parts.size(), 700u);
      for (std::size_t c = 0; c < whole.columns().size(); ++c)
        EXPECT_TRUE(whole.columns()[c].values == parts.columns()[c].values)
            << name << " " << whole.columns()[c].spec.name;
      for (std::size_t c = 0; c < whole.collections().size(); ++c) {
        const auto& a = whole.collections()[c];
        const auto& b = parts.collections()[c];
        EXPECT_EQ(a.offsets, b.offsets) << name << " " << a.spec.name;
        for (std::size_t k = 0; k < a.members.size(); ++k)
          EXPECT_TRUE(a.members[k].values == b.members[k].values) << name << " " << a.spec.name;
      }
      EXPECT_EQ(t_whole.n_generated, t_parts.n_generated) << name;
      EXPECT_EQ(t_whole.sum_of_weights.raw(), t_parts.sum_of_weights.raw()) << name;
    }
}

// ---------------------------------------------------------------------------
// Feature set "trilepton" on hand-made events
// ---------------------------------------------------------------------------

struct HandEvent {
  std::vector<std::tuple<int, double, double, double, int>> leptons;  // flavour (0 e, 1 mu), pt, eta, phi, charge
  std::vector<std::tuple<double, double, double, int>> jets;          // pt, eta, phi, btag
  double met = 0, met_phi = 0;
};

EventBlock hand_block(const std::vector<HandEvent>& events) {
  EventBlock block(reco_event_schema(RecoContent{.leptons = true, .jets = true}));
  RecoEventAppender appender(block);
  uint64_t number = 0;
  for (const HandEvent& h : events) {
    RecoEvent e;
    for (const auto& [flavour, pt, eta, phi, charge] : h.leptons)
      (flavour == 0 ? e.electrons : e.muons).push_back({float(pt), float(eta), float(phi), int8_t(charge)});
    for (auto* c : {&e.electrons, &e.muons})
      std::sort(c->begin(), c->end(), [](const physics::Lepton& a, const physics::Lepton& b) { return a.pt > b.pt; });
    for (const auto& [pt, eta, phi, btag] : h.jets)
      e.jets.push_back({float(pt), float(eta), float(phi), 5.0f, int8_t(btag)});
    e.met = float(h.met), e.met_phi = float(h.met_phi);
    appender.append(e, number++);
  }
  return block;
}

struct Evaluated {
  std::size_t passed;
  std::map<std::string, double> x;
  std::map<std::string, bool> present;
};
Evaluated evaluate(const HandEvent& h) {
  auto set = make_feature_set("trilepton", {});
  const EventBlock block = hand_block({h});
  const auto& defs = set->features();
  std::vector<double> values(defs.size(), NAN);
  std::vector<char> present(defs.size(), 1);
  Evaluated out;
  out.passed = set->evaluate(block, 0, values, present);
  for (std::size_t f = 0; f < defs.size(); ++f) out.x[defs[f].name] = values[f], out.present[defs[f].name] = present[f];
  return out;
}

FourVector massless(double pt, double eta, double phi) { return FourVector::from_pt_eta_phi_m(pt, eta, phi, 0.0); }
double transverse_mass_by_hand(double pt, double phi, double met, double met_phi) {
  return std::sqrt(2 * pt * met * (1 - std::cos(phi - met_phi)));
}

TEST(TrileptonFeatures, DescribesItsSelection) {
  auto set = make_feature_set("trilepton", {});
  EXPECT_EQ(set->name(), "trilepton");
  EXPECT_EQ(set->cuts(), (std::vector<std::string>{"three leptons", "leading lepton"}));
  EXPECT_EQ(set->features()[set->mass_feature()].name, "m_3l");
  std::set<std::string> names;
  for (const auto& f : set->features()) EXPECT_TRUE(names.insert(f.name).second) << f.name;
  for (const char* needed : {"lep1_pt", "lep3_charge", "lep2_flavour", "n_electrons", "n_muons", "m_3l", "m_sfos",
                             "mt_3rd", "met", "n_jets", "n_bjets", "ht"})
    EXPECT_EQ(names.count(needed), 1u) << needed;
}

// e+ e- mu+: one SFOS pair (the electrons), the muon is the third lepton.
TEST(TrileptonFeatures, EEMuEvent) {
  HandEvent h;
  h.leptons = {{0, 50, 0.1, 0.0, +1}, {1, 40, -0.5, 2.0, +1}, {0, 30, 1.0, -1.5, -1}};
  h.jets = {{60, 0.5, 2.5, 1}, {30, -2.0, -0.5, 0}, {24, 0.0, 1.0, 1}};  // the last is below 25 GeV
  h.met = 70, h.met_phi = 0.7;
  const Evaluated r = evaluate(h);
  ASSERT_EQ(r.passed, 2u);
  const FourVector e1 = massless(50, 0.1, 0.0), mu = massless(40, -0.5, 2.0), e2 = massless(30, 1.0, -1.5);
  EXPECT_NEAR(r.x.at("m_3l"), (e1 + mu + e2).m(), 1e-4);
  EXPECT_NEAR(r.x.at("pt_3l"), (e1 + mu + e2).pt(), 1e-4);
  EXPECT_NEAR(r.x.at("m_sfos"), (e1 + e2).m(), 1e-4);
  EXPECT_NEAR(r.x.at("mt_3rd"), transverse_mass_by_hand(40, 2.0, 70, 0.7), 1e-4);
  EXPECT_TRUE(r.present.at("m_sfos"));
  EXPECT_DOUBLE_EQ(r.x.at("n_sfos_pairs"), 1);
  EXPECT_DOUBLE_EQ(r.x.at("n_leptons"), 3);
  EXPECT_DOUBLE_EQ(r.x.at("n_electrons"), 2);
  EXPECT_DOUBLE_EQ(r.x.at("n_muons"), 1);
  // pT order across flavours: e (50), mu (40), e (30).
  EXPECT_NEAR(r.x.at("lep1_pt"), 50, 1e-5);
  EXPECT_DOUBLE_EQ(r.x.at("lep1_flavour"), 0);
  EXPECT_DOUBLE_EQ(r.x.at("lep2_flavour"), 1);
  EXPECT_NEAR(r.x.at("lep2_eta"), -0.5, 1e-6);
  EXPECT_NEAR(r.x.at("lep2_phi"), 2.0, 1e-6);
  EXPECT_DOUBLE_EQ(r.x.at("lep3_flavour"), 0);
  EXPECT_DOUBLE_EQ(r.x.at("lep3_charge"), -1);
  EXPECT_DOUBLE_EQ(r.x.at("lep1_charge"), 1);
  EXPECT_NEAR(r.x.at("met"), 70, 1e-5);
  EXPECT_DOUBLE_EQ(r.x.at("n_jets"), 2);
  EXPECT_DOUBLE_EQ(r.x.at("n_bjets"), 1);
  EXPECT_NEAR(r.x.at("ht"), 90, 1e-4);
}

// mu+ mu- mu+: two SFOS candidates; the one closest to m_Z is chosen, and the mT
// uses the lepton left over, whichever position it has.
TEST(TrileptonFeatures, SfosPairClosestToTheZ) {
  {
    // (mu1, mu2): back to back at 45 GeV: m = 90 GeV; (mu3, mu2): m ~ 24 GeV.
    HandEvent h;
    h.leptons = {{1, 45, 0.0, 0.0, +1}, {1, 44, 0.0, 3.14159265, -1}, {1, 20, 0.5, 2.5, +1}};
    h.met = 50, h.met_phi = -1.0;
    const Evaluated r = evaluate(h);
    ASSERT_EQ(r.passed, 2u);
    EXPECT_DOUBLE_EQ(r.x.at("n_sfos_pairs"), 2);
    EXPECT_NEAR(r.x.at("m_sfos"), (massless(45, 0, 0) + massless(44, 0, 3.14159265)).m(), 1e-4);
    EXPECT_NEAR(r.x.at("m_sfos"), 89.0, 0.01);
    EXPECT_NEAR(r.x.at("mt_3rd"), transverse_mass_by_hand(20, 2.5, 50, -1.0), 1e-4);
  }
  {
    // (mu1, mu2): m = 27 GeV; (mu2, mu3) back to back: m = 95.9 GeV, closer to m_Z:
    // the third lepton is the leading one.
    HandEvent h;
    h.leptons = {{1, 60, 0.0, 0.0, +1}, {1, 50, 0.0, 0.5, -1}, {1, 46, 0.0, 0.5 - 3.14159265, +1}};
    h.met = 40, h.met_phi = 1.0;
    const Evaluated r = evaluate(h);
    ASSERT_EQ(r.passed, 2u);
    EXPECT_NEAR(r.x.at("m_sfos"), (massless(50, 0, 0.5) + massless(46, 0, 0.5 - 3.14159265)).m(), 1e-4);
    EXPECT_NEAR(r.x.at("m_sfos"), 95.917, 0.01);
    EXPECT_NEAR(r.x.at("mt_3rd"), transverse_mass_by_hand(60, 0.0, 40, 1.0), 1e-4);
  }
}

// e+ e+ mu-: no SFOS pair; m_sfos and mt_3rd are missing (0 under sentinel padding).
TEST(TrileptonFeatures, NoSfosPair) {
  HandEvent h;
  h.leptons = {{0, 80, 0.3, 0.2, +1}, {0, 35, -1.2, 1.9, +1}, {1, 15, 2.1, -2.0, -1}};
  h.met = 25, h.met_phi = 3.0;
  const Evaluated r = evaluate(h);
  ASSERT_EQ(r.passed, 2u);
  EXPECT_DOUBLE_EQ(r.x.at("n_sfos_pairs"), 0);
  EXPECT_FALSE(r.present.at("m_sfos"));
  EXPECT_FALSE(r.present.at("mt_3rd"));
  EXPECT_TRUE(r.present.at("m_3l"));
  EXPECT_NEAR(r.x.at("m_3l"), (massless(80, 0.3, 0.2) + massless(35, -1.2, 1.9) + massless(15, 2.1, -2.0)).m(), 1e-4);
  auto set = make_feature_set("trilepton", {});
  for (const auto& f : set->features()) {
    if (f.name == "m_sfos" || f.name == "mt_3rd") {
      EXPECT_EQ(f.missing, FeatureDef::Missing::zero) << f.name;
    }
  }
}

TEST(TrileptonFeatures, SelectionCountsLeptonsAboveThresholds) {
  // Two leptons (a third below 10 GeV): fails the first cut.
  HandEvent two;
  two.leptons = {{0, 50, 0.0, 0.0, +1}, {0, 40, 0.0, 2.0, -1}, {1, 9.5, 0.0, 1.0, -1}};
  EXPECT_EQ(evaluate(two).passed, 0u);
  // A lepton at |eta| > 2.5 does not count either.
  HandEvent forward = two;
  std::get<1>(forward.leptons[2]) = 20, std::get<2>(forward.leptons[2]) = 2.6;
  EXPECT_EQ(evaluate(forward).passed, 0u);
  // Three leptons, the leading below 25 GeV: fails the second cut.
  HandEvent soft;
  soft.leptons = {{0, 24, 0.0, 0.0, +1}, {0, 20, 0.0, 2.0, -1}, {1, 15, 0.0, 1.0, -1}};
  EXPECT_EQ(evaluate(soft).passed, 1u);
  // Four leptons: the three leading enter, n_leptons counts all.
  HandEvent four;
  four.leptons = {{1, 70, 0.0, 0.0, +1}, {1, 60, 0.5, 3.0, -1}, {0, 30, -0.5, 1.0, -1}, {0, 12, 1.0, -2.0, +1}};
  const Evaluated r = evaluate(four);
  ASSERT_EQ(r.passed, 2u);
  EXPECT_DOUBLE_EQ(r.x.at("n_leptons"), 4);
  EXPECT_DOUBLE_EQ(r.x.at("n_electrons"), 2);
  EXPECT_NEAR(r.x.at("lep3_pt"), 30, 1e-5);
  EXPECT_NEAR(r.x.at("m_3l"), (massless(70, 0, 0) + massless(60, 0.5, 3.0) + massless(30, -0.5, 1.0)).m(), 1e-4);
  EXPECT_DOUBLE_EQ(r.x.at("n_sfos_pairs"), 1);  // mu+ mu-; the e+ e- pair needs the fourth lepton
}

// On generated WZ events the set selects most events and finds the Z.
TEST(TrileptonFeatures, GeneratedWZ) {
  const Generated g = generate(find_sample(all_samples(), "wz_lvll"), 3'000, true);
  auto set = make_feature_set("trilepton", {});
  const auto& defs = set->features();
  std::vector<double> x(defs.size());
  std::vector<char> present(defs.size());
  std::size_t selected = 0;
  std::vector<double> m_sfos, mt;
  for (std::size_t e = 0; e < g.block.size(); ++e) {
    std::fill(present.begin(), present.end(), 1);
    if (set->evaluate(g.block, e, x, present) != set->cuts().size()) continue;
    ++selected;
    for (std::size_t f = 0; f < defs.size(); ++f) {
      if (!present[f]) continue;
      ASSERT_TRUE(std::isfinite(x[f])) << defs[f].name;
      if (defs[f].name == "m_sfos") m_sfos.push_back(x[f]);
      if (defs[f].name == "mt_3rd") mt.push_back(x[f]);
    }
  }
  EXPECT_EQ(selected, g.block.size());  // the generator's preselection is the set's selection
  std::vector<double> window;
  for (double m : m_sfos)
    if (std::fabs(m - kMassZ) < 10) window.push_back(m);
  EXPECT_NEAR(median(window), kMassZ, 0.5);
  // mT of the W lepton has its Jacobian edge near m_W: most below 100 GeV, median well above 20.
  EXPECT_GT(median(mt), 30.0);
  EXPECT_LT(median(mt), 80.0);
}

}  // namespace
