// The monojet channel against what the truth knows: MET = boson pT for Z -> nu nu,
// the W and Z masses in their decay products, hadronic taus below the tau mass and
// narrow, the PDG tau branching ratios, jets from FastJet with their shapes, and events
// that do not depend on how the work is split; calorimeter jets without muons, the
// ATLAS electron-jet overlap removal and the ATLAS selection flag with its lepton veto. Also the eta-phi images on hand-made
// events (cells, channels, every compression).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/physics/EtaPhiImage.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/JetClustering.hpp"
#include "bsmhunt/physics/features/FeatureSet.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"

namespace bsmhunt::physics {
std::unique_ptr<Channel> make_monojet_channel();
}

namespace {

using namespace bsmhunt;
using namespace bsmhunt::physics;

struct Generated {
  EventBlock block;
  GenerationTally tally;
};

const SampleDefinition& sample_named(const std::vector<SampleDefinition>& samples, const std::string& name) {
  for (const auto& s : samples)
    if (s.info.name == name) return s;
  throw std::runtime_error("no sample " + name);
}

Generated generate(const std::string& sample, uint64_t n, uint64_t seed = 7) {
  auto channel = make_monojet_channel();
  GeneratorOptions options;
  options.seed = seed;
  Generated g{EventBlock(reco_event_schema(channel->content())), {}};
  generate_events(*channel, sample_named(channel->samples(options), sample), options, 0, n, g.block, g.tally);
  return g;
}

// Visible particles of event e as four-vectors, with their pdg ids.
std::vector<std::pair<FourVector, int>> particles_of(const EventBlock& b, std::size_t e) {
  const auto& p = b.collection("particles");
  std::vector<std::pair<FourVector, int>> out;
  for (uint64_t k = p.offsets[e]; k < p.offsets[e + 1]; ++k)
    out.push_back({FourVector::from_pt_eta_phi_m(p.member("pt").as<float>()[k], p.member("eta").as<float>()[k],
                                                 p.member("phi").as<float>()[k], 0.0),
                   p.member("pdg_id").as<int32_t>()[k]});
  return out;
}

}  // namespace

TEST(MonojetChannel, SamplesAndCrossSections) {
  auto channel = make_monojet_channel();
  GeneratorOptions options;
  options.background_events = 1000, options.signal_events = 50;
  const auto samples = channel->samples(options);
  EXPECT_EQ(samples.size(), 20u);  // 6 processes x 3 slices, ttbar, dibosons
  const auto& z = sample_named(samples, "znunu_pt1000");
  EXPECT_EQ(z.info.role, Role::signal);
  EXPECT_EQ(z.n_events, 50u);
  EXPECT_EQ(std::get<std::string>(*z.info.parameter("slice")), "pt1000");
  // Z -> nu nu over Z -> mu mu is 3 BR(nu nu) / BR(mu mu) = 3 x 6.67% / 3.37% (PDG) within the quoted rounding.
  const double ratio = sample_named(samples, "znunu_pt280_500").info.cross_section_pb /
                       sample_named(samples, "zmumu_pt280_500").info.cross_section_pb;
  EXPECT_NEAR(ratio, 3 * 0.06667 / 0.033662, 0.05);
  // Cross sections fall with the slice.
  EXPECT_GT(sample_named(samples, "wtaunu_pt280_500").info.cross_section_pb,
            sample_named(samples, "wtaunu_pt500_1000").info.cross_section_pb);
  uint64_t background = 0;
  for (const auto& s : samples)
    if (s.info.role == Role::background) background += s.n_events;
  EXPECT_NEAR(double(background), 1000.0, 10.0);
  options.parameters["m_A_GeV"] = 1;
  EXPECT_THROW(channel->samples(options), InputError);
}

TEST(MonojetChannel, MissingEtIsTheBosonPtForZToNuNu) {
  // The neutrinos of Z -> nu nu are the only invisible particles: MET = pT(Z) exactly,
  // which the slice bounds.
  const auto g = generate("znunu_pt280_500", 400);
  const auto& met = g.block.values<float>("met");
  for (float m : met) {
    EXPECT_GE(m, 280.0f * (1 - 1e-6f));
    EXPECT_LT(m, 500.0f * (1 + 1e-6f));
  }
  // No lepton in a Z -> nu nu event beyond the rare semileptonic hadron (none modelled).
  const auto& ele = g.block.collection("electrons");
  const auto& mu = g.block.collection("muons");
  EXPECT_EQ(ele.n_objects() + mu.n_objects(), 0u);
  // The leading jet balances the boson: pT(j1) / MET peaks near 1.
  const auto& jets = g.block.collection("jets");
  std::vector<double> balance;
  for (std::size_t e = 0; e < g.block.size(); ++e)
    if (jets.offsets[e + 1] > jets.offsets[e]) balance.push_back(jets.member("pt").as<float>()[jets.offsets[e]] / met[e]);
  std::sort(balance.begin(), balance.end());
  EXPECT_NEAR(balance[balance.size() / 2], 1.0, 0.15);
}

