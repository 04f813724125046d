// The rapidity-mass matrix against matrices computed by hand (one case per cell
// kind: MET cell, mT row, hL column, ET and delta-ET diagonal, masses, h), the
// layout options (slots, b-jets as their own type, MET = 0, empty slots), and the
// `rmm` feature set on hand-made events (its lepton requirement, the mass column,
// bad options).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/Rmm.hpp"
#include "bsmhunt/physics/features/FeatureSet.hpp"
#include "bsmhunt/physics/generator/RecoEvent.hpp"

namespace {

using namespace bsmhunt;
using namespace bsmhunt::physics;
constexpr double pi = std::numbers::pi, S = 13000.0;

FourVector massless(double pt, double eta, double phi) { return FourVector::from_pt_eta_phi_m(pt, eta, phi, 0); }

std::vector<double> rmm(const RmmLayout& l, double met, double met_phi, const std::vector<std::vector<FourVector>>& o) {
  std::vector<double> m(l.size() * l.size(), -1.0);  // -1: a cell left unwritten would show
  rapidity_mass_matrix(l, met, met_phi, o, m);
  return m;
}

// T3N5 (jets, electrons, muons): jets at 1..5, electrons at 6..10, muons at 11..15.
// MET 100 GeV along x; jet1 50 GeV at eta 0 along y; jet2 30 GeV at eta 1 along -y;
// an electron of 40 GeV at eta 0 along -x. Every number below is worked out by hand.
TEST(Rmm, HandComputedCells) {
  const RmmLayout l;
  ASSERT_EQ(l.size(), 16u);
  const auto m = rmm(l, 100, 0, {{massless(50, 0, pi / 2), massless(30, 1, -pi / 2)},
                                 {FourVector::from_pt_eta_phi_m(40, 0, pi, 0.000510999)},
                                 {}});
  auto at = [&](int i, int j) { return m[std::size_t(i) * 16 + std::size_t(j)]; };
  // MET cell.
  EXPECT_NEAR(at(0, 0), 100 / S, 1e-12);
  // mT row: jet1 (ET 50 at 90 deg to MET): mT^2 = 150^2 - 100^2 - 50^2 = 100^2.
  EXPECT_NEAR(at(0, 1), 100 / S, 1e-12);
  // electron opposite to MET: mT^2 = 140^2 - 60^2 = 16000.
  EXPECT_NEAR(at(0, 6), std::sqrt(16000.0) / S, 1e-9);
  // hL column: C (cosh y - 1); 0 at y = 0, 0.15 x (cosh 1 - 1) = 0.0814621 at y = 1.
  EXPECT_NEAR(at(1, 0), 0.0, 1e-15);
  EXPECT_NEAR(at(2, 0), 0.08146209522228655, 1e-12);
  // Diagonal: ET/sqrt(s) of the first jet, then (50 - 30) / (50 + 30) = 0.25.
  EXPECT_NEAR(at(1, 1), 50 / S, 1e-12);
  EXPECT_NEAR(at(2, 2), 0.25, 1e-12);
  EXPECT_NEAR(at(6, 6), 40 / S, 1e-9);
  // Masses (upper triangle): m^2 = 2 pT1 pT2 (cosh deta - cos dphi).
  EXPECT_NEAR(at(1, 2), std::sqrt(3000 * (std::cosh(1.0) + 1)) / S, 1e-9);  // 87.35 GeV
  EXPECT_NEAR(at(1, 6), std::sqrt(4000.0) / S, 1e-9);                          // jet1-electron, 90 deg
  // h (lower triangle): C (cosh(dy/2) - 1): 0.15 (cosh 0.5 - 1) = 0.0191439.
  EXPECT_NEAR(at(2, 1), 0.019143894780957103, 1e-12);
  EXPECT_NEAR(at(6, 1), 0.0, 1e-12);
  EXPECT_NEAR(at(6, 2), 0.019143894780957103, 1e-9);
  // Empty slots (jets 3..5, electrons 2..5, all muons) are zero in their rows and columns.
  for (int k : {3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15})
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(at(k, j), 0.0) << k << "," << j;
      EXPECT_EQ(at(j, k), 0.0) << j << "," << k;
    }
}

