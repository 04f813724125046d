#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/physics/MetSignificance.hpp"
#include "bsmhunt/physics/generator/DileptonMetDetector.hpp"

namespace {

using namespace bsmhunt::physics;
constexpr double pi = std::numbers::pi;

// The default model is the generator's detector, read from the generator (not copied):
// leptons and jets over the whole pT and eta range, and the soft term.
TEST(MetSignificance, DefaultResolutionsMatchTheGenerator) {
  const MetResolutionModel model;
  namespace detector = dilepton_met_detector;
  for (const double pt : {10.0, 25.0, 50.0, 200.0, 1000.0, 3000.0}) {
    EXPECT_NEAR(relative_pt_resolution({pt, 0, 0, MetObjectKind::electron}, model), detector::electron_resolution(pt),
                1e-6)
        << pt;
    EXPECT_NEAR(relative_pt_resolution({pt, 1, 0, MetObjectKind::muon}, model), detector::muon_resolution(pt), 1e-6)
        << pt;
    for (const double eta : {0.0, 1.0, 2.5, 4.0})
      EXPECT_NEAR(relative_pt_resolution({pt, eta, 0, MetObjectKind::jet}, model),
                  detector::jet_resolution(pt * std::cosh(eta)), 1e-6)
          << pt << " " << eta;
  }
  EXPECT_NEAR(model.soft_term, detector::soft_term_resolution(), 1e-7);
}

// The same model at a few points, by hand from its formulas.
TEST(MetSignificance, DefaultResolutionsByHand) {
  const MetResolutionModel model;
  EXPECT_DOUBLE_EQ(relative_pt_resolution({50, 0, 0, MetObjectKind::electron}, model), 0.02);
  // Muon at 200 GeV: 2% (+) 1e-4 x 200 = sqrt(0.02^2 + 0.02^2) = 0.0282843
  EXPECT_NEAR(relative_pt_resolution({200, 0, 0, MetObjectKind::muon}, model), 0.02 * std::sqrt(2.0), 1e-12);
  // Jet at 100 GeV, eta = 0: sqrt(0.36 / 100 + 0.0025) = sqrt(0.0061) = 0.0781025
  EXPECT_NEAR(relative_pt_resolution({100, 0, 0, MetObjectKind::jet}, model), std::sqrt(0.0061), 1e-12);
  // At eta = 2 the energy is pT cosh 2 = 376.2196 GeV: sqrt(0.36 / 376.2196 + 0.0025) = 0.0589983
  EXPECT_NEAR(relative_pt_resolution({100, 2, 0, MetObjectKind::jet}, model),
              std::sqrt(0.36 / (100 * std::cosh(2.0)) + 0.0025), 1e-12);
}

TEST(MetSignificance, OneJetPlusSoftTermByHand) {
  // One 100 GeV jet at eta = 0 along x, soft sum ET = 100 GeV.
  // Jet: sigma_L^2 = (0.0781025 x 100)^2 = 61 GeV^2, sigma_T^2 = (100 x 0.01)^2 = 1 GeV^2.
  // Soft: sigma^2 = 0.5^2 x 100 = 25 GeV^2 in x and y.
  // V = [[61 + 25, 0], [0, 1 + 25]] = diag(86, 26). MET = (30, 40):
  // S^2 = 900 / 86 + 1600 / 26 = 10.4651163 + 61.5384615 = 72.0035778 -> S = 8.4854922
  const std::vector<MetObject> jet{{100, 0, 0, MetObjectKind::jet}};
  const MetCovariance v = met_covariance(jet, 100);
  EXPECT_NEAR(v.xx, 86, 1e-9);
  EXPECT_NEAR(v.yy, 26, 1e-9);
  EXPECT_NEAR(v.xy, 0, 1e-9);
  EXPECT_NEAR(met_significance(jet, 30, 40, 100), 8.4854922, 1e-6);
  // The same jet at phi = 45 degrees: R diag(61, 1) R^T + 25 I = [[56, 30], [30, 56]].
  // V^-1 = [[56, -30], [-30, 56]] / (56^2 - 30^2 = 2236); MET = (30, 40):
  // S^2 = (56 x 900 - 2 x 30 x 1200 + 56 x 1600) / 2236 = 68000 / 2236 = 30.4114490 -> S = 5.5146577
  const std::vector<MetObject> rotated{{100, 0, pi / 4, MetObjectKind::jet}};
  EXPECT_NEAR(met_significance(rotated, 30, 40, 100), 5.5146577, 1e-6);
  EXPECT_NEAR(met_significance_polar(rotated, 50, std::atan2(40.0, 30.0), 100), 5.5146577, 1e-6);
}

TEST(MetSignificance, SoftTermOnly) {
  // Isotropic: S = MET / (0.5 sqrt(sum ET)) = 20 / (0.5 x 20) = 2.
  EXPECT_NEAR(met_significance({}, 12, 16, 400), 2.0, 1e-12);
  // No objects, no soft term: singular covariance.
  EXPECT_EQ(met_significance({}, 0, 0, 0), 0.0);
  EXPECT_EQ(met_significance({}, 1, 0, 0), std::numeric_limits<double>::infinity());
}

std::vector<MetObject> random_objects(bsmhunt::CounterRng& rng) {
  std::vector<MetObject> objects;
  const int n = 1 + int(rng.uniform() * 6);
  for (int i = 0; i < n; ++i) {
    const auto kind = static_cast<MetObjectKind>(int(rng.uniform() * 3));
    objects.push_back({rng.uniform(20, 500), rng.uniform(-2.5, 2.5), rng.uniform(-pi, pi), kind});
  }
  return objects;
}

TEST(MetSignificance, RotationInvariance) {
  for (uint64_t i = 0; i < 200; ++i) {
    bsmhunt::CounterRng rng(6, 6, i);
    const auto objects = random_objects(rng);
    const double met = rng.uniform(0, 300), met_phi = rng.uniform(-pi, pi), soft = rng.uniform(50, 500);
    const double s = met_significance_polar(objects, met, met_phi, soft);
    const double angle = rng.uniform(-10, 10);  // also wraps phi past +-pi
    auto turned = objects;
    for (auto& o : turned) o.phi += angle;
    EXPECT_NEAR(met_significance_polar(turned, met, met_phi + angle, soft), s, 1e-9 * (1 + s));
  }
}

TEST(MetSignificance, WorseResolutionLowersSignificance) {
  for (uint64_t i = 0; i < 100; ++i) {
    bsmhunt::CounterRng rng(8, 8, i);
    const auto objects = random_objects(rng);
    const double mx = rng.uniform(-200, 200), my = rng.uniform(-200, 200), soft = rng.uniform(50, 500);
    const double nominal = met_significance(objects, mx, my, soft);
    MetResolutionModel worse;
    worse.jet_stochastic *= 1.5, worse.jet_constant *= 1.5, worse.electron_pt *= 1.5, worse.muon_pt *= 1.5;
    worse.soft_term *= 1.5, worse.jet_phi *= 1.5, worse.lepton_phi *= 1.5, worse.muon_pt_slope *= 1.5;
    // Every resolution 1.5x larger: V scales by 2.25 exactly, S by 1/1.5.
    EXPECT_NEAR(met_significance(objects, mx, my, soft, worse), nominal / 1.5, 1e-9 * nominal);
    // Only the soft term worse: S can only drop.
    MetResolutionModel softer;
    softer.soft_term = 1.0;
    EXPECT_LT(met_significance(objects, mx, my, soft, softer), nominal);
    // Larger MET along a fixed direction: S grows linearly.
    EXPECT_NEAR(met_significance(objects, 2 * mx, 2 * my, soft), 2 * nominal, 1e-9 * nominal);
  }
}

TEST(MetSignificance, PureMismeasurementIsChiTwoDof) {
  // No invisible particles: the MET is the sum of the objects' and the soft term's
  // mismeasurements. Each object is smeared on its own here, along its direction by
  // sigma(pT) (hand-checked above) and across it by pT sigma_phi, the soft term by an
  // isotropic k sqrt(sum ET); MET = -(sum of the shifts). If the covariance sums and
  // rotates those right, S^2 follows chi^2 with 2 degrees of freedom: mean 2 and
  // P(S^2 > 2 ln 20) = 5%.
  const MetResolutionModel model;
  const std::vector<MetObject> objects{{150, 0.5, 0.3, MetObjectKind::jet},
                                       {80, -1.0, 2.5, MetObjectKind::jet},
                                       {60, 1.2, -1.8, MetObjectKind::muon},
                                       {45, 0.1, -0.7, MetObjectKind::electron}};
  const double soft = 200;
  constexpr int n = 40000;
  double sum_s2 = 0;
  int tail = 0;
  for (uint64_t i = 0; i < n; ++i) {
    bsmhunt::CounterRng rng(10, 10, i);
    double mx = 0, my = 0;
    for (const MetObject& o : objects) {
      const double along = o.pt * relative_pt_resolution(o, model) * rng.normal();
      const double phi_resolution = o.kind == MetObjectKind::jet ? model.jet_phi : model.lepton_phi;
      const double across = o.pt * phi_resolution * rng.normal();
      mx -= along * std::cos(o.phi) - across * std::sin(o.phi);
      my -= along * std::sin(o.phi) + across * std::cos(o.phi);
    }
    mx -= model.soft_term * std::sqrt(soft) * rng.normal();
    my -= model.soft_term * std::sqrt(soft) * rng.normal();
    const double s = met_significance(objects, mx, my, soft, model);
    sum_s2 += s * s;
    tail += s * s > 2 * std::log(20.0);
  }
  // Errors: sd(S^2) = 2, so 5 sigma of the mean is 0.05; the tail fraction's is 0.0055.
  EXPECT_NEAR(sum_s2 / n, 2.0, 0.05);
  EXPECT_NEAR(double(tail) / n, 0.05, 0.0055);
}

TEST(MetSignificance, FallbackMetOverSqrtHt) {
  EXPECT_DOUBLE_EQ(met_over_sqrt_ht(100, 400), 5.0);  // 100 / sqrt(400) sqrt(GeV)
  EXPECT_DOUBLE_EQ(met_over_sqrt_ht(30, 900), 1.0);
  EXPECT_EQ(met_over_sqrt_ht(50, 0), 0.0);
}

TEST(MetSignificance, SoftSumEtFromTotal) {
  const std::vector<MetObject> objects{{100, 0, 0, MetObjectKind::jet}, {40, 0, 1, MetObjectKind::muon}};
  EXPECT_DOUBLE_EQ(soft_sumet(500, objects), 360.0);
  EXPECT_DOUBLE_EQ(soft_sumet(100, objects), 0.0);  // never negative
}

}  // namespace