TEST(MonojetChannel, ZAndWMassesInTheirDecayProducts) {
  // Z -> mu mu: both muons visible, m(mu mu) is the Breit-Wigner of the Z (60-120 GeV).
  const auto z = generate("zmumu_pt280_500", 300);
  std::vector<double> mll;
  for (std::size_t e = 0; e < z.block.size(); ++e) {
    FourVector sum;
    int n = 0;
    for (const auto& [v, pdg] : particles_of(z.block, e))
      if (std::abs(pdg) == 13) sum += v, ++n;
    ASSERT_EQ(n, 2) << "event " << e;
    mll.push_back(sum.m());
  }
  std::sort(mll.begin(), mll.end());
  EXPECT_NEAR(mll[mll.size() / 2], 91.19, 1.5);
  EXPECT_GT(mll.front(), 59.9);
  EXPECT_LT(mll.back(), 120.1);
  // W -> mu nu: the transverse mass of the muon and MET has its Jacobian edge at m_W.
  const auto w = generate("wmunu_pt280_500", 600);
  const auto& met = w.block.values<float>("met");
  const auto& phi = w.block.values<float>("met_phi");
  std::size_t below = 0, n = 0;
  for (std::size_t e = 0; e < w.block.size(); ++e)
    for (const auto& [v, pdg] : particles_of(w.block, e))
      if (std::abs(pdg) == 13) {
        const double mt = std::sqrt(2 * v.pt() * met[e] * (1 - std::cos(v.phi() - phi[e])));
        below += mt < 80.379 + 3 * 2.085, ++n;
      }
  EXPECT_EQ(n, w.block.size());
  EXPECT_GT(double(below) / double(n), 0.97);  // above the edge only the Breit-Wigner tail
}

TEST(MonojetChannel, HadronicTausAreNarrowLightAndFollowThePdgBranchingRatios) {
  const auto g = generate("wtaunu_pt500_1000", 2000);
  // Leptonic tau decays (17.8% e + 17.4% mu): one e or mu in the event, no other source.
  std::size_t leptonic = 0;
  for (std::size_t e = 0; e < g.block.size(); ++e) {
    bool any = false;
    for (const auto& [v, pdg] : particles_of(g.block, e)) any = any || std::abs(pdg) == 11 || std::abs(pdg) == 13;
    leptonic += any;
  }
  const double f = double(leptonic) / double(g.block.size());
  EXPECT_NEAR(f, 0.1782 + 0.1739, 3 * std::sqrt(0.35 * 0.65 / 2000.0));
  // Hadronic taus: jets of 1 or 3 charged particles, narrow; the visible decay products
  // (the particles above 5% of the jet pT within 0.1 of its axis: the soft underlying
  // event excluded) weigh less than the tau.
  const auto& jets = g.block.collection("jets");
  std::size_t tau_like = 0, light = 0;
  for (std::size_t e = 0; e < g.block.size(); ++e) {
    const auto particles = particles_of(g.block, e);
    for (uint64_t k = jets.offsets[e]; k < jets.offsets[e + 1]; ++k) {
      const int32_t nch = jets.member("n_charged").as<int32_t>()[k];
      const float pt = jets.member("pt").as<float>()[k], width = jets.member("width").as<float>()[k];
      const float eta = jets.member("eta").as<float>()[k], phi = jets.member("phi").as<float>()[k];
      if (pt < 100 || (nch != 1 && nch != 3) || width > 0.02) continue;
      ++tau_like;
      FourVector vis;
      for (const auto& [v, pdg] : particles)
        if (v.pt() > 0.05 * pt && delta_r(v.eta(), v.phi(), eta, phi) < 0.1) vis += v;
      light += vis.m() < 1.777 + 0.05;
    }
  }
  EXPECT_GT(tau_like, 300u);
  EXPECT_GT(double(light) / double(tau_like), 0.9);
  // QCD jets of the same pT in Z -> nu nu are rarely that narrow with so few particles.
  const auto z = generate("znunu_pt500_1000", 2000);
  const auto& zj = z.block.collection("jets");
  std::size_t qcd_like = 0, qcd = 0;
  for (std::size_t k = 0; k < zj.n_objects(); ++k) {
    if (zj.member("pt").as<float>()[k] < 100) continue;
    ++qcd;
    const int32_t nch = zj.member("n_charged").as<int32_t>()[k];
    qcd_like += (nch == 1 || nch == 3) && zj.member("width").as<float>()[k] <= 0.02f;
  }
  EXPECT_LT(double(qcd_like) / double(qcd), 0.05);
}

