#pragma once
#include <cmath>
#include <cstdint>

namespace bsmhunt {

// 128-bit integers are a GCC/Clang extension; __extension__ keeps -Wpedantic quiet.
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

// Sum of doubles that does not depend on the order of additions: each value is
// rounded to a fixed point grid of 2^-32 and accumulated in a 128-bit integer.
// Used wherever ranks sum partial results that must be bitwise identical for any
// rank count (sums of weights, histogram bins). Range: |sum| < 2^94, resolution
// 2.3e-10 absolute per term, far below float storage precision of MC weights.
class ExactSum {
 public:
  static constexpr double kScale = 4294967296.0;  // 2^32
  void add(double x) noexcept { acc_ += Int128(to_fixed(x)); }
  // x on the 2^-32 grid, rounded half away from zero (= std::llround(x * kScale)),
  // inline because the library llround is a call per term; |x| < 2^31.
  static int64_t to_fixed(double x) noexcept {
    const double v = x * kScale;
    int64_t t = static_cast<int64_t>(v);  // toward zero; v - t is exact
    const double r = v - static_cast<double>(t);
    t += (r >= 0.5) - (r <= -0.5);
    return t;
  }
  void add(const ExactSum& other) noexcept { acc_ += other.acc_; }
  double value() const noexcept { return double(acc_) / kScale; }
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
