#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <variant>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"

namespace bsmhunt::physics {
std::unique_ptr<Channel> make_dijet_channel();
}

namespace {

using namespace bsmhunt;
using namespace bsmhunt::physics;

constexpr double kSqrtS = 13000.0;

double number(const SampleInfo& info, const char* key) {
  const ParameterValue* v = info.parameter(key);
  if (!v) throw std::runtime_error(std::string("missing parameter ") + key);
  return std::get<double>(*v);
}

// Per-event dijet quantities read back from the stored columns.
struct Dijets {
  std::vector<double> mjj, pt1, pt2, eta1, eta2, dy, m1, m2, tau1, tau2;
  std::size_t size() const { return mjj.size(); }
};

Dijets read_dijets(const EventBlock& block) {
  const auto& jets = block.collection("large_jets");
  const auto& pt = jets.member("pt").as<float>();
  const auto& eta = jets.member("eta").as<float>();
  const auto& phi = jets.member("phi").as<float>();
  const auto& m = jets.member("m").as<float>();
  const auto& tau = jets.member("tau21").as<float>();
  Dijets d;
  for (std::size_t e = 0; e < jets.n_events(); ++e) {
    EXPECT_EQ(jets.offsets[e + 1] - jets.offsets[e], 2u) << "event " << e;
    const std::size_t i = jets.offsets[e], k = i + 1;
    const auto v1 = FourVector::from_pt_eta_phi_m(pt[i], eta[i], phi[i], m[i]);
    const auto v2 = FourVector::from_pt_eta_phi_m(pt[k], eta[k], phi[k], m[k]);
    d.mjj.push_back((v1 + v2).m());
    d.pt1.push_back(pt[i]), d.pt2.push_back(pt[k]);
    d.eta1.push_back(eta[i]), d.eta2.push_back(eta[k]);
    d.dy.push_back(v1.rapidity() - v2.rapidity());
    d.m1.push_back(m[i]), d.m2.push_back(m[k]);
    d.tau1.push_back(tau[i]), d.tau2.push_back(tau[k]);
  }
  return d;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::size_t(q * double(v.size() - 1))];
}
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

struct Generated {
  SampleDefinition sample;
  EventBlock block;
  GenerationTally tally;
  double seconds = 0;
};

Generated generate(const Channel& channel, std::size_t sample_index, uint64_t n, bool preselection = true,
                   GeneratorOptions options = {}) {
  options.preselection = preselection;
  Generated g{channel.samples(options).at(sample_index), EventBlock(reco_event_schema(channel.content())), {}, 0};
  g.block.reserve(n, 2);
  const auto start = std::chrono::steady_clock::now();
  generate_events(channel, g.sample, options, 0, n, g.block, g.tally);
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return g;
}

// One large background sample shared by the spectrum tests.
class DijetBackground : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    channel_ = make_dijet_channel().release();
    auto g = generate(*channel_, 0, 1'000'000);
    std::printf("qcd_dijet: %zu events in %.3f s = %.2f M stored events/s (one core), preselection acceptance %.4f\n",
                g.block.size(), g.seconds, double(g.block.size()) / g.seconds / 1e6,
                double(g.block.size()) / double(g.tally.n_generated));
    info_ = new SampleInfo(g.sample.info);
    dijets_ = new Dijets(read_dijets(g.block));
  }
  static void TearDownTestSuite() {
    delete channel_;
    delete info_;
    delete dijets_;
  }
  static Channel* channel_;
  static SampleInfo* info_;
  static Dijets* dijets_;
};
Channel* DijetBackground::channel_ = nullptr;
SampleInfo* DijetBackground::info_ = nullptr;
Dijets* DijetBackground::dijets_ = nullptr;