TEST(MonojetChannel, DeterministicAcrossSplits) {
  auto channel = make_monojet_channel();
  GeneratorOptions options;
  options.seed = 42;
  const auto samples = channel->samples(options);
  for (const char* name : {"wtaunu_pt1000", "ttbar"}) {
    const auto& sample = sample_named(samples, name);
    EventBlock whole(reco_event_schema(channel->content())), parts(reco_event_schema(channel->content()));
    GenerationTally a, b;
    generate_events(*channel, sample, options, 0, 200, whole, a);
    generate_events(*channel, sample, options, 0, 70, parts, b);
    generate_events(*channel, sample, options, 70, 130, parts, b);
    for (std::size_t c = 0; c < whole.columns().size(); ++c)
      EXPECT_TRUE(whole.columns()[c].values == parts.columns()[c].values) << whole.columns()[c].spec.name;
    for (std::size_t k = 0; k < whole.collections().size(); ++k) {
      EXPECT_EQ(whole.collections()[k].offsets, parts.collections()[k].offsets);
      for (std::size_t m = 0; m < whole.collections()[k].members.size(); ++m)
        EXPECT_TRUE(whole.collections()[k].members[m].values == parts.collections()[k].members[m].values);
    }
  }
}

TEST(JetClustering, AntiKtJoinsWhatIsCloseAndMeasuresShapes) {
  // Two collinear particles 0.1 apart make one jet; one 2.0 away its own.
  std::vector<Particle> p = {{100, 0.0f, 0.0f, 1, 211, 0}, {50, 0.1f, 0.0f, -1, 211, 0}, {30, 2.0f, 1.0f, 0, 22, 1}};
  const auto jets = cluster_antikt(p, {0.4, 20});
  ASSERT_EQ(jets.size(), 2u);
  EXPECT_NEAR(jets[0].pt, 150, 0.5);
  EXPECT_EQ(jets[0].n_constituents, 2);
  EXPECT_EQ(jets[0].n_charged, 2);
  // Width: sum pT_i dR_i / sum pT_i with the axis at eta ~ 0.0333 (pT-weighted).
  const double axis = jets[0].eta;
  EXPECT_NEAR(axis, 0.1 * 50 / 150, 2e-3);
  EXPECT_NEAR(jets[0].width, (100 * axis + 50 * (0.1 - axis)) / 150, 2e-3);
  EXPECT_EQ(jets[1].n_charged, 0);
  EXPECT_NEAR(jets[1].width, 0, 1e-6);
  EXPECT_TRUE(cluster_antikt({}, {}).empty());
}

TEST(JetClustering, MuonsAreNotCalorimeterJets) {
  // A 60 GeV muon 0.1 from a 100 GeV pion: one 100 GeV jet of one constituent; with
  // cluster_muons both make a 160 GeV jet. A lone muon makes no jet.
  std::vector<Particle> p = {{100, 0.0f, 0.0f, 1, 211, 0}, {60, 0.1f, 0.0f, -1, 13, 0}, {40, 1.5f, 2.0f, 1, -13, 0}};
  const auto jets = cluster_antikt(p, {0.4, 20});
  ASSERT_EQ(jets.size(), 1u);
  EXPECT_NEAR(jets[0].pt, 100, 1e-3);
  EXPECT_EQ(jets[0].n_constituents, 1);
  JetDefinitionOptions with_muons{0.4, 20};
  with_muons.cluster_muons = true;
  const auto all = cluster_antikt(p, with_muons);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_NEAR(all[0].pt, 160, 0.5);
}

