#include "bsmhunt/physics/Mt2.hpp"

#include "bsmhunt/physics/Kinematics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bsmhunt::physics {
namespace {

// Two massless visible systems closer than this (|sin angle|) to collinear make
// the conic pencil singular (both parabolas share their axis direction).
constexpr double kCollinearSin = 1e-12;
// Nearly massless visible systems (m < kRegularisingMass x pT) closer than
// kNearParallelSin to parallel get that mass in the intersection test: small
// enough to move mT2 by ~1e-9 x pT^2 / mT2^2 relative, large enough to keep the
// test's rounding errors near 1e-16 / kRegularisingMass^2.
constexpr double kRegularisingMass = 3e-5;
constexpr double kNearParallelSin = 1e-4;
// Results below this fraction of the event's momentum scale count as zero when
// the precision is relative.
constexpr double kAbsoluteFloor = 1e-12;
constexpr int kMaxIterations = 200;
// Relative bracket width below which Brent's method replaces bisection.
constexpr double kBrentBracket = 0.05;

// Squared transverse mass of a visible system and an invisible particle of mass chi
// and momentum q, in the cancellation-free form (q can be far out).
double mt_squared(double m, double px, double py, double chi, double qx, double qy) noexcept {
  return transverse_mass_squared_cartesian(m, px, py, chi, qx, qy);
}

// The two allowed regions as conics in the plane of q = q_a, in units of the
// event scale and in the frame where side a's momentum points along +x:
//   side a: E_a^2 (chi_a^2 + q^2) - (p_a.q + c_a)^2 <= 0,            c_a = (M^2 - m_a^2 - chi_a^2) / 2
//   side b: E_b^2 (chi_b^2 + |k - q|^2) - (p_b.(k - q) + c_b)^2 <= 0, k = pT_miss
// (for M >= m + chi the second root branch of each inequality is empty, so these
// are exactly the sets mT <= M). With X = (qx, qy, 1) they read X^T A X <= 0 and
// X^T B X <= 0; only the entries that depend on M are computed per trial.
class ConicPair {
 public:
  ConicPair(double ma2, double pa, double chia2, double mb2, double pbx, double pby, double chib2, double kx,
            double ky) noexcept
      : ma2_(ma2), pa_(pa), ea2_(ma2 + pa * pa), chia2_(chia2), sa_(ma2 + chia2),
        mb2_(mb2), pbx_(pbx), pby_(pby), eb2_(mb2 + pbx * pbx + pby * pby), chib2_(chib2), sb_(mb2 + chib2),
        pbk_(pbx * kx + pby * ky), k2_(kx * kx + ky * ky),
        // E_b^2 - pbx^2 written as m_b^2 + pby^2: no cancellation for massless b.
        b11_(mb2 + pby * pby), b12_(-pbx * pby), b22_(mb2 + pbx * pbx),
        beta13_(-eb2_ * kx + pbk_ * pbx), beta23_(-eb2_ * ky + pbk_ * pby), cof33_b_(mb2 * eb2_) {}