TEST(Rmm, MassiveObjectsUseTransverseEnergyAndRapidity) {
  // A 30 GeV-mass jet of pT 50 at eta 1: E = 82.7813, ET = E pT/|p| = 53.6468 (not
  // the pT), rapidity 0.886827 (not eta): hL = 0.15 (cosh y - 1) = 0.0629532.
  RmmLayout l;
  l.types = 1, l.slots = 2;
  const auto m = rmm(l, 0, 0, {{FourVector::from_pt_eta_phi_m(50, 1, 0, 30)}});
  EXPECT_NEAR(m[1 * 3 + 1], 53.64677909672326 / S, 1e-9);
  EXPECT_NEAR(m[1 * 3 + 0], 0.06295315268561597, 1e-9);
  // MET = 0: the MET cell and the whole first row are zero.
  EXPECT_EQ(m[0], 0.0);
  EXPECT_EQ(m[1], 0.0);
  EXPECT_EQ(m[2], 0.0);
}

TEST(Rmm, SlotsAngleScaleAndBadShapes) {
  RmmLayout l;
  l.types = 1, l.slots = 2, l.angle_scale = 0.1;
  // The third jet does not fit: the matrix only sees the two leading ones.
  const auto m = rmm(l, 10, 1, {{massless(60, 0, 0), massless(20, 2, 1), massless(10, -1, 2)}});
  EXPECT_NEAR(m[2 * 3 + 2], 0.5, 1e-12);                       // (60 - 20) / 80
  EXPECT_NEAR(m[2 * 3 + 1], 0.1 * (std::cosh(1.0) - 1), 1e-12);  // C = 0.1, dy = 2
  std::vector<double> wrong(8);
  EXPECT_THROW(rapidity_mass_matrix(l, 0, 0, std::vector<std::vector<FourVector>>{{}}, wrong), Error);
  std::vector<double> right(9);
  EXPECT_THROW(rapidity_mass_matrix(l, 0, 0, std::vector<std::vector<FourVector>>{{}, {}}, right), Error);
  EXPECT_EQ(rmm_cell_name(3, 7), "rmm_3_7");
}

// The rmm feature set on events built like a generator channel's.
struct Events {
  EventBlock block{reco_event_schema({})};
  RecoEventAppender append{block};
  std::size_t n = 0;
  void add(const RecoEvent& e) { append.append(e, n++); }
};

RecoEvent three_lepton_event() {
  RecoEvent e;
  e.met = 80, e.met_phi = 0.5f;
  e.jets.push_back({120, 0.3f, 2.0f, 12, 0});
  e.jets.push_back({45, -1.2f, -1.0f, 8, 1});  // b-tagged
  e.electrons.push_back({70, 0.1f, -2.0f, -1});
  e.electrons.push_back({25, 1.0f, 0.5f, 1});
  e.muons.push_back({40, -0.5f, 1.5f, 1});
  e.muons.push_back({8, 0.2f, 0.0f, -1});  // below --lepton-pt-min 10
  return e;
}

std::vector<double> evaluate(FeatureSet& set, const EventBlock& b, std::size_t i, std::size_t& passed) {
  std::vector<double> x(set.features().size());
  std::vector<char> present(x.size());
  passed = set.evaluate(b, i, x, present);
  return x;
}