TEST(DijetChannel, Samples) {
  auto channel = make_dijet_channel();
  EXPECT_EQ(channel->name(), "dijet");
  const RecoContent c = channel->content();
  EXPECT_FALSE(c.leptons);
  EXPECT_FALSE(c.jets);
  EXPECT_TRUE(c.large_jets);
  GeneratorOptions options;
  options.background_events = 1234;
  options.signal_events = 567;
  const auto samples = channel->samples(options);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].info.name, "qcd_dijet");
  EXPECT_EQ(samples[0].info.role, Role::background);
  EXPECT_EQ(samples[0].n_events, 1234u);
  EXPECT_GT(samples[0].info.cross_section_pb, 1.0);
  EXPECT_EQ(samples[1].info.name, "signal_A3500_B500_C100");
  EXPECT_EQ(samples[1].info.role, Role::signal);
  EXPECT_EQ(samples[1].n_events, 567u);
  EXPECT_EQ(number(samples[1].info, "m_A_GeV"), 3500);
  // The generator keeps decays with |delta y| < 1.3 (the CMS wide-jet cut; the
  // preselection tightens it to 1.2). For an isotropic two-body decay delta y = 2 y*
  // and cos(theta*) = tanh(y*) is uniform, so the efficiency is P(|y*| < 0.65) = tanh(0.65).
  EXPECT_EQ(number(samples[1].info, "max_abs_delta_y"), 1.3);
  EXPECT_NEAR(samples[1].info.filter_efficiency, std::tanh(0.65), 1e-15);
  EXPECT_NE(samples[0].info.dsid, samples[1].info.dsid);

  options.parameters = {{"m_A_GeV", 3000}, {"m_B_GeV", 400}, {"m_C_GeV", 80}};
  const auto other = channel->samples(options);
  EXPECT_EQ(other[1].info.name, "signal_A3000_B400_C80");
  EXPECT_EQ(number(other[1].info, "m_B_GeV"), 400);
  EXPECT_NE(other[1].info.dsid, samples[1].info.dsid);

  options.parameters = {{"m_a_GeV", 3000}};
  EXPECT_THROW(channel->samples(options), InputError);
  options.parameters = {{"m_A_GeV", 1000}};
  EXPECT_THROW(channel->samples(options), InputError);
  options.parameters = {{"m_B_GeV", 2000}};
  EXPECT_THROW(channel->samples(options), InputError);
}

TEST_F(DijetBackground, MjjSmoothFallingAndF3) {
  const Dijets& d = *dijets_;
  // The specification (docs/physics.md, channel dijet), not the generator's own
  // constants: f3 = (1 - x)^10 x^-5 on 1.5-10 TeV; the file must declare the same.
  constexpr double p2 = 10, p3 = 5, lo = 1500, hi = 10000;
  EXPECT_EQ(number(*info_, "mjj_f3_p2"), p2);
  EXPECT_EQ(number(*info_, "mjj_f3_p3"), p3);
  EXPECT_EQ(number(*info_, "mjj_min_GeV"), lo);
  EXPECT_EQ(number(*info_, "mjj_max_GeV"), hi);
  auto f3 = [&](double m) { return std::pow(1 - m / kSqrtS, p2) * std::pow(m / kSqrtS, -p3); };
  auto integral = [&](double a, double b) {  // Simpson, 2000 intervals
    const int n = 2000;
    const double h = (b - a) / n;
    double s = f3(a) + f3(b);
    for (int i = 1; i < n; ++i) s += f3(a + i * h) * (i % 2 ? 4 : 2);
    return s * h / 3;
  };
  const double total = integral(lo, hi);
  constexpr double kFirst = 1600, kWidth = 100;
  constexpr int kBins = 44;  // 1.6 .. 6 TeV
  std::vector<double> counts(kBins, 0.0);
  for (double m : d.mjj) {
    EXPECT_GE(m, lo * (1 - 1e-5));
    const int b = int(std::floor((m - kFirst) / kWidth));
    if (b >= 0 && b < kBins) counts[b] += 1;
  }
  double chi2 = 0;
  int ndf = 0;
  for (int b = 0; b < kBins; ++b) {
    if (b + 1 < kBins) {
      EXPECT_LE(counts[b + 1], counts[b] + 3 * std::sqrt(counts[b] + counts[b + 1] + 1)) << "bin " << b;
    }
    const double expected = double(d.size()) * integral(kFirst + b * kWidth, kFirst + (b + 1) * kWidth) / total;
    if (expected < 10) continue;
    chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
    ++ndf;
  }
  std::printf("m_JJ vs f3(p2 = %g, p3 = %g): chi2/ndf = %.1f/%d; counts 1.6-1.7 TeV %g, 3.4-3.5 TeV %g\n", p2, p3,
              chi2, ndf, counts[0], counts[18]);
  EXPECT_GT(ndf, 25);
  EXPECT_LT(chi2 / ndf, 1.5);
}