  // Positive while the regions are disjoint (u = M^2 below mT2^2), <= 0 once they
  // meet. det(A + t B) = d0 + d1 t + d2 t^2 + d3 t^3 has d0 = det A < 0 and
  // d3 = det B < 0, hence one negative root; the regions are disjoint exactly when
  // the other two roots are real and positive: discriminant > 0 and d1 or d2 > 0
  // (with d1, d2 <= 0 every coefficient is negative and no root is positive).
  // The discriminant is smooth in u and crosses zero at mT2^2, which root finding uses.
  double separation(double u) const noexcept {
    const double ca = 0.5 * (u - sa_), cb = 0.5 * (u - sb_);
    const double a13 = -ca * pa_, a33 = ea2_ * chia2_ - ca * ca;
    const double db = pbk_ + cb;
    const double b13 = beta13_ + cb * pbx_, b23 = beta23_ + cb * pby_;
    const double b33 = eb2_ * (chib2_ + k2_) - db * db;
    const double d0 = ea2_ * ea2_ * (ma2_ * chia2_ - ca * ca);
    const double d3 = eb2_ * eb2_ * (mb2_ * chib2_ - cb * cb);
    // d1 = tr(adj(A) B), d2 = tr(adj(B) A); A has a12 = a23 = 0 in this frame.
    const double d1 = ea2_ * a33 * b11_ + (ma2_ * a33 - a13 * a13) * b22_ + ma2_ * ea2_ * b33 - 2 * a13 * ea2_ * b13;
    const double cof11_b = b22_ * b33 - b23 * b23, cof22_b = b11_ * b33 - b13 * b13;
    const double cof13_b = b12_ * b23 - b13 * b22_;
    const double d2 = cof11_b * ma2_ + cof22_b * ea2_ + cof33_b_ * a33 + 2 * cof13_b * a13;
    const double disc = d1 * d1 * (d2 * d2 - 4 * d3 * d1) + d0 * (18 * d3 * d2 * d1 - 4 * d2 * d2 * d2 - 27 * d3 * d3 * d0);
    if (d1 <= 0 && d2 <= 0) return -std::fabs(disc);
    return disc;
  }

 private:
  double ma2_, pa_, ea2_, chia2_, sa_;
  double mb2_, pbx_, pby_, eb2_, chib2_, sb_;
  double pbk_, k2_;
  double b11_, b12_, b22_, beta13_, beta23_, cof33_b_;
};

// Smallest u in [lo, hi] with separation(u) <= 0, by Brent's method (inverse
// quadratic interpolation and secant steps, bisection when they stall). f_lo > 0,
// f_hi <= 0. Stops when the root is bracketed within relative_precision x u.
template <class F>
double brent_root(const F& f, double lo, double f_lo, double hi, double f_hi, double relative_precision,
                  double absolute_floor) noexcept {
  double a = lo, fa = f_lo, b = hi, fb = f_hi;
  double c = a, fc = fa, d = b - a, e = d;
  for (int iteration = 0; iteration < kMaxIterations; ++iteration) {
    if ((fb > 0) == (fc > 0)) {
      c = a, fc = fa;
      d = e = b - a;
    }
    if (std::fabs(fc) < std::fabs(fb)) {
      a = b, b = c, c = a;
      fa = fb, fb = fc, fc = fa;
    }
    const double tol = 0.5 * (relative_precision * std::fabs(b) + absolute_floor);
    const double half_width = 0.5 * (c - b);
    if (std::fabs(half_width) <= tol || fb == 0) return b;
    if (std::fabs(e) >= tol && std::fabs(fa) > std::fabs(fb)) {
      const double s = fb / fa;
      double p, q;
      if (a == c) {  // secant
        p = 2 * half_width * s;
        q = 1 - s;
      } else {  // inverse quadratic interpolation
        const double qa = fa / fc, r = fb / fc;
        p = s * (2 * half_width * qa * (qa - r) - (b - a) * (r - 1));
        q = (qa - 1) * (r - 1) * (s - 1);
      }
      if (p > 0) q = -q;
      p = std::fabs(p);
      if (2 * p < std::min(3 * half_width * q - std::fabs(tol * q), std::fabs(e * q))) {
        e = d;
        d = p / q;
      } else {
        d = e = half_width;
      }
    } else {
      d = e = half_width;
    }
    a = b, fa = fb;
    b += std::fabs(d) > tol ? d : std::copysign(tol, half_width);
    fb = f(b);
  }
  return b;
}

}  // namespace

