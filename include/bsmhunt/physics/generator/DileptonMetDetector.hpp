#pragma once
// The detector response the dilepton_met generator simulates, read by what must agree
// with it: MetSignificance's default resolution model, and the test that holds the two
// together (tests/physics/MetSignificanceTest.cpp).

namespace bsmhunt::physics::dilepton_met_detector {

// sigma(pT)/pT of an electron or muon of transverse momentum pt (GeV).
double electron_resolution(double pt) noexcept;
double muon_resolution(double pt) noexcept;
// sigma(E)/E of a jet of energy e (GeV), the Gaussian core (the generator adds a rare
// low-response tail that no Gaussian model has).
double jet_resolution(double e) noexcept;
// The soft term: sigma_x = sigma_y = soft_term_resolution() sqrt(sum ET_soft / GeV).
double soft_term_resolution() noexcept;

}  // namespace bsmhunt::physics::dilepton_met_detector