TEST_F(DijetBackground, JetFeaturesDependWeaklyOnMjj) {
  const Dijets& d = *dijets_;
  auto means_in = [&](double lo, double hi) {
    double mass = 0, tau = 0, n = 0;
    for (std::size_t i = 0; i < d.size(); ++i)
      if (d.mjj[i] >= lo && d.mjj[i] < hi) mass += d.m1[i] + d.m2[i], tau += d.tau1[i] + d.tau2[i], n += 2;
    return std::pair{mass / n, tau / n};
  };
  const auto [mass_low, tau_low] = means_in(2000, 2500);
  const auto [mass_high, tau_high] = means_in(4000, 5000);
  std::printf("QCD <m_J> = %.1f / %.1f GeV, <tau21> = %.3f / %.3f in m_JJ [2, 2.5] / [4, 5] TeV\n", mass_low,
              mass_high, tau_low, tau_high);
  EXPECT_GT(mass_low, 20);
  EXPECT_LT(mass_low, 120);
  EXPECT_LT(std::fabs(mass_high / mass_low - 1), 0.15);
  EXPECT_LT(std::fabs(tau_high / tau_low - 1), 0.05);
  // tau21 broad around 0.6-0.7, and lower for heavier jets (features not independent).
  const double tau_mean = 0.5 * (mean(d.tau1) + mean(d.tau2));
  EXPECT_GT(tau_mean, 0.55);
  EXPECT_LT(tau_mean, 0.75);
  double heavy = 0, light = 0, n_heavy = 0, n_light = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d.m1[i] > 150) heavy += d.tau1[i], ++n_heavy;
    if (d.m1[i] < 40) light += d.tau1[i], ++n_light;
  }
  EXPECT_LT(heavy / n_heavy, light / n_light - 0.03);
}

TEST_F(DijetBackground, PreselectionHolds) {
  const Dijets& d = *dijets_;
  for (std::size_t i = 0; i < d.size(); ++i) {
    ASSERT_GE(d.pt1[i], d.pt2[i]);
    ASSERT_GT(d.pt1[i], 500);
    ASSERT_GT(d.pt2[i], 200);
    ASSERT_LT(std::fabs(d.eta1[i]), 2.0);
    ASSERT_LT(std::fabs(d.eta2[i]), 2.0);
    ASSERT_LT(std::fabs(d.dy[i]), 1.2 + 1e-4);
  }
}

