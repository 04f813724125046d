#pragma once
// Object-based missing-ET significance (in the spirit of ATLAS-CONF-2018-038):
//
//   S^2 = MET^T V^-1 MET,   V = sum over objects of R(phi_i) diag(sigma_L^2, sigma_T^2) R(phi_i)^T
//                              + sigma_soft^2 I,
//
// the MET vector's chi^2 under the hypothesis that it is pure mismeasurement. Each
// object contributes its pT resolution along its direction (sigma_L = sigma(pT)) and
// its phi resolution across it (sigma_T = pT sigma_phi); the soft term (everything
// not in objects) an isotropic sigma_soft = k sqrt(sum ET_soft). The default
// resolutions are those of the built-in generator's detector smearing, so S is
// close to a chi with two degrees of freedom for events without invisible particles.
//
// Fallback (no per-object information): MET / sqrt(HT), in sqrt(GeV).
#include <cstdint>
#include <span>

namespace bsmhunt::physics {

enum class MetObjectKind : uint8_t { electron, muon, jet };

// One reconstructed object entering the MET (GeV, radians). eta only matters for
// jets, whose resolution is parametrised in energy (E = pT cosh eta).
struct MetObject {
  double pt = 0, eta = 0, phi = 0;
  MetObjectKind kind = MetObjectKind::jet;
};

// Per-object resolutions; the defaults match the generator's smearing.
struct MetResolutionModel {
  double electron_pt = 0.02;           // sigma(pT)/pT
  double muon_pt = 0.02;               // sigma(pT)/pT = muon_pt (+) muon_pt_slope x pT/GeV
  double muon_pt_slope = 1e-4;
  double jet_stochastic = 0.6;         // sigma(E)/E = jet_stochastic / sqrt(E/GeV) (+) jet_constant
  double jet_constant = 0.05;
  double lepton_phi = 1e-3;            // rad; transverse resolution = pT sigma_phi
  double jet_phi = 0.01;               // rad; small: the generator does not smear directions
  double soft_term = 0.5;              // sigma_x = sigma_y = soft_term sqrt(sum ET_soft / GeV) GeV
};

// Relative pT resolution sigma(pT)/pT of one object under a model.
double relative_pt_resolution(const MetObject& object, const MetResolutionModel& model = {}) noexcept;

// The 2x2 MET covariance (GeV^2).
struct MetCovariance {
  double xx = 0, xy = 0, yy = 0;
  double determinant() const noexcept { return xx * yy - xy * xy; }
};
MetCovariance met_covariance(std::span<const MetObject> objects, double soft_sumet,
                             const MetResolutionModel& model = {}) noexcept;

// Object-based significance S = sqrt(MET^T V^-1 MET) (dimensionless). soft_sumet is
// the scalar sum ET of what is not in `objects` (see soft_sumet() below). A
// singular covariance (no objects and no soft term) gives 0 for zero MET and
// +infinity otherwise.
double met_significance(std::span<const MetObject> objects, double met_x, double met_y, double soft_sumet,
                        const MetResolutionModel& model = {}) noexcept;
double met_significance_polar(std::span<const MetObject> objects, double met, double met_phi, double soft_sumet,
                              const MetResolutionModel& model = {}) noexcept;

// Soft-term sum ET from an event's total scalar sum ET (RecoEvent::met_sumet counts
// objects and soft term) minus the objects' pT, never negative.
double soft_sumet(double total_sumet, std::span<const MetObject> objects) noexcept;

// Fallback significance MET / sqrt(HT) in sqrt(GeV) (MET and HT in GeV); 0 when
// HT <= 0 (no visible activity: keeps the feature finite).
double met_over_sqrt_ht(double met, double ht) noexcept;

}  // namespace bsmhunt::physics
