#include "bsmhunt/physics/MetSignificance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bsmhunt::physics {

double relative_pt_resolution(const MetObject& object, const MetResolutionModel& model) noexcept {
  switch (object.kind) {
    case MetObjectKind::electron:
      return model.electron_pt;
    case MetObjectKind::muon: {
      const double slope_term = model.muon_pt_slope * object.pt;
      return std::sqrt(model.muon_pt * model.muon_pt + slope_term * slope_term);
    }
    case MetObjectKind::jet: {
      // sigma(E)/E at E = pT cosh(eta); at fixed eta sigma(pT)/pT is the same ratio.
      const double energy = object.pt * std::cosh(object.eta);
      if (energy <= 0) return model.jet_constant;
      return std::sqrt(model.jet_stochastic * model.jet_stochastic / energy + model.jet_constant * model.jet_constant);
    }
  }
  return 0.0;
}

MetCovariance met_covariance(std::span<const MetObject> objects, double soft_sumet,
                             const MetResolutionModel& model) noexcept {
  // Isotropic soft term.
  const double soft_variance = model.soft_term * model.soft_term * std::max(soft_sumet, 0.0);
  MetCovariance v{soft_variance, 0.0, soft_variance};
  for (const MetObject& object : objects) {
    const double sigma_long = relative_pt_resolution(object, model) * object.pt;
    const double sigma_phi = object.kind == MetObjectKind::jet ? model.jet_phi : model.lepton_phi;
    const double sigma_trans = object.pt * sigma_phi;
    const double long2 = sigma_long * sigma_long, trans2 = sigma_trans * sigma_trans;
    const double c = std::cos(object.phi), s = std::sin(object.phi);
    // R diag(long2, trans2) R^T with R the rotation by phi.
    v.xx += long2 * c * c + trans2 * s * s;
    v.yy += long2 * s * s + trans2 * c * c;
    v.xy += (long2 - trans2) * c * s;
  }
  return v;
}

double met_significance(std::span<const MetObject> objects, double met_x, double met_y, double soft_sumet,
                        const MetResolutionModel& model) noexcept {
  const MetCovariance v = met_covariance(objects, soft_sumet, model);
  const double det = v.determinant();
  if (!(det > 0)) return (met_x == 0 && met_y == 0) ? 0.0 : std::numeric_limits<double>::infinity();
  // MET^T V^-1 MET with V^-1 = [[yy, -xy], [-xy, xx]] / det.
  const double chi2 = (v.yy * met_x * met_x - 2 * v.xy * met_x * met_y + v.xx * met_y * met_y) / det;
  return std::sqrt(std::max(chi2, 0.0));
}

double met_significance_polar(std::span<const MetObject> objects, double met, double met_phi, double soft_sumet,
                              const MetResolutionModel& model) noexcept {
  return met_significance(objects, met * std::cos(met_phi), met * std::sin(met_phi), soft_sumet, model);
}

double soft_sumet(double total_sumet, std::span<const MetObject> objects) noexcept {
  double in_objects = 0;
  for (const MetObject& object : objects) in_objects += object.pt;
  return std::max(total_sumet - in_objects, 0.0);
}

double met_over_sqrt_ht(double met, double ht) noexcept { return ht > 0 ? met / std::sqrt(ht) : 0.0; }

}  // namespace bsmhunt::physics