TEST(RmmFeatures, MatrixOfTheEventsObjectsAndLeptonRequirement) {
  FeatureSetOptions o;
  o.lepton_pt_min = 10;
  o.rmm_min_leptons = 3;
  auto set = make_feature_set("rmm", o);
  ASSERT_EQ(set->features().size(), 16u * 16u + 1);
  EXPECT_EQ(set->features()[3 * 16 + 7].name, "rmm_3_7");
  ASSERT_EQ(set->cuts(), std::vector<std::string>{"leptons"});
  ASSERT_EQ(set->matrices().size(), 1u);
  EXPECT_EQ(set->matrices()[0].size, 16u);
  Events ev;
  const RecoEvent e = three_lepton_event();
  ev.add(e);
  RecoEvent two = e;
  two.electrons.pop_back();  // two leptons above 10 GeV (and the 8 GeV muon)
  ev.add(two);
  std::size_t passed = 0;
  const auto x = evaluate(*set, ev.block, 0, passed);
  EXPECT_EQ(passed, 1u);
  // The same matrix from the objects directly: both jets in the jets block (no bjets
  // type), two electrons, one muon (the 8 GeV one is below the lepton cut).
  const double me = 0.000510999, mmu = 0.105658;
  std::vector<std::vector<FourVector>> objects = {
      {FourVector::from_pt_eta_phi_m(120, 0.3f, 2.0f, 12), FourVector::from_pt_eta_phi_m(45, -1.2f, -1.0f, 8)},
      {FourVector::from_pt_eta_phi_m(70, 0.1f, -2.0f, me), FourVector::from_pt_eta_phi_m(25, 1.0f, 0.5f, me)},
      {FourVector::from_pt_eta_phi_m(40, -0.5f, 1.5f, mmu)}};
  const auto expected = rmm(RmmLayout{}, 80, 0.5f, objects);
  for (std::size_t c = 0; c < expected.size(); ++c) EXPECT_NEAR(x[c], expected[c], 1e-12) << set->features()[c].name;
  EXPECT_EQ(x[11 * 16 + 11], expected[11 * 16 + 11]);
  EXPECT_GT(x[11 * 16 + 11], 0.0);  // the muon is there
  EXPECT_EQ(x[12 * 16 + 12], 0.0);  // the soft muon is not
  // Mass column: all objects of the matrix together.
  FourVector sum;
  for (const auto& t : objects)
    for (const auto& p : t) sum += p;
  EXPECT_NEAR(x.back(), sum.m(), 1e-9);
  // Two leptons fail the requirement.
  evaluate(*set, ev.block, 1, passed);
  EXPECT_EQ(passed, 0u);
}

TEST(RmmFeatures, BJetsAsTheirOwnTypeLeaveTheJetsBlock) {
  FeatureSetOptions o;
  o.lepton_pt_min = 10;
  o.rmm_types = {"jets", "bjets", "muons"};
  o.rmm_slots = 2;
  auto set = make_feature_set("rmm", o);
  ASSERT_EQ(set->features().size(), 7u * 7u + 1);
  EXPECT_TRUE(set->cuts().empty());
  Events ev;
  ev.add(three_lepton_event());
  std::size_t passed = 9;
  const auto x = evaluate(*set, ev.block, 0, passed);
  EXPECT_EQ(passed, 0u);
  // jets block (1, 2): only the light jet; bjets block (3, 4): the b-jet; muons (5, 6).
  EXPECT_NEAR(x[1 * 7 + 1], FourVector::from_pt_eta_phi_m(120, 0.3f, 2.0f, 12).et() / S, 1e-12);
  EXPECT_EQ(x[2 * 7 + 2], 0.0);
  EXPECT_NEAR(x[3 * 7 + 3], FourVector::from_pt_eta_phi_m(45, -1.2f, -1.0f, 8).et() / S, 1e-12);
  EXPECT_NEAR(x[5 * 7 + 5], FourVector::from_pt_eta_phi_m(40, -0.5f, 1.5f, 0.105658).et() / S, 1e-12);
}

TEST(RmmFeatures, BadOptionsNameTheOption) {
  auto fails_with = [](FeatureSetOptions o, const std::string& text) {
    try {
      make_feature_set("rmm", o);
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "no error for " << text;
  };
  FeatureSetOptions o;
  o.rmm_types = {"jets", "taus"};
  fails_with(o, "--rmm-types: 'taus' is not an object type");
  o.rmm_types = {"jets", "jets"};
  fails_with(o, "'jets' is given twice");
  o.rmm_types = {};
  fails_with(o, "--rmm-types: 0 types given");
  o = {};
  o.rmm_slots = 0;
  fails_with(o, "--rmm-slots 0");
  o.rmm_slots = 21;
  fails_with(o, "--rmm-slots 21");
  o = {};
  o.rmm_min_leptons = -1;
  fails_with(o, "--rmm-min-leptons -1");
}

}  // namespace
