// The spectra bsmhunt fit reads: CSV/text or HDF5 spectrum files (io), or the mass
// column of a feature or score file binned over the ranks with exact sums.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <system_error>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/io/SpectrumFile.hpp"
#include "bsmhunt/physics/features/Selection.hpp"
#include "bsmhunt/pipeline/Fit.hpp"

namespace bsmhunt::pipeline {

using stats::Spectrum;

SpectrumFormat parse_spectrum_format(std::string_view text) {
  const std::string t = trim(text);
  if (t == "auto") return SpectrumFormat::automatic;
  if (t == "csv") return SpectrumFormat::csv;
  if (t == "hdf5") return SpectrumFormat::hdf5;
  throw InputError(
      fmt::format("--format '{}': expected auto, csv or hdf5{}", t, did_you_mean(t, {"auto", "csv", "hdf5"})));
}

Spectrum read_spectrum(const std::filesystem::path& path, SpectrumFormat format) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(fmt::format("{}: no such file", path.string()));
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("{}: is a directory, expected a spectrum file", path.string()));
  if (format == SpectrumFormat::automatic)
    format = io::is_hdf5_file(path) ? SpectrumFormat::hdf5 : SpectrumFormat::csv;
  io::SpectrumArrays a = format == SpectrumFormat::csv ? io::read_spectrum_csv(path) : io::read_spectrum_file(path);
  Spectrum s;
  s.edges = std::move(a.edges);
  s.counts = std::move(a.counts);
  if (s.edges.size() != s.counts.size() + 1)
    throw InputError(fmt::format("{}: 'edges' has {} values for {} 'counts' (expected bins + 1 = {})", path.string(),
                                 s.edges.size(), s.counts.size(), s.counts.size() + 1));
  return s;
}

