#pragma once
// Stransverse mass mT2 (Lester & Summers 1999; Barr, Lester & Stephens 2003):
//
//   mT2 = min over q_a + q_b = pT_miss of max(mT(a, q_a; chi_a), mT(b, q_b; chi_b)),
//   mT(v, q; chi)^2 = m_v^2 + chi^2 + 2 (ET_v ET_q - pT_v . q),
//
// for two visible systems a, b (mass, px, py) and two invisible particles of
// hypothesised masses chi_a, chi_b sharing the missing transverse momentum.
//
// Method (in the spirit of Lester & Zhang, arXiv:1411.4312, implemented from the
// geometry): for a trial M the sets {q_a : mT(a, q_a) <= M} and
// {q_a : mT(b, pT_miss - q_a) <= M} are ellipses (parabolas for massless visible
// systems) that grow with M; mT2 is the smallest M at which they meet. With the
// conics as 3x3 matrices A, B (negative inside), the sets are disjoint exactly
// when some A + t B, t > 0, is positive definite (S-lemma), i.e. when the cubic
// det(A + t B) has two positive roots: its discriminant is positive and one of its
// middle coefficients is. That signed discriminant changes sign once, at mT2, and
// is a polynomial in M^2: bisection narrows [max(m + chi), explicit splitting] to
// 5 %, then Brent's method finishes in two or three evaluations (plain bisection
// is kept as the reference method). Unbalanced solutions (mT2 = max(m_a + chi_a,
// m_b + chi_b)) are detected first; exactly back-to-back massless visible systems
// give that infimum, and nearly parallel massless ones get a tiny regularising
// mass (3e-5 pT) that keeps the test well conditioned.
#include <cmath>
#include <cstdint>

#include "bsmhunt/physics/FourVector.hpp"

namespace bsmhunt::physics {

enum class Mt2Method : uint8_t {
  root_finding,  // bisection, then Brent's method on the signed discriminant (default, fastest)
  bisection,     // bisection on the intersection test alone (reference)
};

inline constexpr double kMt2DefaultPrecision = 1e-3;
inline constexpr double kMt2AccuratePrecision = 1e-6;

struct Mt2Options {
  // Relative precision of the result: |returned - exact| <= relative_precision x exact
  // (plus ~1e-12 of the event's momentum scale for results near zero).
  double relative_precision = kMt2DefaultPrecision;
  Mt2Method method = Mt2Method::root_finding;

  static constexpr Mt2Options accurate() noexcept { return {kMt2AccuratePrecision, Mt2Method::root_finding}; }
};

struct Mt2Result {
  double value = 0;             // GeV
  int intersection_tests = 0;   // evaluations of the ellipse test (a cost measure)
  bool balanced = false;        // false: one side sits at its own minimum m + chi
};

// Inputs in GeV. Masses are taken as |m|; non-finite inputs give NaN.
Mt2Result mt2_detailed(double m_a, double px_a, double py_a, double m_b, double px_b, double py_b, double met_x,
                       double met_y, double chi_a = 0, double chi_b = 0, const Mt2Options& options = {}) noexcept;

inline double mt2(double m_a, double px_a, double py_a, double m_b, double px_b, double py_b, double met_x,
                  double met_y, double chi_a = 0, double chi_b = 0, const Mt2Options& options = {}) noexcept {
  return mt2_detailed(m_a, px_a, py_a, m_b, px_b, py_b, met_x, met_y, chi_a, chi_b, options).value;
}

// Visible systems as four-vectors (their invariant masses enter; a slightly
// space-like vector from rounding counts as massless).
inline double mt2(const FourVector& a, const FourVector& b, double met_x, double met_y, double chi_a = 0,
                  double chi_b = 0, const Mt2Options& options = {}) noexcept {
  const double m_a = a.m2() > 0 ? std::sqrt(a.m2()) : 0.0, m_b = b.m2() > 0 ? std::sqrt(b.m2()) : 0.0;
  return mt2(m_a, a.px, a.py, m_b, b.px, b.py, met_x, met_y, chi_a, chi_b, options);
}

}  // namespace bsmhunt::physics