Mt2Result mt2_detailed(double m_a, double px_a, double py_a, double m_b, double px_b, double py_b, double met_x,
                       double met_y, double chi_a, double chi_b, const Mt2Options& options) noexcept {
  Mt2Result result;
  if (!std::isfinite(m_a + px_a + py_a + m_b + px_b + py_b + met_x + met_y + chi_a + chi_b)) {
    result.value = std::numeric_limits<double>::quiet_NaN();
    return result;
  }
  m_a = std::fabs(m_a), m_b = std::fabs(m_b), chi_a = std::fabs(chi_a), chi_b = std::fabs(chi_b);

  // Work in units of the event's momentum scale: every conic entry is then O(1).
  // sqrt(x^2 + y^2) rather than hypot: several times faster, and GeV-scale inputs
  // cannot overflow.
  const double pt_a = std::sqrt(px_a * px_a + py_a * py_a), pt_b = std::sqrt(px_b * px_b + py_b * py_b);
  const double met = std::sqrt(met_x * met_x + met_y * met_y);
  const double scale = std::max({pt_a, pt_b, met, m_a, m_b, chi_a, chi_b});
  if (scale == 0) return result;
  const double inv = 1.0 / scale;
  m_a *= inv, m_b *= inv, chi_a *= inv, chi_b *= inv;
  const double lower = std::max(m_a + chi_a, m_b + chi_b);

  // A side with neither mass nor momentum has mT = chi whatever its share: the
  // other side takes its own minimum.
  if (pt_a == 0 && m_a == 0) {
    result.value = scale * std::max(chi_a, m_b + chi_b);
    return result;
  }
  if (pt_b == 0 && m_b == 0) {
    result.value = scale * std::max(chi_b, m_a + chi_a);
    return result;
  }

  // Rotate so that side a's momentum points along +x.
  const double cos_a = pt_a > 0 ? px_a / pt_a : 1.0, sin_a = pt_a > 0 ? py_a / pt_a : 0.0;
  const double pa = pt_a * inv;
  const double pbx = (px_b * cos_a + py_b * sin_a) * inv, pby = (py_b * cos_a - px_b * sin_a) * inv;
  const double kx = (met_x * cos_a + met_y * sin_a) * inv, ky = (met_y * cos_a - met_x * sin_a) * inv;
  const double ma2 = m_a * m_a, mb2 = m_b * m_b, chia2 = chi_a * chi_a, chib2 = chi_b * chi_b;
  const double lower2 = lower * lower;

  // Unbalanced solutions: side a at its unconstrained minimum m_a + chi_a, reached
  // at q_a = (chi_a / m_a) p_a, while side b stays below that value (and vice versa).
  // The values there are also upper bounds.
  double upper2 = std::numeric_limits<double>::infinity();
  if (m_a > 0) {
    const double qx = chi_a / m_a * pa;
    const double other = mt_squared(m_b, pbx, pby, chi_b, kx - qx, ky);
    if (m_a + chi_a == lower && other <= lower2) {
      result.value = scale * lower;
      return result;
    }
    upper2 = std::min(upper2, std::max(other, (m_a + chi_a) * (m_a + chi_a)));
  }
  if (m_b > 0) {
    const double qbx = chi_b / m_b * pbx, qby = chi_b / m_b * pby;
    const double other = mt_squared(m_a, pa, 0, chi_a, kx - qbx, ky - qby);
    if (m_b + chi_b == lower && other <= lower2) {
      result.value = scale * lower;
      return result;
    }
    upper2 = std::min(upper2, std::max(other, (m_b + chi_b) * (m_b + chi_b)));
  }

  // (Nearly) massless visible systems: the regions are parabolas or long, thin
  // ellipses, and their relative orientation matters.
  double conic_ma2 = ma2, conic_mb2 = mb2;
  const double pb = std::sqrt(pbx * pbx + pby * pby);
  const double cross = pa * pby, dot = pa * pbx;  // p_a x p_b and p_a . p_b in this frame
  const bool collinear = std::fabs(cross) <= kCollinearSin * pa * pb;
  if (m_a == 0 && m_b == 0) {
    if (collinear && dot < 0) {
      // Back to back: both parabolas open the same way and meet far out along p_a,
      // where each mT tends to its chi (an infimum).
      result.value = scale * lower;
      return result;
    }
    // Massless everything: zero when pT_miss = s p_a + t p_b with s, t >= 0.
    if (lower == 0) {
      const bool in_cone = collinear ? std::fabs(ky) <= kCollinearSin * met * inv && kx >= 0
                                     : (kx * pby - ky * pbx) / cross >= 0 && pa * ky / cross >= 0;
      if (in_cone) return result;
    }
  }
  if (m_a < kRegularisingMass * pa && m_b < kRegularisingMass * pb && dot > 0 &&
      std::fabs(cross) < kNearParallelSin * pa * pb) {
    // Nearly parallel, nearly massless: the parabolas share their axis direction
    // and the pencil A + t B is (nearly) singular for every t, so the test loses
    // all precision. A mass of kRegularisingMass x pT lifts that.
    conic_ma2 = std::max(ma2, kRegularisingMass * kRegularisingMass * pa * pa);
    conic_mb2 = std::max(mb2, kRegularisingMass * kRegularisingMass * pb * pb);
  }

  // Upper bound from an even split of pT_miss (besides the unbalanced points above);
  // q is not far out here, so the one-square-root form is precise enough.
  {
    const double q2 = 0.25 * (kx * kx + ky * ky);
    const double even_a = ma2 + chia2 + 2 * (std::sqrt((ma2 + pa * pa) * (chia2 + q2)) - 0.5 * pa * kx);
    const double even_b = mb2 + chib2 + 2 * (std::sqrt((mb2 + pb * pb) * (chib2 + q2)) - 0.5 * (pbx * kx + pby * ky));
    upper2 = std::min(upper2, std::max(even_a, even_b));
  }
  upper2 = std::max(upper2, lower2);

  const ConicPair conics(conic_ma2, pa, chia2, conic_mb2, pbx, pby, chib2, kx, ky);
  result.balanced = true;
  const double precision = std::max(options.relative_precision, 4 * std::numeric_limits<double>::epsilon());
  const double floor2 = kAbsoluteFloor * kAbsoluteFloor;
  const auto f = [&](double trial) {
    ++result.intersection_tests;
    return conics.separation(trial);
  };
  // Bisection in M until the bracket is narrow and its lower end was evaluated (at
  // the lower bound itself one region shrinks to a point or a ray and the
  // discriminant is degenerate); from there the discriminant is smooth and Brent's
  // method converges in a few steps.
  const bool use_brent = options.method == Mt2Method::root_finding;
  double lo = lower, hi = std::sqrt(upper2), f_lo = 0, f_hi = 0;
  bool lo_evaluated = false, hi_evaluated = false;
  // The midpoint of [lo, hi] is within (hi - lo) / 2 of mT2: stop at half the
  // allowed error so that rounding and the lower-bound degeneracy keep a margin.
  const auto converged = [&] { return hi - lo <= precision * lo + kAbsoluteFloor; };
  while (!converged() && result.intersection_tests < kMaxIterations) {
    if (use_brent && lo_evaluated && hi - lo <= kBrentBracket * lo) {
      if (!hi_evaluated) f_hi = f(hi * hi), hi_evaluated = true;
      if (f_hi > 0) break;  // the explicit splitting is (numerically) optimal
      // u = M^2: relative precision on u is twice that on M.
      const double u = brent_root(f, lo * lo, f_lo, hi * hi, f_hi, precision, floor2);
      result.value = scale * std::sqrt(u);
      return result;
    }
    const double mid = 0.5 * (lo + hi);
    const double f_mid = f(mid * mid);
    if (f_mid > 0) {
      lo = mid, f_lo = f_mid, lo_evaluated = true;
    } else {
      hi = mid, f_hi = f_mid, hi_evaluated = true;
    }
  }
  result.value = scale * (use_brent && hi_evaluated && f_hi > 0 ? hi : 0.5 * (lo + hi));
  return result;
}

}  // namespace bsmhunt::physics