Spectrum spectrum_from_rows(const dist::Communicator& comm, const std::filesystem::path& path,
                           const RowSpectrumOptions& o, std::string* description) {
  std::string format;
  dist::collectively(comm, [&] { format = io::hdf5_format_attribute(path); });
  const bool scores = format == io::kScoreFormat;
  if (!scores && format != io::kFeatureFormat)
    throw InputError(fmt::format("{}: format '{}' is neither a feature file ({}) nor a score file ({})", path.string(),
                                 format, io::kFeatureFormat, io::kScoreFormat));
  if (trim(o.mass_bins).empty())
    throw InputError(fmt::format("{} is a {} file: give --mass-bins EDGES or [log:]LO:HI:N to bin its mass column",
                                 path.string(), scores ? "score" : "feature"));
  Spectrum s;
  s.edges = parse_bin_edges(o.mass_bins, "--mass-bins");
  io::FeatureFileReader reader(comm, path, scores ? io::RowFileKind::scores : io::RowFileKind::features);
  const auto& header = reader.header();
  const physics::Selection selection = physics::parse_selection(o.select, header.feature_names, "--select");
  int split_index = -1;
  if (o.split == "train") split_index = 0;
  else if (o.split == "validation") split_index = 1;
  else if (o.split == "test") split_index = 2;
  else if (o.split != "all")
    throw InputError(fmt::format("--split '{}': expected all, train, validation or test{}", o.split,
                                 did_you_mean(o.split, {"all", "train", "validation", "test"})));
  // Which samples: by role, or by name patterns.
  std::vector<bool> use(header.samples.size(), false);
  std::vector<std::string> names, used;
  bool any_data = false;
  for (const auto& smp : header.samples) names.push_back(smp.name), any_data |= smp.role == physics::Role::data;
  const std::string which = o.samples == "auto" ? "data" : o.samples;
  if (which == "data" && !any_data)
    throw InputError(fmt::format("{} has no data samples: give --samples background, simulated or name patterns",
                                 path.string()));
  const std::vector<std::string> patterns = split_list(which);
  for (std::size_t i = 0; i < header.samples.size(); ++i) {
    const auto role = header.samples[i].role;
    if (which == "data") use[i] = role == physics::Role::data;
    else if (which == "background") use[i] = role == physics::Role::background;
    else if (which == "simulated") use[i] = role != physics::Role::data;
    else
      for (const auto& p : patterns) use[i] = use[i] || glob_match(p, header.samples[i].name);
    if (use[i]) used.push_back(header.samples[i].name);
  }
  if (used.empty())
    throw InputError(fmt::format("--samples '{}' matches no sample of {}{}", o.samples, path.string(),
                                 did_you_mean(patterns.empty() ? which : patterns.front(), names)));

  std::vector<ExactSum> bins(s.edges.size() - 1);
  ExactSum outside, selected;
  const dist::Range mine = dist::partition(reader.rows(), comm.size(), comm.rank());
  const uint64_t chunk = 1 << 20;
  io::FeatureBlock block;
  for (uint64_t k = 0; k < dist::read_rounds(comm, mine, chunk); ++k) {
    const dist::Range part = dist::read_chunk(mine, k, chunk);
    const uint64_t b = part.begin;
    dist::collectively(comm, [&] {
      reader.read(part.begin, part.end, block);
      const std::size_t F = block.n_features;
      for (std::size_t r = 0; r < block.size(); ++r) {
        if (!use[std::size_t(block.sample_index[r])] || (split_index >= 0 && block.split[r] != split_index)) continue;
        if (!selection.passes(block.features.data() + r * F)) continue;
        const double m = block.mass[r];
        if (!std::isfinite(m))
          throw InputError(fmt::format("{}: /mass row {} is {}: the spectrum needs a finite mass", path.string(),
                                       b + r, m));
        selected.add(ExactSum::from_raw(1));
        const auto it = std::upper_bound(s.edges.begin(), s.edges.end(), m);
        if (it == s.edges.begin() || it == s.edges.end()) {
          outside.add(ExactSum::from_raw(1));
          continue;
        }
        bins[std::size_t(it - s.edges.begin()) - 1].add(block.weight[r]);
      }
    });
  }
  bins.push_back(outside), bins.push_back(selected);
  bins = comm.sum(bins);
  const auto n_selected = uint64_t(bins.back().raw()), n_outside = uint64_t(bins[bins.size() - 2].raw());
  bins.resize(bins.size() - 2);
  for (const auto& v : bins) s.counts.push_back(v.value());
  const std::string text = fmt::format(
      "mass of {} ({} of {} samples{}{}{}): {} events selected, {} outside [{:g}, {:g}) GeV", path.string(),
      used.size(), header.samples.size(), which == "data" || which == "background" || which == "simulated"
                                               ? ": " + which : "",
      o.select.empty() ? "" : ", " + o.select, split_index >= 0 ? ", " + o.split + " split" : "", n_selected, n_outside,
      s.edges.front(), s.edges.back());
  if (description) *description = text;
  if (n_selected == n_outside)
    throw InputError(fmt::format("{}: no selected event falls in the mass bins", text));
  return s;
}

stats::SignalRegion parse_signal_region(std::string_view text) {
  std::string t = trim(text);
  const auto sep = t.find_first_of(",:");
  stats::SignalRegion r;
  std::vector<double> v;
  try {
    if (sep != std::string::npos) v = parse_numbers(t.substr(0, sep) + "," + t.substr(sep + 1), "--signal-region");
  } catch (const InputError&) {
    v.clear();
  }
  if (v.size() != 2) throw InputError(fmt::format("--signal-region '{}': expected LO,HI in GeV, e.g. 1900,2300", t));
  r.lo_GeV = v[0], r.hi_GeV = v[1];
  if (!(r.lo_GeV < r.hi_GeV))
    throw InputError(fmt::format("--signal-region '{}': LO must be below HI", t));
  return r;
}
}  // namespace bsmhunt::pipeline