TEST(MonojetChannel, LeptonsAreNotJets) {
  // W -> e nu: no jet within Delta R 0.2 of a stored electron and no stored electron
  // within 0.4 of a jet (overlap removal). W -> mu nu: no muon inside a jet's core as
  // a lone-particle jet, and the prompt muon is stored in nearly every event.
  const auto e = generate("wenu_pt500_1000", 300, 11);
  const auto& jets = e.block.collection("jets");
  const auto& ele = e.block.collection("electrons");
  std::size_t electrons = 0;
  for (std::size_t i = 0; i < e.block.size(); ++i)
    for (uint64_t a = ele.offsets[i]; a < ele.offsets[i + 1]; ++a, ++electrons)
      for (uint64_t j = jets.offsets[i]; j < jets.offsets[i + 1]; ++j)
        EXPECT_GE(delta_r(ele.member("eta").as<float>()[a], ele.member("phi").as<float>()[a],
                          jets.member("eta").as<float>()[j], jets.member("phi").as<float>()[j]),
                  0.4);
  EXPECT_GT(electrons, 200u);  // the W's electron is usually inside |eta| < 2.5 and isolated
  const auto m = generate("wmunu_pt500_1000", 300, 12);
  const auto& mjets = m.block.collection("jets");
  const auto& mu = m.block.collection("muons");
  std::size_t muons = 0, near_jets = 0;
  for (std::size_t i = 0; i < m.block.size(); ++i)
    for (uint64_t a = mu.offsets[i]; a < mu.offsets[i + 1]; ++a, ++muons)
      for (uint64_t j = mjets.offsets[i]; j < mjets.offsets[i + 1]; ++j)
        if (delta_r(mu.member("eta").as<float>()[a], mu.member("phi").as<float>()[a],
                    mjets.member("eta").as<float>()[j], mjets.member("phi").as<float>()[j]) < 0.05 &&
            mjets.member("n_constituents").as<int32_t>()[j] == 1)
          ++near_jets;
  EXPECT_GT(muons, 200u);
  EXPECT_EQ(near_jets, 0u);
}

namespace {

// One event for the monojet features: MET along phi = 0, a leading jet back to back.
RecoEvent monojet_event() {
  RecoEvent e;
  e.met = e.met_truth = 400;
  e.met_phi = e.met_truth_phi = 0;
  e.jets.push_back({380, 0.5f, 3.0f, 10, 0, 0.05f, 20, 12});
  e.jets.push_back({60, -1.0f, 1.5f, 8, 0, 0.08f, 10, 6});
  return e;
}

}  // namespace

TEST(MonojetFeatures, AtlasSelectionFlagWithItsLeptonVeto) {
  // Hand-made events against arXiv:1711.03301: MET > 250, leading jet > 250 at
  // |eta| < 2.4, <= 4 jets (pT > 30, |eta| < 2.8) all at |dphi(jet, MET)| > 0.4, and no
  // electron above 20 GeV or muon above 10 GeV.
  RecoContent content;
  content.jet_shapes = true;
  EventBlock block(reco_event_schema(content));
  RecoEventAppender append(block);
  std::vector<std::pair<std::string, double>> expected;
  auto add = [&](const std::string& what, const RecoEvent& e, double flag) {
    append.append(e, expected.size());
    expected.push_back({what, flag});
  };
  add("passes", monojet_event(), 1);
  auto e = monojet_event();
  e.muons.push_back({12, 0.0f, 1.0f, 1});
  add("muon 12 GeV vetoes", e, 0);
  e = monojet_event();
  e.muons.push_back({8, 0.0f, 1.0f, 1});
  add("muon 8 GeV kept", e, 1);
  e = monojet_event();
  e.electrons.push_back({18, 0.0f, 1.0f, 1});
  add("electron 18 GeV kept", e, 1);
  e = monojet_event();
  e.electrons.push_back({22, 0.0f, 1.0f, -1});
  add("electron 22 GeV vetoes", e, 0);
  e = monojet_event();
  e.met = 240;
  add("MET 240", e, 0);
  e = monojet_event();
  e.jets[0].eta = 2.45f;
  add("leading jet |eta| 2.45", e, 0);
  e = monojet_event();
  e.jets[1].phi = 0.3f;
  add("second jet along MET", e, 0);
  e = monojet_event();
  e.jets[1].phi = 0.3f, e.jets[1].eta = 2.9f;
  add("forward jet along MET not counted", e, 1);
  e = monojet_event();
  for (int k = 0; k < 3; ++k) e.jets.push_back({float(50 - 5 * k), 0.0f, float(1.0 + 0.3 * k), 5, 0, 0.1f, 5, 3});
  add("five jets", e, 0);
  e.jets.pop_back();
  add("four jets", e, 1);

  auto set = make_feature_set("monojet", {});
  const auto& defs = set->features();
  const auto flag = std::size_t(std::find_if(defs.begin(), defs.end(),
                                             [](const FeatureDef& d) { return d.name == "atlas_selection"; }) -
                                defs.begin());
  ASSERT_LT(flag, defs.size());
  std::vector<double> values(defs.size());
  std::vector<char> present(defs.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(set->evaluate(block, i, values, present), set->cuts().size());
    EXPECT_EQ(values[flag], expected[i].second) << expected[i].first;
  }
}

