#pragma once
#include <cmath>
#include <cstdint>

namespace bsmhunt {

// 128-bit integers are a GCC/Clang extension; __extension__ keeps -Wpedantic quiet.
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

// Sum of doubles that does not depend on the order of additions: each value is
// rounded to a fixed point grid of 2^-62 and accumulated in a 128-bit integer.
// Used wherever ranks sum partial results that must be bitwise identical for any
// rank count (sums of weights, histogram bins). Terms: |x| < 2^63. Resolution
// 2.2e-19 absolute per term: exact for every term >= 2^-10 (its last mantissa bit
// is on the grid), and fine enough for the squares of tiny MC weights (w = 1e-6
// gives w^2 = 1e-12 to 2e-7 relative).
class ExactSum {
 public:
  static constexpr int kFractionBits = 62;
  static constexpr double kScale = 4611686018427387904.0;  // 2^62
  void add(double x) noexcept { acc_ += to_fixed(x); }
  void add(const ExactSum& other) noexcept { acc_ += other.acc_; }
  // x on the 2^-62 grid, rounded half away from zero. Integer part and fraction are
  // split (both exact) so that only 64-bit conversions are needed: inline and cheap.
  static Int128 to_fixed(double x) noexcept {
    const int64_t whole = static_cast<int64_t>(x);  // toward zero
    const double v = (x - static_cast<double>(whole)) * kScale;  // |v| < 2^62, exact
    int64_t f = static_cast<int64_t>(v);
    const double r = v - static_cast<double>(f);
    f += (r >= 0.5) - (r <= -0.5);
    return (Int128(whole) << kFractionBits) + f;
  }
  double value() const noexcept {
    // Integer and fraction separately: one rounding of the fraction, none of the integer below 2^53.
    const Int128 whole = acc_ >> kFractionBits;  // floor
    const auto frac = int64_t(acc_ - (whole << kFractionBits));  // in [0, 2^62)
    return double(whole) + double(frac) / kScale;
  }
  // Two 64-bit words, for MPI reductions (reduced by dist::allreduce_exact).
  Int128 raw() const noexcept { return acc_; }
  static ExactSum from_raw(Int128 raw) noexcept {
    ExactSum s;
    s.acc_ = raw;
    return s;
  }

 private:
  Int128 acc_ = 0;
};

}  // namespace bsmhunt
