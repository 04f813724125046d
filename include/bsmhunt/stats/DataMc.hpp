#pragma once
// Agreement of (pseudo-)data with the weighted Monte Carlo prediction of one
// distribution: a chi2 with the MC statistical uncertainty, its p-value, and a
// Kolmogorov-Smirnov distance of the cumulative distributions (docs/datamc.md).
#include <cstddef>
#include <span>
#include <vector>

namespace bsmhunt::stats {

struct DataMcAgreement {
  double data_total = 0, mc_total = 0;
  double scale = 1;          // factor applied to the MC (data/MC total for shape comparisons, else 1)
  double chi2 = 0;
  int ndf = 0;               // bins that count, less one for a shape comparison
  double p_value = 1;        // P(chi2_ndf >= chi2); 1 when ndf = 0
  double ks_distance = 0;    // max |F_data - F_MC| over the bin edges
  double ks_p_value = 1;     // asymptotic Kolmogorov p-value with the effective event counts
};

// data[i]: events in bin i; mc[i], mc_variance[i]: sum of w and of w^2. For shape
// comparisons the MC is scaled to the data total first. chi2 = sum over bins of
// (d - mu)^2 / (mu + s^2 sigma^2) with mu = s m (Pearson, expectation under the MC);
// a bin whose expectation is not positive uses d as its variance, a bin with nothing
// in either is skipped. ks_* come from the same bins (pass fine bins for a finer KS).
DataMcAgreement compare_data_mc(std::span<const double> data, std::span<const double> mc,
                                std::span<const double> mc_variance, bool shape);

// KS distance and p-value alone, from (fine) binned counts; `mc_variance` gives the
// effective MC event count (sum w)^2 / sum w^2.
void kolmogorov_smirnov(std::span<const double> data, std::span<const double> mc, std::span<const double> mc_variance,
                        double& distance, double& p_value);

// Survival function of the Kolmogorov distribution, Q(lambda) = 2 sum (-1)^(k-1) exp(-2 k^2 lambda^2).
double kolmogorov_survival(double lambda);

// Edges of at most `nbins` bins of about equal content from a fine histogram
// (fine_edges.size() = counts.size() + 1): each edge is a fine edge, so bins are
// unions of fine bins; duplicates (a discrete feature) merge. First and last edges
// are the fine histogram's.
std::vector<double> equal_content_edges(std::span<const double> fine_edges, std::span<const double> counts,
                                        std::size_t nbins);

}  // namespace bsmhunt::stats