namespace {

// A hand-made event: particles and jets at known cells.
struct HandEvent {
  std::vector<float> pt, eta, phi, jpt, jeta, jphi, jwidth;
  std::vector<int8_t> charge, em;
  std::vector<int32_t> pdg;
  void particle(float p, float e, float f, int8_t q, int32_t id, int8_t is_em) {
    pt.push_back(p), eta.push_back(e), phi.push_back(f), charge.push_back(q), pdg.push_back(id), em.push_back(is_em);
  }
  void jet(float p, float e, float f, float w) { jpt.push_back(p), jeta.push_back(e), jphi.push_back(f), jwidth.push_back(w); }
  void fill(EtaPhiImage& image) const {
    image.fill({pt.data(), eta.data(), phi.data(), charge.data(), pdg.data(), em.data(), pt.size()},
               {jpt.data(), jeta.data(), jphi.data(), jwidth.data(), jpt.size()});
  }
};

// Cell centre of (row, col): where a particle lands in exactly that cell.
float eta_at(int row) { return float(-2.5 + (row + 0.5) * 0.05); }
float phi_at(int col) { return float(-3.15 + (col + 0.5) * 0.05); }

float at(const std::vector<float>& img, std::size_t rows_unused, std::size_t cols, std::size_t ch, std::size_t r,
         std::size_t c, std::size_t k) {
  (void)rows_unused;
  return img[(r * cols + c) * ch + k];
}

}  // namespace

TEST(EtaPhiImage, ChannelsOfHandMadeCells) {
  HandEvent ev;
  ev.particle(10, eta_at(50), phi_at(63), 1, 211, 0);    // two particles in cell (50, 63)
  ev.particle(30, eta_at(50), phi_at(63), -1, -11, 1);   // an electron (em)
  ev.particle(5, eta_at(10), phi_at(100), 1, 13, 0);     // a muon alone
  ev.particle(7, eta_at(10), phi_at(101), 0, 22, 1);     // a photon next to it
  ev.particle(9, 2.6f, 0.0f, 1, 211, 0);                 // outside |eta| < 2.5: ignored
  ev.jet(40, eta_at(50), phi_at(63), 0.04f);             // two jets in the electron's cell
  ev.jet(60, eta_at(50), phi_at(63), 0.02f);
  ev.jet(25, eta_at(80), phi_at(5), 0.1f);               // a jet in an otherwise empty cell
  EtaPhiImage image;
  ev.fill(image);
  EXPECT_EQ(image.nonempty_cells(), 4u);
  std::vector<float> raw(100 * 126 * 8);
  image.raw(raw.data());
  const auto R = [&](std::size_t r, std::size_t c, std::size_t k) { return at(raw, 100, 126, 8, r, c, k); };
  EXPECT_FLOAT_EQ(R(50, 63, 0), 40);      // sum pT
  EXPECT_FLOAT_EQ(R(50, 63, 1), 2);       // count
  EXPECT_FLOAT_EQ(R(50, 63, 2), 0);       // charge +1 - 1
  EXPECT_FLOAT_EQ(R(50, 63, 3), 0);       // no muon
  EXPECT_FLOAT_EQ(R(50, 63, 4), 30);      // electron pT
  EXPECT_FLOAT_EQ(R(50, 63, 5), 0.75f);   // em fraction 30 / 40
  EXPECT_FLOAT_EQ(R(50, 63, 6), 100);     // jets' pT
  EXPECT_FLOAT_EQ(R(50, 63, 7), (40 * 0.04f + 60 * 0.02f) / 100);  // pT-weighted width
  EXPECT_FLOAT_EQ(R(10, 100, 3), 5);      // muon
  EXPECT_FLOAT_EQ(R(10, 101, 5), 1);      // a photon alone: em fraction 1
  EXPECT_FLOAT_EQ(R(80, 5, 6), 25);       // the lone jet
  EXPECT_FLOAT_EQ(R(80, 5, 1), 0);
  float total = 0;
  for (std::size_t i = 0; i < raw.size(); i += 8) total += raw[i];
  EXPECT_FLOAT_EQ(total, 52);             // 40 + 5 + 7; the particle outside is not in the image
  std::array<double, 8> sum{};
  std::array<uint64_t, 8> count{};
  image.add_channel_sums(sum, count);
  EXPECT_EQ(count[0], 3u);                // cells with pT (the lone jet's cell has none)
  EXPECT_DOUBLE_EQ(sum[0], 52);
  EXPECT_EQ(count[6], 2u);
}

