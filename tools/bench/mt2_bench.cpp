// mT2 evaluation rate on one core (tools/bench/bench mt2): 1 M random events (visible
// pT 20-300 GeV, MET 50-500 GeV, massless visibles, chi = 0, as in dilepton_met), at
// the default and the accurate precision, root finding and bisection. Prints RESULT lines.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <numbers>
#include <vector>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/physics/Mt2.hpp"

using namespace bsmhunt;
using namespace bsmhunt::physics;

namespace {

struct Event {
  double px_a, py_a, px_b, py_b, met_x, met_y;
};

}  // namespace

int main() {
  constexpr int n_events = 1000000;
  constexpr double pi = std::numbers::pi;
  std::vector<Event> events;
  events.reserve(n_events);
  for (uint64_t i = 0; i < n_events; ++i) {
    CounterRng rng(5, 5, i);
    const double pt_a = rng.uniform(20, 300), pt_b = rng.uniform(20, 300), met = rng.uniform(50, 500);
    const double phi_a = rng.uniform(-pi, pi), phi_b = rng.uniform(-pi, pi), phi_met = rng.uniform(-pi, pi);
    events.push_back({pt_a * std::cos(phi_a), pt_a * std::sin(phi_a), pt_b * std::cos(phi_b), pt_b * std::sin(phi_b),
                      met * std::cos(phi_met), met * std::sin(phi_met)});
  }
  const auto measure = [&](const Mt2Options& options, const char* label) {
    double checksum = 0;
    long tests = 0;
    const std::clock_t cpu_start = std::clock();
    const auto start = std::chrono::steady_clock::now();
    for (const Event& e : events) {
      const Mt2Result r = mt2_detailed(0, e.px_a, e.py_a, 0, e.px_b, e.py_b, e.met_x, e.met_y, 0, 0, options);
      checksum += r.value;
      tests += r.intersection_tests;
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = double(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    std::printf("RESULT mode=%s cpu_rate=%.0f wall_rate=%.0f tests_per_event=%.2f checksum=%.9g\n", label,
                n_events / cpu, n_events / wall, double(tests) / n_events, checksum);
  };
  measure({kMt2DefaultPrecision, Mt2Method::root_finding}, "1e-3");
  measure({kMt2AccuratePrecision, Mt2Method::root_finding}, "1e-6");
  measure({kMt2DefaultPrecision, Mt2Method::bisection}, "1e-3,bisection");
  measure({kMt2AccuratePrecision, Mt2Method::bisection}, "1e-6,bisection");
  return 0;
}
