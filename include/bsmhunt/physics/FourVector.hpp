#pragma once
#include <cmath>
#include <numbers>

namespace bsmhunt::physics {

// Wraps an angle into [-pi, pi).
inline double wrap_phi(double phi) noexcept {
  constexpr double pi = std::numbers::pi, two_pi = 2 * std::numbers::pi;
  if (phi >= -pi && phi < pi) return phi;
  phi = std::fmod(phi + pi, two_pi);
  if (phi < 0) phi += two_pi;
  return phi - pi;
}
inline double delta_phi(double phi1, double phi2) noexcept { return wrap_phi(phi1 - phi2); }
inline double delta_r(double eta1, double phi1, double eta2, double phi2) noexcept {
  return std::hypot(eta1 - eta2, delta_phi(phi1, phi2));
}

// Cartesian four-momentum (px, py, pz, E) in GeV, metric (+,-,-,-).
struct FourVector {
  double px = 0, py = 0, pz = 0, e = 0;

  static FourVector from_pt_eta_phi_m(double pt, double eta, double phi, double m) noexcept {
    const double pz = pt * std::sinh(eta);
    return {pt * std::cos(phi), pt * std::sin(phi), pz, std::sqrt(pt * pt + pz * pz + m * m)};
  }
  static FourVector from_pt_eta_phi_e(double pt, double eta, double phi, double e) noexcept {
    return {pt * std::cos(phi), pt * std::sin(phi), pt * std::sinh(eta), e};
  }
  // Massive particle at rest-frame momentum p along polar angle theta, azimuth phi.
  static FourVector from_p_theta_phi_m(double p, double theta, double phi, double m) noexcept {
    const double st = std::sin(theta);
    return {p * st * std::cos(phi), p * st * std::sin(phi), p * std::cos(theta), std::sqrt(p * p + m * m)};
  }

  double pt2() const noexcept { return px * px + py * py; }
  double pt() const noexcept { return std::sqrt(pt2()); }
  double p2() const noexcept { return pt2() + pz * pz; }
  double p() const noexcept { return std::sqrt(p2()); }
  double phi() const noexcept { return (px == 0 && py == 0) ? 0.0 : std::atan2(py, px); }
  // Pseudorapidity; +-inf guarded by a large finite value along the beam axis.
  double eta() const noexcept {
    const double pt_ = pt();
    if (pt_ == 0) return pz == 0 ? 0.0 : std::copysign(1e10, pz);
    return std::asinh(pz / pt_);
  }
  double rapidity() const noexcept { return 0.5 * std::log((e + pz) / (e - pz)); }
  double m2() const noexcept { return e * e - p2(); }
  // Invariant mass; a slightly negative m^2 from rounding gives 0, a truly
  // space-like vector gives -sqrt(-m^2) as ROOT's TLorentzVector does.
  double m() const noexcept {
    const double mm = m2();
    return mm >= 0 ? std::sqrt(mm) : -std::sqrt(-mm);
  }
  double mt2() const noexcept { return e * e - pz * pz; }  // transverse mass squared (m^2 + pT^2)
  double et() const noexcept {
    const double p2_ = p2();
    return p2_ > 0 ? e * std::sqrt(pt2() / p2_) : 0.0;
  }
  double beta() const noexcept { return p() / e; }

  FourVector& operator+=(const FourVector& o) noexcept {
    px += o.px, py += o.py, pz += o.pz, e += o.e;
    return *this;
  }
  FourVector& operator-=(const FourVector& o) noexcept {
    px -= o.px, py -= o.py, pz -= o.pz, e -= o.e;
    return *this;
  }
  friend FourVector operator+(FourVector a, const FourVector& b) noexcept { return a += b; }
  friend FourVector operator-(FourVector a, const FourVector& b) noexcept { return a -= b; }
  friend FourVector operator*(double s, const FourVector& v) noexcept { return {s * v.px, s * v.py, s * v.pz, s * v.e}; }
  double dot(const FourVector& o) const noexcept { return e * o.e - px * o.px - py * o.py - pz * o.pz; }

  // Lorentz boost by velocity (bx, by, bz), |b| < 1 (the convention of ROOT's Boost).
  FourVector boosted(double bx, double by, double bz) const noexcept {
    const double b2 = bx * bx + by * by + bz * bz;
    if (b2 <= 0) return *this;
    const double gamma = 1.0 / std::sqrt(1.0 - b2);
    const double bp = bx * px + by * py + bz * pz;
    const double g2 = (gamma - 1.0) / b2;
    return {px + g2 * bp * bx + gamma * bx * e, py + g2 * bp * by + gamma * by * e,
            pz + g2 * bp * bz + gamma * bz * e, gamma * (e + bp)};
  }
  // Boost of a daughter from this vector's rest frame into the frame where this has its momentum.
  FourVector boost_from_rest_frame_of_this(const FourVector& daughter) const noexcept {
    return daughter.boosted(px / e, py / e, pz / e);
  }
};

}  // namespace bsmhunt::physics
