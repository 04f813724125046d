#include "bsmhunt/stats/DataMc.hpp"

#include <algorithm>
#include <cmath>
#include <boost/math/distributions/chi_squared.hpp>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::stats {

namespace {
double total_of(std::span<const double> v) {
  double t = 0;
  for (const double x : v) t += x;
  return t;
}
void check_sizes(std::span<const double> data, std::span<const double> mc, std::span<const double> mc_variance) {
  if (data.size() != mc.size() || mc.size() != mc_variance.size())
    throw InternalError("compare_data_mc: data, MC and MC variance differ in their number of bins");
}
}  // namespace

double kolmogorov_survival(double lambda) {
  if (!(lambda > 0)) return 1.0;
  if (lambda < 0.2) return 1.0;  // the series is 1 to double precision there
  double q = 0;
  for (int k = 1; k <= 100; ++k) {
    const double term = std::exp(-2.0 * k * k * lambda * lambda);
    q += (k % 2 ? 2.0 : -2.0) * term;
    if (term < 1e-17) break;
  }
  return std::clamp(q, 0.0, 1.0);
}

void kolmogorov_smirnov(std::span<const double> data, std::span<const double> mc, std::span<const double> mc_variance,
                        double& distance, double& p_value) {
  check_sizes(data, mc, mc_variance);
  const double nd = total_of(data), nm = total_of(mc), vm = total_of(mc_variance);
  distance = 0, p_value = 1;
  if (!(nd > 0) || !(nm > 0)) return;
  double cd = 0, cm = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    cd += data[i], cm += mc[i];
    distance = std::max(distance, std::fabs(cd / nd - cm / nm));
  }
  // Effective MC events (sum w)^2 / sum w^2; the two-sample effective count.
  const double n_mc = vm > 0 ? nm * nm / vm : nm;
  const double n = nd * n_mc / (nd + n_mc);
  const double root = std::sqrt(n);
  p_value = kolmogorov_survival((root + 0.12 + 0.11 / root) * distance);  // Stephens (1970)
}

DataMcAgreement compare_data_mc(std::span<const double> data, std::span<const double> mc,
                                std::span<const double> mc_variance, bool shape) {
  check_sizes(data, mc, mc_variance);
  DataMcAgreement a;
  a.data_total = total_of(data), a.mc_total = total_of(mc);
  a.scale = shape && a.mc_total > 0 ? a.data_total / a.mc_total : 1.0;
  int bins = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const double mu = a.scale * mc[i], var_mc = a.scale * a.scale * mc_variance[i];
    const double variance = mu > 0 ? mu + var_mc : data[i] + var_mc;
    if (!(variance > 0)) continue;  // nothing expected, nothing seen
    const double diff = data[i] - mu;
    a.chi2 += diff * diff / variance;
    ++bins;
  }
  a.ndf = std::max(0, bins - (shape ? 1 : 0));
  a.p_value = a.ndf > 0 ? boost::math::cdf(boost::math::complement(boost::math::chi_squared(a.ndf), a.chi2)) : 1.0;
  kolmogorov_smirnov(data, mc, mc_variance, a.ks_distance, a.ks_p_value);
  return a;
}

std::vector<double> equal_content_edges(std::span<const double> fine_edges, std::span<const double> counts,
                                        std::size_t nbins) {
  if (fine_edges.size() != counts.size() + 1 || counts.empty() || nbins == 0)
    throw InternalError("equal_content_edges: fine edges must be one more than the counts, and bins > 0");
  const double total = total_of(counts);
  std::vector<double> edges = {fine_edges.front()};
  if (total > 0) {
    double cumulative = 0;
    std::size_t next = 1;  // the edge we look for: content next/nbins of the total below it
    for (std::size_t i = 0; i + 1 < counts.size() && next < nbins; ++i) {
      cumulative += counts[i];
      if (cumulative >= total * double(next) / double(nbins)) {
        edges.push_back(fine_edges[i + 1]);
        while (next < nbins && cumulative >= total * double(next) / double(nbins)) ++next;
      }
    }
  }
  if (fine_edges.back() > edges.back()) edges.push_back(fine_edges.back());
  if (edges.size() < 2) edges.push_back(fine_edges.back());
  return edges;
}

}  // namespace bsmhunt::stats
