#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace bsmhunt {

// Philox4x32-10 (Salmon et al., SC'11): a counter-based generator. The same
// (key, counter) gives the same numbers on any rank, any thread and the GPU
// (cuRAND implements the same function), which is what makes outputs independent
// of the rank count.
struct Philox4x32 {
  using Counter = std::array<uint32_t, 4>;
  using Key = std::array<uint32_t, 2>;
  static Counter generate(Counter ctr, Key key) noexcept {
    constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    constexpr uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = uint64_t(M0) * ctr[0];
      const uint64_t p1 = uint64_t(M1) * ctr[2];
      ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
             uint32_t(p0)};
      key[0] += W0;
      key[1] += W1;
    }
    return ctr;
  }
};

// A stream of random numbers for one (seed, stream, index) triple, e.g.
// (job seed, sample id, event number). Draws advance an internal counter; the
// stream never overlaps another index's stream (2^32 blocks of 4 draws each).
class CounterRng {
 public:
  CounterRng(uint64_t seed, uint64_t stream, uint64_t index) noexcept
      : key_{uint32_t(seed) ^ uint32_t(stream * 0x9E3779B97F4A7C15ull >> 32),
             uint32_t(seed >> 32) ^ uint32_t(stream)},
        index_(index) {}

  uint32_t next_u32() noexcept {
    if (used_ == 4) refill();
    return block_[used_++];
  }
  // Uniform in (0, 1]: never 0, so log() and 1/x are safe; (2^53 - 1/2) 2^-53 rounds to
  // 1.0 (once in 2^53 draws), so log(1 - u) is not.
  double uniform() noexcept {
    const uint64_t hi = next_u32(), lo = next_u32();
    const uint64_t bits53 = ((hi << 32) | lo) >> 11;
    return (double(bits53) + 0.5) * 0x1p-53;
  }
  double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box-Muller; the second value is cached.
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double phi = 2.0 * std::numbers::pi * uniform();
    spare_ = r * std::sin(phi);
    has_spare_ = true;
    return r * std::cos(phi);
  }
  double normal(double mean, double sigma) noexcept { return mean + sigma * normal(); }
  double exponential(double mean) noexcept { return -mean * std::log(uniform()); }
  bool bernoulli(double p) noexcept { return uniform() < p; }
  // Poisson by inversion for small means, normal approximation with continuity
  // correction above 1000 (used for pseudo-data counts only).
  uint64_t poisson(double mean) noexcept;

 private:
  void refill() noexcept {
    block_ = Philox4x32::generate({uint32_t(counter_), uint32_t(counter_ >> 32), uint32_t(index_),
                                   uint32_t(index_ >> 32)},
                                  key_);
    ++counter_;
    used_ = 0;
  }
  Philox4x32::Key key_;
  uint64_t index_;
  uint64_t counter_ = 0;
  Philox4x32::Counter block_{};
  int used_ = 4;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Stable 64-bit hash of a string (FNV-1a), used to derive stream ids from sample
// names so that adding a sample does not change the others' random numbers.
constexpr uint64_t stable_hash(const char* s, uint64_t h = 14695981039346656037ull) noexcept {
  return *s ? stable_hash(s + 1, (h ^ uint64_t(uint8_t(*s))) * 1099511628211ull) : h;
}
// SplitMix64 finaliser: decorrelates nearby integers (e.g. event numbers).
constexpr uint64_t mix64(uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace bsmhunt
