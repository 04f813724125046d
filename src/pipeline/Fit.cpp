#include "bsmhunt/pipeline/Fit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <system_error>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "Json.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/io/SpectrumFile.hpp"
#include "bsmhunt/pipeline/Bumphunt.hpp"
#include "bsmhunt/pipeline/Selection.hpp"

namespace bsmhunt::pipeline {

namespace {

using stats::FunctionFit;
using stats::SidebandFit;
using stats::SignalRegionResult;
using stats::Spectrum;

template <typename T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

bool parse_number(std::string_view text, double& out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  const char* begin = t.data();
  if (*begin == '+') ++begin;  // from_chars refuses a leading '+'
  const auto [end, ec] = std::from_chars(begin, t.data() + t.size(), out);
  return ec == std::errc() && end == t.data() + t.size();
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Cells of a CSV line (commas) or of a text line (whitespace).
std::vector<std::string> cells_of(const std::string& line, bool commas) {
  std::vector<std::string> cells;
  if (commas) {
    for (auto& c : split(line, ',')) cells.push_back(trim(c));
    return cells;
  }
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
    const std::size_t start = pos;
    while (pos < line.size() && !std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
    if (pos > start) cells.push_back(line.substr(start, pos - start));
  }
  return cells;
}

Spectrum read_csv_spectrum(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open the spectrum file", path.string()));
  const std::string file = path.string();
  Spectrum s;
  std::string line;
  std::size_t line_number = 0, lo_col = 0, hi_col = 0, count_col = 0, columns = 0;
  bool have_header = false, commas = true;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string content = trim(line);
    if (content.empty() || content[0] == '#') continue;
    if (!have_header) {
      commas = content.find(',') != std::string::npos;
      const auto names = cells_of(content, commas);
      double ignored;
      if (!names.empty() && parse_number(names[0], ignored))
        throw InputError(fmt::format("{}:{}: expected a header line naming the columns lo,hi,count, found numbers",
                                     file, line_number));
      std::vector<std::string> lowered;
      for (const auto& n : names) lowered.push_back(lower(n));
      const auto find = [&](std::initializer_list<const char*> accepted, const char* what) {
        for (const char* a : accepted) {
          const auto it = std::find(lowered.begin(), lowered.end(), a);
          if (it != lowered.end()) return std::size_t(it - lowered.begin());
        }
        throw InputError(fmt::format("{}:{}: the header has no column '{}' (columns: {}); expected lo,hi,count{}", file,
                                     line_number, what, join(names, ", "),
                                     did_you_mean(lowered.empty() ? "" : lowered.back(), {"lo", "hi", "count"})));
      };
      lo_col = find({"lo"}, "lo");
      hi_col = find({"hi"}, "hi");
      count_col = find({"count", "counts"}, "count");
      columns = names.size();
      have_header = true;
      continue;
    }
    const auto cells = cells_of(content, commas);
    if (cells.size() != columns)
      throw InputError(fmt::format("{}:{}: expected {} {} values like the header, found {}", file, line_number, columns,
                                   commas ? "comma-separated" : "whitespace-separated", cells.size()));
    double lo, hi, count;
    const auto number = [&](std::size_t col, const char* name, double& out) {
      if (!parse_number(cells[col], out) || !std::isfinite(out))
        throw InputError(fmt::format("{}:{}: column '{}': '{}' is not a finite number", file, line_number, name,
                                     cells[col]));
    };
    number(lo_col, "lo", lo);
    number(hi_col, "hi", hi);
    number(count_col, "count", count);
    if (!(lo < hi))
      throw InputError(fmt::format("{}:{}: bin {}-{} GeV: lo must be below hi", file, line_number, lo, hi));
    if (count < 0)
      throw InputError(fmt::format("{}:{}: count {} is negative: a spectrum holds event counts", file, line_number,
                                   count));
    if (s.edges.empty()) {
      s.edges.push_back(lo);
    } else if (lo != s.edges.back()) {
      throw InputError(fmt::format("{}:{}: the bin starting at {} GeV {} the previous bin, which ends at {} GeV (bins "
                                   "must be contiguous and in increasing order)",
                                   file, line_number, lo, lo < s.edges.back() ? "overlaps" : "leaves a gap after",
                                   s.edges.back()));
    }
    s.edges.push_back(hi);
    s.counts.push_back(count);
  }
  if (!have_header) throw InputError(fmt::format("{}: empty spectrum file (expected a header lo,hi,count)", file));
  if (s.counts.empty()) throw InputError(fmt::format("{}: the header is not followed by any bin", file));
  return s;
}

// ---- JSON ----------------------------------------------------------------
std::string number(double v) { return json::number(v, "fit output"); }
std::string numbers(const std::vector<double>& v) { return json::numbers(v, "fit output"); }
std::string matrix(const std::vector<double>& m, std::size_t k) {
  std::string out = "[";
  for (std::size_t r = 0; r < k; ++r) {
    out += r ? ", [" : "[";
    for (std::size_t c = 0; c < k; ++c) out += (c ? ", " : "") + number(m[r * k + c]);
    out += "]";
  }
  return out + "]";
}
const char* boolean(bool b) { return b ? "true" : "false"; }

std::vector<double> pulls_of(const Spectrum& s, const FunctionFit& f) {
  std::vector<double> p(s.bins());
  for (std::size_t b = 0; b < s.bins(); ++b) p[b] = (s.counts[b] - f.expected[b]) / std::sqrt(f.expected[b]);
  return p;
}

std::string range_GeV(const Spectrum& s, std::size_t first, std::size_t end) {
  return fmt::format("[{}, {}]", number(s.edges[first]), number(s.edges[end]));
}

std::string attempt_json(const Spectrum& s, const FunctionFit& a) {
  std::string out = fmt::format("{{\"function\": {}, \"fit_range_GeV\": {}, \"fit_bins\": {}, \"converged\": {}",
                                json::quote(stats::to_string(a.function)), range_GeV(s, a.first_bin, a.end_bin),
                                a.fit_bins, boolean(a.converged));
  if (a.converged)
    out += fmt::format(", \"chi2\": {}, \"ndf\": {}, \"pvalue\": {}", number(a.chi2), a.ndf, number(a.pvalue));
  return out + fmt::format(", \"message\": {}}}", json::quote(a.message));
}

std::string sideband_json(const Spectrum& s, const SidebandFit& fit, std::size_t signal_first,
                          std::size_t signal_end, const std::string& pad) {
  const FunctionFit& f = fit.result();
  const std::size_t k = f.parameters.size();
  std::vector<double> in_fit(s.bins(), 0.0);
  for (std::size_t b = f.first_bin; b < f.end_bin; ++b) in_fit[b] = (b < signal_first || b >= signal_end) ? 1 : 0;
  std::string out = "{\n";
  out += fmt::format("{}  \"accepted\": {},\n", pad, boolean(fit.accepted));
  out += fmt::format("{}  \"function\": {},\n", pad, json::quote(stats::to_string(f.function)));
  out += fmt::format("{}  \"fit_range_GeV\": {},\n", pad, range_GeV(s, f.first_bin, f.end_bin));
  out += fmt::format("{}  \"fit_bins\": {},\n", pad, f.fit_bins);
  out += fmt::format("{}  \"parameters\": {},\n", pad, numbers(f.parameters));
  out += fmt::format("{}  \"errors\": {},\n", pad, numbers(f.errors));
  out += fmt::format("{}  \"covariance\": {},\n", pad, matrix(f.covariance, k));
  out += fmt::format("{}  \"log_p1\": {},\n", pad, number(f.log_p1));
  out += fmt::format("{}  \"chi2\": {},\n{}  \"ndf\": {},\n{}  \"pvalue\": {},\n", pad, number(f.chi2), pad, f.ndf,
                     pad, number(f.pvalue));
  out += fmt::format("{}  \"deviance\": {},\n{}  \"edm\": {},\n", pad, number(f.deviance), pad, number(f.edm));
  out += fmt::format("{}  \"expected\": {},\n", pad, numbers(f.expected));
  out += fmt::format("{}  \"expected_error\": {},\n", pad, numbers(f.expected_error));
  out += fmt::format("{}  \"pulls\": {},\n", pad, numbers(pulls_of(s, f)));
  out += fmt::format("{}  \"in_fit\": {},\n", pad, numbers(in_fit));
  out += fmt::format("{}  \"attempts\": [\n", pad);
  for (std::size_t i = 0; i < fit.attempts.size(); ++i)
    out += fmt::format("{}    {}{}\n", pad, attempt_json(s, fit.attempts[i]), i + 1 < fit.attempts.size() ? "," : "");
  return out + pad + "  ]\n" + pad + "}";
}

using json::write_text_atomically;

void write_h5(const std::filesystem::path& path, const FitRun& run, const FitConfig& config) {
  const Spectrum& s = run.spectrum;
  std::vector<io::NamedArray> arrays{{"edges", s.edges}, {"observed", s.counts}};
  const auto add_fit = [&](const std::string& group, const FunctionFit& f) {
    arrays.push_back({group + "/expected", f.expected});
    arrays.push_back({group + "/expected_error", f.expected_error});
    arrays.push_back({group + "/pull", pulls_of(s, f)});
  };
  add_fit("background_only", run.background_only.result());
  for (std::size_t r = 0; r < run.regions.size(); ++r)
    add_fit(fmt::format("region_{}", r), run.regions[r].fit.result());
  io::write_array_file(path, arrays,
                       {{"format", "bsmhunt-fit-bins"}, {"input", config.input.string()},
                        {"description", "per-bin arrays of bsmhunt fit; region_<i> follows signal_regions[i] of the "
                                        "JSON result"}});
}

}  // namespace

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
  if (format == SpectrumFormat::csv) return read_csv_spectrum(path);
  io::SpectrumArrays a = io::read_spectrum_file(path);
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
  s.edges = parse_mass_bins(o.mass_bins);
  io::FeatureFileReader reader(comm, path, scores ? io::RowFileKind::scores : io::RowFileKind::features);
  const auto& header = reader.header();
  const Selection selection = parse_selection(o.select, header.feature_names, "--select");
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
  const uint64_t rounds = (reader.rows() / uint64_t(comm.size()) + 1 + chunk - 1) / chunk;
  io::FeatureBlock block;
  for (uint64_t k = 0; k < rounds; ++k) {
    const uint64_t b = std::min(mine.end, mine.begin + k * chunk), e = std::min(mine.end, b + chunk);
    dist::collectively(comm, [&] {
      reader.read(b, e, block);
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
  const std::string t = trim(text);
  const auto sep = t.find_first_of(",:");
  stats::SignalRegion r;
  if (sep == std::string::npos || !parse_number(t.substr(0, sep), r.lo_GeV) ||
      !parse_number(t.substr(sep + 1), r.hi_GeV))
    throw InputError(fmt::format("--signal-region '{}': expected LO,HI in GeV, e.g. 1900,2300", t));
  if (!(r.lo_GeV < r.hi_GeV))
    throw InputError(fmt::format("--signal-region '{}': LO must be below HI", t));
  return r;
}

FitRun run_fit(const dist::Communicator& comm, const FitConfig& config) {
  if (config.output.empty()) throw InputError("bsmhunt fit: --output RESULT.json is required");
  io::check_output_path(comm, config.output, config.overwrite, "--output");
  if (!config.output_h5.empty()) io::check_output_path(comm, config.output_h5, config.overwrite, "--output-h5");
  if (config.toys.toys > 0 && config.signal_regions.empty() && config.scan_bins == 0)
    throw InputError("--toys needs signal regions: give --signal-region LO,HI or --scan-bins K");
  if (!(config.options.pvalue_threshold >= 0 && config.options.pvalue_threshold < 1))
    throw InputError(fmt::format("--pvalue-threshold {} must be in [0, 1)", config.options.pvalue_threshold));

  FitRun run;
  std::vector<stats::SignalRegion> regions = config.signal_regions;
  // A feature or score file is binned collectively; a spectrum file is read by every rank.
  bool row_file = false;
  dist::collectively(comm, [&] {
    const std::string format = config.format == SpectrumFormat::csv ? "" : io::hdf5_format_attribute(config.input);
    row_file = format == io::kFeatureFormat || format == io::kScoreFormat;
  });
  if (row_file) {
    run.spectrum = spectrum_from_rows(comm, config.input, config.rows, &run.source);
    log::info("{}", run.source);
  } else if (!config.rows.mass_bins.empty() || !config.rows.select.empty()) {
    throw InputError(fmt::format("--mass-bins and --select apply to a feature or score file; {} is a spectrum file",
                                 config.input.string()));
  }
  // Every rank fits the same small spectrum: identical results, no messages.
  dist::collectively(comm, [&] {
    if (!row_file) run.spectrum = read_spectrum(config.input, config.format);
    try {
      stats::validate_spectrum(run.spectrum, config.options.sqrt_s_GeV);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", config.input.string(), e.what()));
    }
    if (config.scan_bins > 0) {
      const auto scan = stats::sliding_signal_regions(run.spectrum, config.scan_bins,
                                                      std::max<std::size_t>(config.options.min_sideband_bins, 1));
      regions.insert(regions.end(), scan.begin(), scan.end());
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& region : regions)
      run.regions.push_back(stats::fit_signal_region(run.spectrum, region, config.options));
    run.background_only = stats::fit_sidebands(run.spectrum, 0, 0, config.options);
    run.fit_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  for (const auto& r : run.regions) run.max_z = std::max(run.max_z, r.z);

  if (config.toys.toys > 0) {
    run.global = stats::global_significance(comm, run.background_only.result().expected, run.spectrum.edges, regions,
                                            run.max_z, config.options, config.toys);
    const double mine = double(dist::partition(config.toys.toys, comm.size(), comm.rank()).size());
    run.toys_per_second = run.global->seconds > 0 ? mine / run.global->seconds : 0.0;
  }

  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    write_text_atomically(config.output, fit_json(run, config));
    if (!config.output_h5.empty()) write_h5(config.output_h5, run, config);
  });
  return run;
}

std::string fit_json(const FitRun& run, const FitConfig& config) {
  const Spectrum& s = run.spectrum;
  const auto& o = config.options;
  std::vector<std::string> functions;
  for (auto f : o.functions) functions.push_back(json::quote(stats::to_string(f)));
  double events = 0;
  for (double n : s.counts) events += n;
  std::string out = "{\n";
  out += "  \"format\": \"bsmhunt-fit\",\n  \"version\": 1,\n";
  out += fmt::format("  \"input\": {},\n", json::quote(config.input.string()));
  if (!run.source.empty()) out += fmt::format("  \"spectrum_source\": {},\n", json::quote(run.source));
  out += fmt::format("  \"sqrt_s_GeV\": {},\n", number(o.sqrt_s_GeV));
  out += fmt::format("  \"options\": {{\"functions\": [{}], \"pvalue_threshold\": {}, \"reduce_range\": {}, "
                     "\"min_sideband_bins\": {}, \"max_reductions\": {}, \"starts\": {}, \"toys\": {}, "
                     "\"seed\": {}}},\n",
                     join(functions, ", "), number(o.pvalue_threshold), boolean(o.reduce_range), o.min_sideband_bins,
                     o.max_reductions, o.starts, config.toys.toys, config.toys.seed);
  out += "  \"conventions\": {\"likelihood\": \"binned Poisson, deviance minimised\", \"chi2\": \"pearson\", "
         "\"pull\": \"(n - mu) / sqrt(mu)\", \"local_pvalue\": \"P(n >= observed), Poisson convolved with a Gaussian "
         "fit uncertainty truncated at 0\", \"z\": \"one-sided, Phi^-1(1 - p), 0 for p >= 0.5\"},\n";
  out += fmt::format("  \"spectrum\": {{\"bins\": {}, \"events\": {}, \"edges\": {}, \"counts\": {}}},\n", s.bins(),
                     number(events), numbers(s.edges), numbers(s.counts));
  out += "  \"background_only\": " + sideband_json(s, run.background_only, 0, 0, "  ") + ",\n";
  out += "  \"signal_regions\": [";
  for (std::size_t i = 0; i < run.regions.size(); ++i) {
    const SignalRegionResult& r = run.regions[i];
    out += i ? ",\n    {\n" : "\n    {\n";
    out += fmt::format("      \"lo_GeV\": {}, \"hi_GeV\": {}, \"first_bin\": {}, \"end_bin\": {},\n",
                       number(r.region.lo_GeV), number(r.region.hi_GeV), r.first_bin, r.end_bin);
    out += fmt::format("      \"observed\": {}, \"expected\": {}, \"expected_error\": {},\n", number(r.observed),
                       number(r.expected), number(r.expected_error));
    out += fmt::format("      \"pvalue_local\": {}, \"z_local\": {}, \"pvalue_local_stat\": {}, "
                       "\"z_local_stat\": {},\n",
                       number(r.pvalue), number(r.z), number(r.pvalue_stat), number(r.z_stat));
    out += "      \"fit\": " + sideband_json(s, r.fit, r.first_bin, r.end_bin, "      ") + "\n    }";
  }
  out += run.regions.empty() ? "],\n" : "\n  ],\n";
  out += fmt::format("  \"max_local_z\": {},\n", number(run.max_z));
  if (run.global) {
    const auto& g = *run.global;
    out += fmt::format("  \"global\": {{\"toys\": {}, \"failed\": {}, \"at_or_above\": {}, \"observed_max_z\": {}, "
                       "\"pvalue\": {}, \"pvalue_error\": {}, \"z\": {}, \"z_is_lower_bound\": {}}}\n",
                       g.toys, g.failed, g.at_or_above, number(g.observed_max_z), number(g.pvalue),
                       number(g.pvalue_error), number(g.z), boolean(g.z_is_lower_bound));
  } else {
    out += "  \"global\": null\n";
  }
  return out + "}\n";
}

std::string format_fit_summary(const FitRun& run, const FitConfig& config) {
  const Spectrum& s = run.spectrum;
  double events = 0;
  for (double n : s.counts) events += n;
  const auto fit_text = [&](const SidebandFit& fit) {
    const FunctionFit& f = fit.result();
    return fmt::format("{:<5} {:>15} {:>12} {:>8.3g}",
                       fmt::format("{}{}", stats::to_string(f.function), fit.accepted ? "" : "*"),
                       fmt::format("{:g}-{:g}", s.edges[f.first_bin], s.edges[f.end_bin]),
                       fmt::format("{:.1f}/{}", f.chi2, f.ndf), f.pvalue);
  };
  std::string t = fmt::format("bsmhunt fit: {}: {} bins, {:g}-{:g} GeV, {:.6g} events; sqrt(s) = {:g} GeV\n",
                              config.input.string(), s.bins(), s.edges.front(), s.edges.back(), events,
                              config.options.sqrt_s_GeV);
  t += fmt::format("{:<19} {:<5} {:>15} {:>12} {:>8} {:>10} {:>22} {:>8} {:>8}\n", "signal region [GeV]", "func",
                   "fit range [GeV]", "chi2/ndf", "p(chi2)", "observed", "expected", "Z local", "Z stat");
  t += fmt::format("{:<19} {}\n", "(background only)", fit_text(run.background_only));
  for (const auto& r : run.regions) {
    t += fmt::format("{:<19} {} {:>10.6g} {:>22} {:>8.2f} {:>8.2f}\n",
                     fmt::format("{:g}-{:g}", r.region.lo_GeV, r.region.hi_GeV), fit_text(r.fit), r.observed,
                     fmt::format("{:.6g} +- {:.3g}", r.expected, r.expected_error), r.z, r.z_stat);
  }
  bool any_rejected = !run.background_only.accepted;
  for (const auto& r : run.regions) any_rejected |= !r.fit.accepted;
  if (any_rejected)
    t += fmt::format("* no function reached p(chi2) > {:g}: the fit with the best p-value is shown\n",
                     config.options.pvalue_threshold);
  t += fmt::format("fits of the observed spectrum: {:.3f} s for {} signal region(s) and the background-only fit\n",
                   run.fit_seconds, run.regions.size());
  if (!run.regions.empty()) t += fmt::format("max local Z = {:.3f}\n", run.max_z);
  if (run.global) {
    const auto& g = *run.global;
    t += fmt::format("global p-value = {:.4g} +- {:.2g} ({} of {} toys at or above, {} failed), Z global {} {:.3f}; "
                     "{:.1f} toys/s on rank 0\n",
                     g.pvalue, g.pvalue_error, g.at_or_above, g.toys - g.failed, g.failed,
                     g.z_is_lower_bound ? ">" : "=", g.z, run.toys_per_second);
  }
  return t;
}

void add_fit_options(po::options_description& d) {
  const stats::FitOptions o;
  const stats::ToyOptions toys;
  std::vector<std::string> functions;
  for (auto f : o.functions) functions.emplace_back(stats::to_string(f));
  d.add_options()
      ("input", po::value<std::string>()->default_value(""),
       "binned spectrum (positional): CSV/text with a header lo,hi,count (GeV, one bin per line), HDF5 with "
       "datasets 'edges' (bins + 1) and 'counts', or a feature/score file whose mass column is binned (--mass-bins)")
      ("format", po::value<std::string>()->default_value("auto"), "auto (HDF5 by its signature, else CSV), csv, hdf5")
      ("mass-bins", po::value<std::string>()->default_value(""),
       "input a feature or score file: bin its mass column in these edges (e.g. 'log:2750:5500:11' or '1000,1100,...')")
      ("select", po::value<std::string>()->default_value(""),
       "input a feature or score file: cuts on its features or scores, e.g. 'score > 0.9' or 'mj1 > 100'")
      ("samples", po::value<std::string>()->default_value("auto"),
       "input a feature or score file: auto (= data) | data | background | simulated | name patterns; counts are "
       "sums of the analysis weights")
      ("split", po::value<std::string>()->default_value("all"),
       "input a feature or score file: all | train | validation | test")
      ("output,o", po::value<std::string>()->default_value(""), "result (JSON)")
      ("output-h5", po::value<std::string>()->default_value(""), "optional per-bin arrays (HDF5)")
      ("signal-region", po::value<std::vector<std::string>>()->composing(),
       "LO,HI (or LO:HI) in GeV on bin edges; repeatable. The other bins are fitted and the region predicted")
      ("scan-bins", po::value<int64_t>()->default_value(0),
       "also scan every window of this many adjacent bins as a signal region (0: none)")
      ("functions", po::value<std::string>()->default_value(join(functions, ",")),
       fmt::format("dijet functions to try in this order ({})", join(stats::dijet_function_names(), ", ")).c_str())
      ("pvalue-threshold",
       double_value(o.pvalue_threshold),
       "a fit is accepted when its sideband chi2 p-value exceeds this")
      ("reduce-range", po::value<bool>()->default_value(o.reduce_range),
       "when no function passes, drop the outermost bin on each side and try again")
      ("min-sideband-bins", po::value<int64_t>()->default_value(int64_t(o.min_sideband_bins)),
       "bins kept on each side of a signal region when the range is reduced (and left by --scan-bins)")
      ("max-reductions", po::value<int64_t>()->default_value(o.max_reductions),
       "range reductions at most (-1: until no function can be fitted)")
      ("starts", po::value<int64_t>()->default_value(o.starts), "starting points per fit, 1-5 (the best is kept)")
      ("toys", po::value<int64_t>()->default_value(int64_t(toys.toys)),
       "pseudo-experiments for the global p-value, spread over the ranks (0: none)")
      ("seed", po::value<uint64_t>()->default_value(toys.seed), "seed of the pseudo-experiments")
      ("sqrt-s-GeV", double_value(o.sqrt_s_GeV),
       "centre-of-mass energy: x = m / sqrt(s)")
      ("overwrite", po::value<bool>()->default_value(false)->implicit_value(true), "replace existing output files");
}

int run_fit_command(const po::variables_map& vm, const dist::Communicator& comm) {
  FitConfig c;
  c.input = get<std::string>(vm, "input");
  if (c.input.empty())
    throw InputError("bsmhunt fit: give the spectrum, e.g. 'bsmhunt fit --input spectrum.csv --signal-region "
                     "1900,2300 --output fit.json'");
  c.output = get<std::string>(vm, "output");
  if (c.output.empty()) throw InputError("bsmhunt fit: --output RESULT.json is required");
  c.output_h5 = get<std::string>(vm, "output-h5");
  c.format = parse_spectrum_format(get<std::string>(vm, "format"));
  c.rows.mass_bins = get<std::string>(vm, "mass-bins");
  c.rows.select = get<std::string>(vm, "select");
  c.rows.samples = get<std::string>(vm, "samples");
  c.rows.split = get<std::string>(vm, "split");
  if (vm.count("signal-region"))
    for (const auto& text : get<std::vector<std::string>>(vm, "signal-region"))
      c.signal_regions.push_back(parse_signal_region(text));
  const auto non_negative = [&](const char* name) {
    const int64_t v = get<int64_t>(vm, name);
    if (v < 0) throw InputError(fmt::format("--{} {} must not be negative", name, v));
    return v;
  };
  c.scan_bins = std::size_t(non_negative("scan-bins"));
  c.options.functions = stats::parse_dijet_functions(get<std::string>(vm, "functions"));
  c.options.pvalue_threshold = get<double>(vm, "pvalue-threshold");
  c.options.reduce_range = get<bool>(vm, "reduce-range");
  c.options.min_sideband_bins = std::size_t(non_negative("min-sideband-bins"));
  const int64_t reductions = get<int64_t>(vm, "max-reductions");
  if (reductions < -1) throw InputError(fmt::format("--max-reductions {}: expected -1 or more", reductions));
  c.options.max_reductions = int(reductions);
  const int64_t starts = get<int64_t>(vm, "starts");
  if (starts < 1 || starts > 5) throw InputError(fmt::format("--starts {}: expected 1 to 5", starts));
  c.options.starts = int(starts);
  c.toys.toys = uint64_t(non_negative("toys"));
  c.toys.seed = get<uint64_t>(vm, "seed");
  c.options.sqrt_s_GeV = get<double>(vm, "sqrt-s-GeV");
  if (!(c.options.sqrt_s_GeV > 0) || !std::isfinite(c.options.sqrt_s_GeV))
    throw InputError(fmt::format("--sqrt-s-GeV {} must be positive", c.options.sqrt_s_GeV));
  c.overwrite = get<bool>(vm, "overwrite");
  const FitRun run = run_fit(comm, c);
  if (comm.is_root()) std::cout << format_fit_summary(run, c) << std::flush;
  return 0;
}

}  // namespace bsmhunt::pipeline