TEST(DijetChannel, SignalPeakAndSubstructure) {
  auto channel = make_dijet_channel();
  const auto s = generate(*channel, 1, 20'000);
  const auto b = generate(*channel, 0, 20'000);
  const Dijets sig = read_dijets(s.block), bkg = read_dijets(b.block);
  const double median = quantile(sig.mjj, 0.5);
  const double width = 0.5 * (quantile(sig.mjj, 0.8413) - quantile(sig.mjj, 0.1587)) / median;
  std::vector<double> heavy, light;
  for (std::size_t i = 0; i < sig.size(); ++i) {
    heavy.push_back(std::max(sig.m1[i], sig.m2[i]));
    light.push_back(std::min(sig.m1[i], sig.m2[i]));
  }
  const double tau_sig = 0.5 * (mean(sig.tau1) + mean(sig.tau2)), tau_bkg = 0.5 * (mean(bkg.tau1) + mean(bkg.tau2));
  std::printf("signal: m_JJ median %.0f GeV, width %.2f%%, m_J medians %.0f / %.0f GeV, <tau21> %.3f (QCD %.3f), "
              "acceptance %.4f; %.2f M events/s\n",
              median, 100 * width, quantile(heavy, 0.5), quantile(light, 0.5), tau_sig, tau_bkg,
              double(s.block.size()) / double(s.tally.n_generated), double(s.block.size()) / s.seconds / 1e6);
  EXPECT_NEAR(median / 3500, 1.0, 0.02);
  // Resolution 5% / sqrt(2) = 3.5% dominates the 1% intrinsic width.
  EXPECT_GT(width, 0.03);
  EXPECT_LT(width, 0.045);
  EXPECT_NEAR(quantile(heavy, 0.5) / 500, 1.0, 0.05);
  EXPECT_NEAR(quantile(light, 0.5) / 100, 1.0, 0.05);
  EXPECT_LT(tau_sig, tau_bkg - 0.2);
  // Which jet carries B is random: the leading jet is the heavy one about half the time.
  double leading_heavy = 0;
  for (std::size_t i = 0; i < sig.size(); ++i) leading_heavy += sig.m1[i] > sig.m2[i];
  EXPECT_NEAR(leading_heavy / double(sig.size()), 0.5, 0.03);
}

TEST(DijetChannel, CustomSignalMasses) {
  auto channel = make_dijet_channel();
  GeneratorOptions options;
  options.parameters = {{"m_A_GeV", 2500}, {"m_B_GeV", 300}, {"m_C_GeV", 200}};
  const auto s = generate(*channel, 1, 5'000, true, options);
  const Dijets d = read_dijets(s.block);
  std::vector<double> heavy;
  for (std::size_t i = 0; i < d.size(); ++i) heavy.push_back(std::max(d.m1[i], d.m2[i]));
  EXPECT_EQ(s.sample.info.name, "signal_A2500_B300_C200");
  EXPECT_NEAR(quantile(d.mjj, 0.5) / 2500, 1.0, 0.02);
  EXPECT_NEAR(quantile(heavy, 0.5) / 300, 1.0, 0.07);
}

TEST(DijetChannel, TallyAndAcceptance) {
  auto channel = make_dijet_channel();
  for (std::size_t k = 0; k < 2; ++k) {
    const auto g = generate(*channel, k, 50'000);
    EXPECT_EQ(g.block.size(), 50'000u);
    EXPECT_EQ(g.tally.n_negative, 0u);
    EXPECT_EQ(g.tally.sum_of_weights.value(), double(g.tally.n_generated));  // weight_mc = 1
    const double acceptance = double(g.block.size()) / double(g.tally.n_generated);
    std::printf("%s: preselection acceptance %.4f (%llu generated)\n", g.sample.info.name.c_str(), acceptance,
                (unsigned long long)g.tally.n_generated);
    // Dominated by |dy| < 1.2 of the generated |dy| < 1.3: QCD flat in chi = exp|dy|, signal isotropic.
    const double expected = k == 0 ? (std::exp(1.2) - 1) / (std::exp(1.3) - 1) : std::tanh(0.6) / std::tanh(0.65);
    EXPECT_NEAR(acceptance, expected, 0.01);
  }
  // Without preselection every attempt is stored, out to the generated |dy| < 1.3.
  const auto all = generate(*channel, 0, 20'000, false);
  EXPECT_EQ(all.tally.n_generated, 20'000u);
  const Dijets d = read_dijets(all.block);
  double beyond = 0, max_dy = 0;
  for (double dy : d.dy) beyond += std::fabs(dy) > 1.2, max_dy = std::max(max_dy, std::fabs(dy));
  // Flat in chi = exp|dy| on [1, exp(1.3)]: P(|dy| > 1.2) = 1 - (e^1.2 - 1) / (e^1.3 - 1) = 0.1308.
  const double dy_gen = number(all.sample.info, "max_abs_delta_y");
  EXPECT_EQ(dy_gen, 1.3);
  const double p = 1 - (std::exp(1.2) - 1) / (std::exp(dy_gen) - 1), n = double(d.dy.size());
  EXPECT_NEAR(beyond / n, p, 5 * std::sqrt(p * (1 - p) / n));
  EXPECT_GT(max_dy, dy_gen - 0.01);  // the density is highest at the edge: P(none within 0.01) ~ e^-270
  EXPECT_LT(max_dy, dy_gen + 0.05);  // jet rapidities are smeared a little after the cut
}

TEST(DijetChannel, SignalDeltaYIsTruncatedIsotropic) {
  // An isotropic two-body decay has cos(theta*) = tanh(dy / 2) uniform; generated with
  // |dy| < 1.3, P(|dy| < d) = tanh(d / 2) / tanh(0.65) (and the filter efficiency is tanh(0.65)).
  auto channel = make_dijet_channel();
  const auto s = generate(*channel, 1, 20'000, false);
  const Dijets d = read_dijets(s.block);
  const double half = 0.5 * number(s.sample.info, "max_abs_delta_y"), n = double(d.dy.size());
  ASSERT_EQ(d.dy.size(), 20'000u);
  EXPECT_NEAR(s.sample.info.filter_efficiency, std::tanh(half), 1e-15);
  for (const double cut : {0.3, 0.6, 0.9, 1.2}) {
    double below = 0;
    for (const double dy : d.dy) below += std::fabs(dy) < cut;
    const double p = std::tanh(cut / 2) / std::tanh(half);
    EXPECT_NEAR(below / n, p, 5 * std::sqrt(p * (1 - p) / n)) << "|dy| < " << cut;
  }
}

TEST(DijetChannel, DeterministicAcrossSplits) {
  auto channel = make_dijet_channel();
  GeneratorOptions options;
  options.seed = 42;
  for (const auto& sample : channel->samples(options)) {
    EventBlock whole(reco_event_schema(channel->content())), parts(reco_event_schema(channel->content()));
    GenerationTally t_whole, t_parts;
    generate_events(*channel, sample, options, 0, 1000, whole, t_whole);
    generate_events(*channel, sample, options, 0, 400, parts, t_parts);
    generate_events(*channel, sample, options, 400, 600, parts, t_parts);
    ASSERT_EQ(whole.size(), 1000u);
    ASSERT_EQ(parts.size(), 1000u);
    EXPECT_EQ(t_whole.n_generated, t_parts.n_generated);
    EXPECT_EQ(t_whole.sum_of_weights.value(), t_parts.sum_of_weights.value());
    for (std::size_t c = 0; c < whole.columns().size(); ++c)
      EXPECT_TRUE(whole.columns()[c].values == parts.columns()[c].values) << whole.columns()[c].spec.name;
    const auto& a = whole.collection("large_jets");
    const auto& b = parts.collection("large_jets");
    EXPECT_EQ(a.offsets, b.offsets);
    for (std::size_t m = 0; m < a.members.size(); ++m)
      EXPECT_TRUE(a.members[m].values == b.members[m].values) << a.members[m].spec.name;
  }
  // A different seed gives different events.
  const auto sample = channel->samples(options)[0];
  EventBlock x(reco_event_schema(channel->content())), y(reco_event_schema(channel->content()));
  GenerationTally tx, ty;
  generate_events(*channel, sample, options, 0, 10, x, tx);
  options.seed = 43;
  generate_events(*channel, sample, options, 0, 10, y, ty);
  EXPECT_FALSE(x.collection("large_jets").members[0].values == y.collection("large_jets").members[0].values);
}

}  // namespace
