// Score histograms of the significance stage (issue 5, "Benchmarks"): fills per-sample
// weighted histograms (sum w, sum w^2; stats::HistogramSet) from N scores of S samples
// on one core per rank, reduces them over the ranks, and runs the cut scans of every
// signal sample against the summed background. The data are the same for any rank
// count (counter-based random numbers keyed by the global index); --dump writes them
// for the numpy side of tools/bench/bench histogram.
//
//   mpirun -n R histogram_bench [--scores N] [--samples S] [--bins B] [--dump DIR] [--shuffled 1]
//
// The last lines are "RESULT ..." for tools/bench/bench.
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/stats/HistogramSet.hpp"
#include "bsmhunt/stats/Scan.hpp"

namespace dist = bsmhunt::dist;
namespace stats = bsmhunt::stats;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  const auto comm = dist::Communicator::world();
  uint64_t n = 100'000'000;
  std::size_t samples = 150, bins = 1000, backgrounds = 6;
  std::string dump;
  bool shuffled = false;  // samples interleaved at random instead of in file order
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view key = argv[i];
    if (key == "--scores") n = std::strtoull(argv[i + 1], nullptr, 10);
    else if (key == "--samples") samples = std::strtoull(argv[i + 1], nullptr, 10);
    else if (key == "--bins") bins = std::strtoull(argv[i + 1], nullptr, 10);
    else if (key == "--dump") dump = argv[i + 1];
    else if (key == "--shuffled") shuffled = std::string_view(argv[i + 1]) == "1";
  }
  const auto range = stats::HistogramSet::rows_of_rank(n, stats::HistogramSet::kBlockRows, comm);  // whole blocks
  std::vector<float> x(range.size());
  std::vector<double> w(range.size());
  std::vector<uint32_t> g(range.size());
  std::vector<uint64_t> row(range.size());
  for (uint64_t i = range.begin; i < range.end; ++i) {
    bsmhunt::CounterRng rng(7, 0, i);
    const double u = rng.uniform();
    const auto k = i - range.begin;
    // Feature and score files keep each sample's events together (file order); the
    // shuffled case is the worst case for the caches.
    g[k] = uint32_t(shuffled ? bsmhunt::mix64(i) % samples : i * samples / n);
    x[k] = float(g[k] < backgrounds ? u * u : 1 - u * u);  // backgrounds low, signals high
    w[k] = 1e-3 * (0.5 + rng.uniform());
    row[k] = i;
  }
  if (!dump.empty() && comm.size() == 1) {
    std::ofstream(dump + "/scores.f32", std::ios::binary).write(reinterpret_cast<const char*>(x.data()), std::streamsize(x.size() * 4));
    std::ofstream(dump + "/weights.f64", std::ios::binary).write(reinterpret_cast<const char*>(w.data()), std::streamsize(w.size() * 8));
    std::ofstream(dump + "/samples.u32", std::ios::binary).write(reinterpret_cast<const char*>(g.data()), std::streamsize(g.size() * 4));
  }
  comm.barrier();
  // The per-value exact fill first (ExactSum rounding of every weight), then the
  // block-wise fill that bsmhunt significance uses; the scans run on the latter.
  stats::HistogramSet exact(samples, bins, 0.0, 1.0);
  const auto e0 = Clock::now();
  exact.fill(x, w, g);
  const double exact_fill = std::chrono::duration<double>(Clock::now() - e0).count();
  stats::HistogramSet set(samples, bins, 0.0, 1.0);
  const auto t0 = Clock::now();
  set.fill(x, w, g, row);
  const auto t1 = Clock::now();
  comm.barrier();
  const auto t2 = Clock::now();
  set.reduce(comm);
  const auto t3 = Clock::now();
  // The scans: every signal sample against the summed backgrounds.
  std::vector<std::size_t> bkg;
  for (std::size_t s = 0; s < backgrounds; ++s) bkg.push_back(s);
  const stats::Histogram background = set.sum_of(bkg);
  stats::ScanOptions options;
  double best = 0;
  for (std::size_t s = backgrounds; s < samples; ++s) {
    const auto scan = stats::scan_cuts(set.histogram(s), background, options);
    if (scan.has_best()) best = std::max(best, scan.z[scan.best]);
  }
  const auto t4 = Clock::now();
  // A fingerprint of every exact sum and entry count: equal over rank counts when the
  // fill is rank-invariant bit for bit.
  uint64_t sums_hash = 1469598103934665603ull;
  const auto mix = [&](uint64_t v) { sums_hash = (sums_hash ^ v) * 1099511628211ull; };
  for (std::size_t s = 0; s < samples; ++s) {
    const stats::Histogram h = set.histogram(s);
    for (std::size_t k = 0; k < h.sum_w().size(); ++k)
      for (const bsmhunt::Int128 raw : {h.sum_w()[k].raw(), h.sum_w2()[k].raw()})
        mix(uint64_t(raw)), mix(uint64_t(raw >> 64));
    mix(set.entries(s));
  }
  const double fill = std::chrono::duration<double>(t1 - t0).count();
  const double wait = std::chrono::duration<double>(t2 - t1).count();
  const double reduce = std::chrono::duration<double>(t3 - t2).count();
  const double scan = std::chrono::duration<double>(t4 - t3).count();
  const double slowest_fill = comm.max(fill);
  if (comm.is_root()) {
    const double total = slowest_fill + reduce + scan;
    fmt::print("RESULT order={} ranks={} scores={} samples={} bins={} fill_s={:.4f} rate_per_rank={:.1f}M/s reduce_s={:.5f} "
               "reduce_fraction={:.4f} scan_s={:.4f} total_s={:.4f} max_z={:.4g} wait_s={:.4f} exact_fill_s={:.4f} "
               "exact_rate_per_rank={:.1f}M/s sums_hash={:016x}\n",
               shuffled ? "shuffled" : "file", comm.size(), n, samples, bins, slowest_fill, double(range.size()) / fill / 1e6, reduce, reduce / total,
               scan, total, best, wait, exact_fill, double(range.size()) / exact_fill / 1e6, sums_hash);
  }
  return 0;
}