TEST(EtaPhiImage, EveryCompressionOfAHandMadeEvent) {
  HandEvent ev;
  ev.particle(10, eta_at(30), phi_at(40), 1, 211, 0);
  ev.particle(20, eta_at(30), phi_at(90), -1, -211, 0);
  ev.particle(8, eta_at(70), phi_at(40), 0, 22, 1);
  EtaPhiImage image;
  ev.fill(image);
  std::array<double, 8> scales{2, 1, 1, 1, 1, 1, 1, 1};
  std::vector<float> out(60 * 60 * 10);
  const auto O = [&](std::size_t r, std::size_t c, std::size_t k) { return at(out, 60, 60, 10, r, c, k); };
  // empty-rowcol: rows {30, 70}, columns {40, 90} -> a 2 x 2 image; (70, 90) is empty
  // but keeps its coordinates.
  image.compress(Compression::empty_rowcol, scales, 0, out.data());
  EXPECT_FLOAT_EQ(O(0, 0, 0), 5);    // 10 / scale 2
  EXPECT_FLOAT_EQ(O(0, 1, 0), 10);
  EXPECT_FLOAT_EQ(O(1, 0, 0), 4);
  EXPECT_FLOAT_EQ(O(1, 1, 0), 0);
  EXPECT_FLOAT_EQ(O(1, 1, 8), float((-2.5 + 70.5 * 0.05) / 2.5));
  EXPECT_FLOAT_EQ(O(1, 1, 9), float((-3.15 + 90.5 * 0.05) / 3.15));
  EXPECT_FLOAT_EQ(O(0, 0, 1), 1);    // the count is never scaled
  EXPECT_FLOAT_EQ(O(2, 0, 8), 0);    // beyond the kept rows: all zero
  // empty-cell: row 30's two cells packed left, row 70's one.
  image.compress(Compression::empty_cell, scales, 0, out.data());
  EXPECT_FLOAT_EQ(O(0, 0, 0), 5);
  EXPECT_FLOAT_EQ(O(0, 1, 0), 10);
  EXPECT_FLOAT_EQ(O(0, 1, 9), float((-3.15 + 90.5 * 0.05) / 3.15));
  EXPECT_FLOAT_EQ(O(1, 0, 0), 4);
  EXPECT_FLOAT_EQ(O(1, 1, 9), 0);    // no second cell in row 70: nothing, not even coordinates
  // none: the centre crop rows 20..79, columns 33..92.
  image.compress(Compression::none, scales, 0, out.data());
  EXPECT_FLOAT_EQ(O(10, 7, 0), 5);
  EXPECT_FLOAT_EQ(O(10, 57, 0), 10);
  EXPECT_FLOAT_EQ(O(50, 7, 0), 4);
  EXPECT_FLOAT_EQ(O(0, 0, 8), float((-2.5 + 20.5 * 0.05) / 2.5));
  // stochastic: 60 distinct rows and columns in order, the same for the same key.
  std::vector<float> again(out.size());
  image.compress(Compression::stochastic, scales, 99, out.data());
  image.compress(Compression::stochastic, scales, 99, again.data());
  EXPECT_EQ(out, again);
  for (std::size_t r = 1; r < 60; ++r) EXPECT_GT(O(r, 0, 8), O(r - 1, 0, 8));
  for (std::size_t c = 1; c < 60; ++c) EXPECT_GT(O(0, c, 9), O(0, c - 1, 9));
  image.compress(Compression::stochastic, scales, 100, again.data());
  EXPECT_NE(out, again);
  EXPECT_THROW(parse_compression("jpeg"), InputError);
  EXPECT_EQ(parse_compression("empty-cell"), Compression::empty_cell);
}
