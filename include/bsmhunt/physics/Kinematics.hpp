#pragma once
// Event-level kinematics on (pT, eta, phi, m) inputs in GeV and radians.
//
// The functions are templates on the floating-point type so that float columns
// (EventBlock) are processed in float and double inputs in double; with mixed
// argument types name the type explicitly: invariant_mass<double>(...).
// Every formula is written as a sum of non-negative terms (half-angle forms and
// (a^2 - b^2)/(a + b) rewrites) so that nearly collinear or back-to-back pairs
// lose no precision to cancellation.
#include <cmath>
#include <concepts>
#include <numbers>
#include <span>

#include "bsmhunt/physics/FourVector.hpp"  // wrap_phi, delta_phi, delta_r

namespace bsmhunt::physics {

// |delta phi| in [0, pi].
template <std::floating_point T>
T abs_delta_phi(T phi1, T phi2) noexcept {
  constexpr T pi = std::numbers::pi_v<T>, two_pi = 2 * std::numbers::pi_v<T>;
  T d = std::fabs(phi1 - phi2);
  if (d > two_pi) d = std::fmod(d, two_pi);
  return d > pi ? two_pi - d : d;
}

// sin^2(dphi / 2) = (1 - cos dphi) / 2 without the cancellation of 1 - cos at small dphi.
template <std::floating_point T>
T sin2_half_delta_phi(T phi1, T phi2) noexcept {
  const T s = std::sin(T(0.5) * (phi1 - phi2));
  return s * s;
}

// Transverse mass sqrt(m^2 + pT^2).
template <std::floating_point T>
T transverse_energy(T pt, T m) noexcept {
  return std::sqrt(m * m + pt * pt);
}

// Rapidity y = asinh(pz / mT) from (pT, eta, m); equals eta for massless objects.
// An object with pT = m = 0 (nothing, or along the beam) gets y = 0.
template <std::floating_point T>
T rapidity(T pt, T eta, T m) noexcept {
  const T mt = transverse_energy(pt, m);
  return mt > 0 ? std::asinh(pt * std::sinh(eta) / mt) : T(0);
}

// Squared invariant mass of two objects:
//   m^2 = m1^2 + m2^2 + 2 (E1 E2 - p1.p2)
//       = m1^2 + m2^2 + 2 (mT1 mT2 cosh(dy) - pT1 pT2 cos(dphi))
//       = m1^2 + m2^2 + 2 [(mT1 mT2 - pT1 pT2) + 2 mT1 mT2 sinh^2(dy/2) + 2 pT1 pT2 sin^2(dphi/2)]
// with mT1 mT2 - pT1 pT2 = (m1^2 pT2^2 + m2^2 pT1^2 + m1^2 m2^2) / (mT1 mT2 + pT1 pT2),
// all terms non-negative. Massless: 2 pT1 pT2 (cosh(deta) - cos(dphi)).
template <std::floating_point T>
T invariant_mass2(T pt1, T eta1, T phi1, T m1, T pt2, T eta2, T phi2, T m2) noexcept {
  const T mt1 = transverse_energy(pt1, m1), mt2 = transverse_energy(pt2, m2);
  const T mm1 = m1 * m1, mm2 = m2 * m2;
  const T mt_prod = mt1 * mt2, pt_prod = pt1 * pt2;
  const T mass_term = mt_prod + pt_prod > 0 ? (mm1 * pt2 * pt2 + mm2 * pt1 * pt1 + mm1 * mm2) / (mt_prod + pt_prod) : T(0);
  // Massless objects: y = eta, without the rounding (and the cost) of asinh(sinh(eta)).
  const T half_dy = m1 == 0 && m2 == 0 ? T(0.5) * (eta1 - eta2) : T(0.5) * (rapidity(pt1, eta1, m1) - rapidity(pt2, eta2, m2));
  const T sinh_half_dy = std::sinh(half_dy);
  return mm1 + mm2 +
         2 * (mass_term + 2 * mt_prod * sinh_half_dy * sinh_half_dy + 2 * pt_prod * sin2_half_delta_phi(phi1, phi2));
}

template <std::floating_point T>
T invariant_mass(T pt1, T eta1, T phi1, T m1, T pt2, T eta2, T phi2, T m2) noexcept {
  return std::sqrt(invariant_mass2(pt1, eta1, phi1, m1, pt2, eta2, phi2, m2));
}

// pT of the pair |p1 + p2| = sqrt((pT1 - pT2)^2 + 4 pT1 pT2 cos^2(dphi/2)): exact zero
// for equal back-to-back objects.
template <std::floating_point T>
T pair_pt(T pt1, T phi1, T pt2, T phi2) noexcept {
  const T c = std::cos(T(0.5) * (phi1 - phi2));
  const T dpt = pt1 - pt2;
  return std::sqrt(dpt * dpt + 4 * pt1 * pt2 * c * c);
}

// Transverse mass of a massless visible object and the missing transverse momentum:
// mT = sqrt(2 pT MET (1 - cos dphi)) = 2 sqrt(pT MET) |sin(dphi/2)|.
template <std::floating_point T>
T transverse_mass(T pt, T phi, T met, T met_phi) noexcept {
  return 2 * std::sqrt(pt * met * sin2_half_delta_phi(phi, met_phi));
}

// Transverse mass of a visible system of mass m with a massless invisible system:
// mT^2 = m^2 + 2 (ET MET - pT.MET), ET = sqrt(m^2 + pT^2)
//      = m^2 + 2 [(ET - pT) MET + 2 pT MET sin^2(dphi/2)], ET - pT = m^2 / (ET + pT).
template <std::floating_point T>
T system_transverse_mass(T m, T pt, T phi, T met, T met_phi) noexcept {
  const T et = transverse_energy(pt, m);
  const T et_minus_pt = et + pt > 0 ? m * m / (et + pt) : T(0);
  return std::sqrt(m * m + 2 * (et_minus_pt * met + 2 * pt * met * sin2_half_delta_phi(phi, met_phi)));
}

// General two-object transverse mass from Cartesian transverse momenta and masses:
// mT^2 = m1^2 + m2^2 + 2 (ET1 ET2 - p1.p2), the quantity mT2 minimises. Written as
// m1^2 + m2^2 + 2 [(ET1 ET2 - |p1||p2|) + (|p1||p2| - p1.p2)] with both brackets
// computed without cancellation.
template <std::floating_point T>
T transverse_mass_squared_cartesian(T m1, T px1, T py1, T m2, T px2, T py2) noexcept {
  const T p1sq = px1 * px1 + py1 * py1, p2sq = px2 * px2 + py2 * py2;
  const T mm1 = m1 * m1, mm2 = m2 * m2;
  const T p_prod = std::sqrt(p1sq * p2sq), et_prod = std::sqrt((mm1 + p1sq) * (mm2 + p2sq));
  const T mass_term = et_prod + p_prod > 0 ? (mm1 * p2sq + mm2 * p1sq + mm1 * mm2) / (et_prod + p_prod) : T(0);
  const T dot = px1 * px2 + py1 * py2;
  const T cross = px1 * py2 - py1 * px2;
  // |p1||p2| - p1.p2 = cross^2 / (|p1||p2| + p1.p2) when p1.p2 > 0 (small angles).
  const T angle_term = dot > 0 ? cross * cross / (p_prod + dot) : p_prod - dot;
  return mm1 + mm2 + 2 * (mass_term + angle_term);
}
template <std::floating_point T>
T transverse_mass_cartesian(T m1, T px1, T py1, T m2, T px2, T py2) noexcept {
  return std::sqrt(transverse_mass_squared_cartesian(m1, px1, py1, m2, px2, py2));
}

// HT: scalar sum of the pT of the objects at or above pt_min (overloads rather than
// a template so that vectors convert to spans).
inline float ht(std::span<const float> pts, float pt_min = 0.0f) noexcept {
  float sum = 0;
  for (const float pt : pts) sum += pt >= pt_min ? pt : 0.0f;
  return sum;
}
inline double ht(std::span<const double> pts, double pt_min = 0.0) noexcept {
  double sum = 0;
  for (const double pt : pts) sum += pt >= pt_min ? pt : 0.0;
  return sum;
}

}  // namespace bsmhunt::physics
