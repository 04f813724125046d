// The signal models of bsmhunt limits built from the score histograms of bsmhunt
// significance: per channel, the fine score bins merged from the top into at most
// --bins bins of equal signal content that also keep enough background (and MC
// events); per sample a HistFactory sample with lumi, normalisation and MC-stat
// modifiers; the data samples (or the background-only expectation) observed.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/pipeline/Limits.hpp"
#include "bsmhunt/pipeline/Significance.hpp"

namespace bsmhunt::pipeline {

namespace {

// One sample's histogram in one channel, flows folded into the end bins (a score
// of exactly 1 is an overflow and belongs to the most signal-like bin).
struct SampleHistogram {
  std::vector<double> w, w2;
};

SampleHistogram read_histogram(const Archive& a, const std::string& base, const std::string& where) {
  SampleHistogram h;
  h.w = a.number_list(base + "sum_w", where);
  h.w2 = a.number_list(base + "sum_w2", where);
  const auto& flow = a.number_list(base + "flow_w", where);
  const auto& flow2 = a.number_list(base + "flow_w2", where);
  if (h.w.empty() || h.w.size() != h.w2.size() || flow.size() != 2 || flow2.size() != 2)
    throw InputError(fmt::format("{}: {}: inconsistent histogram arrays", where, base));
  h.w.front() += flow[0], h.w.back() += flow[1];
  h.w2.front() += flow2[0], h.w2.back() += flow2[1];
  return h;
}

// Groups of fine bins [first, end), in increasing score, for one signal: from the
// top down a group closes once it holds 1/max_bins of the signal and its background
// satisfies the rules; what is left at the bottom joins the lowest group.
std::vector<std::pair<std::size_t, std::size_t>> merge_bins(const std::vector<double>& signal,
                                                            const std::vector<double>& background,
                                                            const std::vector<double>& background_w2,
                                                            const ModelOptions& o) {
  double total = 0;
  for (const double s : signal) total += std::max(0.0, s);
  std::vector<std::pair<std::size_t, std::size_t>> groups;  // built top-down
  std::size_t end = signal.size();
  double s = 0, b = 0, w2 = 0;
  for (std::size_t i = signal.size(); i-- > 0;) {
    s += std::max(0.0, signal[i]), b += background[i], w2 += background_w2[i];
    const bool enough_signal = total > 0 && s >= total / double(o.max_bins) * (1 - 1e-12);
    const bool enough_background = b >= o.min_background && b > 0 && b * b >= o.min_mc_events * w2;
    if (enough_signal && enough_background && groups.size() + 1 < o.max_bins) {
      groups.push_back({i, end});
      end = i, s = b = w2 = 0;
    }
  }
  // The rest is the lowest bin when its background passes the rules, else it joins
  // the lowest group.
  if (end > 0) {
    const bool enough_background = b >= o.min_background && b > 0 && b * b >= o.min_mc_events * w2;
    if (groups.empty() || enough_background) groups.push_back({0, end});
    else groups.back().first = 0;
  }
  std::reverse(groups.begin(), groups.end());
  return groups;
}

std::vector<double> merged(const std::vector<double>& fine, const std::vector<std::pair<std::size_t, std::size_t>>& g) {
  std::vector<double> out;
  for (const auto& [first, end] : g) {
    double sum = 0;
    for (std::size_t i = first; i < end; ++i) sum += fine[i];
    out.push_back(sum);
  }
  return out;
}

// The fine histograms of every (channel, sample) of a significance file; `prefix`
// "points/COLUMN/" reads the backgrounds and data at one point of a parametrised
// model's scores, where signals have none. `may_lack[i]`: sample i may have no
// histogram (a signal of own-point scores scored at no point of its own): it gets an
// empty one; any other missing histogram is an error naming it.
using FineHistograms = std::vector<std::vector<SampleHistogram>>;

// MC histograms scaled to the data's luminosity: w x s, w2 x s^2; data untouched.
void scale_mc(FineHistograms& f, const std::vector<std::string>& roles, double s) {
  if (s == 1) return;
  for (auto& channel : f)
    for (std::size_t i = 0; i < channel.size(); ++i) {
      if (roles[i] == "data") continue;
      for (double& x : channel[i].w) x *= s;
      for (double& x : channel[i].w2) x *= s * s;
    }
}
FineHistograms read_fine(const Archive& a, const std::vector<std::string>& channels,
                         const std::vector<std::string>& names, const std::string& where,
                         const std::vector<bool>& may_lack, const std::string& prefix = "") {
  FineHistograms fine(channels.size());
  for (std::size_t c = 0; c < channels.size(); ++c)
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string base = "channels/" + channels[c] + "/" + prefix + "histograms/" + names[i] + "/";
      fine[c].push_back(may_lack[i] && !a.doubles.count(base + "sum_w") ? SampleHistogram{}
                                                                       : read_histogram(a, base, where));
    }
  return fine;
}

}  // namespace

ShapeSystematic parse_shape_systematic(const std::string& text) {
  const auto eq = text.find('=');
  const auto parts = eq == std::string::npos ? std::vector<std::string>{} : split_list(text.substr(eq + 1));
  if (eq == std::string::npos || trim(text.substr(0, eq)).empty() || parts.size() != 2)
    throw InputError(fmt::format("--shape-systematic '{}': expected NAME=UP.h5,DOWN.h5", text));
  return {trim(text.substr(0, eq)), parts[0], parts[1]};
}

std::vector<std::pair<std::string, double>> parse_norm_list(const std::string& text, const std::string& option) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& item : split(text, ',')) {
    const std::string t = trim(item);
    if (t.empty()) continue;
    const auto eq = t.find('=');
    if (eq == std::string::npos)
      throw InputError(fmt::format("--{} '{}': expected PATTERN=RELATIVE (e.g. 'ttbar=0.06, *=0.1')", option, t));
    const std::vector<double> v = parse_numbers(t.substr(eq + 1), ("--" + option).c_str());
    const double rel = v.size() == 1 ? v[0] : -1;
    if (!(rel >= 0))
      throw InputError(fmt::format("--{} '{}': expected PATTERN=RELATIVE >= 0 (e.g. 'ttbar=0.06, *=0.1')", option, t));
    out.emplace_back(trim(t.substr(0, eq)), rel);
  }
  return out;
}

HistogramModels models_from_histograms(const std::filesystem::path& path, const ModelOptions& o) {
  const std::string where = path.string();
  const Archive a = io::read_archive(path, kSignificanceFormat);
  // Sample metadata (format version 2 of the significance file).
  std::vector<std::string> names, roles;
  for (const auto& [key, value] : a.strings) {
    if (!key.starts_with("samples/") || !key.ends_with("/role")) continue;
    names.push_back(key.substr(8, key.size() - 8 - 5));
    roles.push_back(value);
  }
  if (names.empty())
    throw InputError(fmt::format("{}: no samples/<name>/role entries: made by a bsmhunt before significance format "
                                 "version 2; run bsmhunt significance again",
                                 where));
  std::vector<std::string> all_channels;
  for (const auto& [key, value] : a.strings)
    if (key.starts_with("channels/") && key.ends_with("/selection"))
      all_channels.push_back(key.substr(9, key.size() - 9 - 10));
  HistogramModels out;
  if (o.channels.empty()) out.channels = all_channels;
  for (const auto& c : o.channels) {
    if (std::find(all_channels.begin(), all_channels.end(), c) == all_channels.end())
      throw InputError(fmt::format("--channels: no channel '{}' in {} (channels: {}){}", c, where,
                                   join(all_channels, ", "), did_you_mean(c, all_channels)));
    out.channels.push_back(c);
  }
  if (const auto it = a.doubles.find("lumi_ifb"); it != a.doubles.end() && !it->second.empty())
    out.lumi_ifb = out.mc_lumi_ifb = it->second[0];

  std::vector<std::size_t> signals, backgrounds, data;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (roles[i] == "background") backgrounds.push_back(i);
    else if (roles[i] == "data") data.push_back(i);
    else if (roles[i] == "signal") {
      bool wanted = o.signals.empty();
      for (const auto& p : o.signals) wanted = wanted || p == "all" || glob_match(p, names[i]);
      if (wanted) signals.push_back(i);
    }
  }
  for (const auto& p : o.signals) {
    bool any = p == "all";
    for (const auto s : signals) any = any || glob_match(p, names[s]);
    if (!any) throw InputError(fmt::format("--signal '{}' matches no signal sample of {}", p, where));
  }
  if (backgrounds.empty()) throw InputError(fmt::format("{}: no background sample", where));
  const bool observed = o.data == "auto" && !data.empty();
  // The generator's pseudo-data say so in their process ("pseudo-data (background only)").
  const auto process = a.strings.find(observed ? "samples/" + names[data[0]] + "/process" : std::string());
  out.data = !observed ? "asimov (background only)"
             : process != a.strings.end() && process->second.starts_with("pseudo-data") ? process->second
                                                                                         : "data";
  // Observed data at a luminosity of their own (small pseudo-data, a partial
  // unblinding): the model is that of the data, every MC yield scaled to it.
  double mc_scale = 1;
  if (const auto it = a.doubles.find("data_lumi_ifb");
      observed && it != a.doubles.end() && !it->second.empty() && out.lumi_ifb > 0 && it->second[0] > 0 &&
      it->second[0] != out.lumi_ifb) {
    mc_scale = it->second[0] / out.lumi_ifb;
    log::info("{}: the data are {:.4g} fb^-1, the MC {:.4g} fb^-1: MC yields scaled by {:.4g}, limits at the data's "
              "luminosity",
              where, it->second[0], out.lumi_ifb, mc_scale);
    out.lumi_ifb = it->second[0];
  } else if (observed && it != a.doubles.end() && !(out.lumi_ifb > 0)) {
    log::warn("{}: the data state {} fb^-1 but the MC's luminosity is unknown (significance without --features?): "
              "the MC yields are not scaled to the data's",
              where, it->second.empty() ? 0.0 : it->second[0]);
  }

  // Fine histograms of every (channel, sample), nominal and varied. Own-point scores of
  // a parametrised model (docs/significance.md) may lack signals scored at no point.
  const auto top_column = a.strings.find("score_column");
  const bool own_point = top_column != a.strings.end() && top_column->second == kOwnPointColumn;
  std::vector<bool> may_lack(names.size(), false), signal_only(names.size(), false);
  for (std::size_t i = 0; i < names.size(); ++i) may_lack[i] = own_point && roles[i] == "signal";
  for (std::size_t i = 0; i < names.size(); ++i) signal_only[i] = roles[i] == "signal";
  FineHistograms fine = read_fine(a, out.channels, names, where, may_lack);
  scale_mc(fine, roles, mc_scale);
  std::vector<std::pair<FineHistograms, FineHistograms>> varied;
  for (const ShapeSystematic& sys : o.shapes) {
    std::pair<FineHistograms, FineHistograms> updown;
    for (const auto* file : {&sys.up, &sys.down}) {
      const Archive v = io::read_archive(*file, kSignificanceFormat);
      const std::string vwhere = file->string();
      if (v.number_list("edges", vwhere) != a.number_list("edges", where))
        throw InputError(fmt::format("--shape-systematic {}: {} has other score bins than {} (a template with a "
                                     "different binning)",
                                     sys.name, vwhere, where));
      FineHistograms h = read_fine(v, out.channels, names, vwhere, may_lack);
      scale_mc(h, roles, mc_scale);
      (file == &sys.up ? updown.first : updown.second) = std::move(h);
    }
    varied.push_back(std::move(updown));
  }

  std::size_t clipped = 0;
  const auto norm_of = [&](const std::string& sample) {
    for (const auto& [pattern, rel] : o.background_norm)
      if (glob_match(pattern, sample)) return rel;
    return 0.0;
  };
  const auto free_of = [&](const std::string& sample) {
    return std::any_of(o.free_norm.begin(), o.free_norm.end(), [&](const std::string& p) { return glob_match(p, sample); });
  };
  for (const auto& p : o.free_norm)
    if (std::none_of(backgrounds.begin(), backgrounds.end(), [&](std::size_t b) { return glob_match(p, names[b]); }))
      throw InputError(fmt::format("--free-norm '{}' matches no background sample of {}", p, where));
  // Scores of a parametrised model: each signal's backgrounds and data at its own point.
  std::map<std::string, FineHistograms> at_point;
  const auto backgrounds_for = [&](const std::string& signal) -> const FineHistograms& {
    const auto column = a.strings.find("samples/" + signal + "/score_column");
    if (column == a.strings.end()) return fine;
    if (!o.shapes.empty())
      throw InputError(fmt::format("--shape-systematic: {} holds a parametrised model's own-point scores; shape "
                                   "templates of those are not supported yet",
                                   where));
    auto it = at_point.find(column->second);
    if (it == at_point.end()) {
      it = at_point
               .emplace(column->second,
                        read_fine(a, out.channels, names, where, signal_only, "points/" + column->second + "/"))
               .first;
      scale_mc(it->second, roles, mc_scale);
    }
    return it->second;
  };
  // A parametrised model's scores hold no histogram of a signal scored at no point of
  // its own (significance said so): it gets no limit.
  std::vector<std::string> unscored;
  std::erase_if(signals, [&](std::size_t sig) {
    const bool none = std::any_of(fine.begin(), fine.end(), [&](const auto& f) { return f[sig].w.empty(); });
    if (none) unscored.push_back(names[sig]);
    return none;
  });
  if (!unscored.empty())
    log::warn("{}: no score histograms of {} signal samples (scored at no point of their own): no limits for {}", where,
              unscored.size(), join(unscored, ", "));
  if (signals.empty()) throw InputError(fmt::format("{}: no signal sample with score histograms", where));
  for (const std::size_t sig : signals) {
    LimitModel m;
    m.name = names[sig];
    const FineHistograms& bfine = backgrounds_for(m.name);
    m.parameters = json::Value::parse(a.string("samples/" + m.name + "/parameters", where));
    m.cross_section_pb = a.number("samples/" + m.name + "/cross_section_pb", where);
    stats::Measurement ms;
    ms.name = "limits";
    ms.poi = "mu";
    if (o.lumi_uncertainty > 0) ms.parameters.push_back({.name = "lumi", .bounds = std::make_pair(0.0, 10.0), .init = 1.0,
                                                         .fixed = false, .auxdata = 1.0, .sigma = o.lumi_uncertainty});
    ms.parameters.push_back({.name = "mu", .bounds = std::make_pair(0.0, 10.0), .init = 1.0, .fixed = false,
                             .auxdata = std::nullopt, .sigma = std::nullopt});
    m.workspace.measurements.push_back(ms);
    for (std::size_t c = 0; c < out.channels.size(); ++c) {
      const std::string& channel = out.channels[c];
      const std::size_t nfine = fine[c][sig].w.size();
      std::vector<double> b(nfine, 0.0), bw2(nfine, 0.0);
      for (const auto s : backgrounds)
        for (std::size_t i = 0; i < nfine; ++i) b[i] += bfine[c][s].w[i], bw2[i] += bfine[c][s].w2[i];
      const auto groups = merge_bins(fine[c][sig].w, b, bw2, o);
      stats::WorkspaceChannel ch;
      ch.name = channel;
      const auto add_sample = [&](std::size_t s, bool is_signal) {
        stats::WorkspaceSample smp;
        smp.name = names[s];
        const SampleHistogram& nominal = is_signal ? fine[c][s] : bfine[c][s];
        smp.data = merged(nominal.w, groups);
        std::vector<double> err = merged(nominal.w2, groups);
        bool any = false;
        for (std::size_t k = 0; k < smp.data.size(); ++k) {
          // Negative-weight MC can leave a merged bin below zero; a yield is >= 0.
          if (smp.data[k] < 0) smp.data[k] = 0, ++clipped;
          err[k] = std::sqrt(std::max(0.0, err[k]));
          any = any || smp.data[k] > 0;
        }
        if (!any && !is_signal) return;  // a background absent from this channel
        const auto add = [&](std::string name, stats::ModifierType type) -> stats::Modifier& {
          smp.modifiers.emplace_back();
          smp.modifiers.back().name = std::move(name), smp.modifiers.back().type = type;
          return smp.modifiers.back();
        };
        if (is_signal) add("mu", stats::ModifierType::normfactor);
        if (o.lumi_uncertainty > 0) add("lumi", stats::ModifierType::lumi);
        const double rel = is_signal ? o.signal_norm : norm_of(smp.name);
        if (rel > 0) {
          stats::Modifier& norm = add(is_signal ? std::string("signal_norm") : "norm_" + smp.name,
                                   stats::ModifierType::normsys);
          norm.hi = 1 + rel, norm.lo = std::max(1e-3, 1 - rel);
        }
        if (!is_signal && free_of(smp.name)) add("k_" + smp.name, stats::ModifierType::normfactor);
        for (std::size_t v = 0; v < varied.size(); ++v) {
          std::vector<double> up = merged(varied[v].first[c][s].w, groups), down = merged(varied[v].second[c][s].w, groups);
          for (auto* t : {&up, &down})
            for (double& x : *t) x = std::max(0.0, x);
          if (up == smp.data && down == smp.data) continue;  // this sample does not move
          stats::Modifier& h = add(o.shapes[v].name, stats::ModifierType::histosys);
          h.hi_data = std::move(up), h.lo_data = std::move(down);
        }
        if (o.mc_stat) add("staterror_" + channel, stats::ModifierType::staterror).errors = err;
        ch.samples.push_back(std::move(smp));
      };
      add_sample(sig, true);
      for (const auto s : backgrounds) add_sample(s, false);
      std::vector<double> obs(groups.size(), 0.0);
      if (observed) {
        for (const auto d : data) {
          const auto md = merged(bfine[c][d].w, groups);
          for (std::size_t k = 0; k < obs.size(); ++k) obs[k] += md[k];
        }
      } else {
        for (std::size_t k = 1; k < ch.samples.size(); ++k)
          for (std::size_t j = 0; j < obs.size(); ++j) obs[j] += ch.samples[k].data[j];
      }
      m.workspace.channels.push_back(std::move(ch));
      m.workspace.observations.push_back(std::move(obs));
    }
    stats::validate(m.workspace, where + " (model " + m.name + ")");
    out.models.push_back(std::move(m));
  }
  if (clipped > 0)
    log::info("{} merged bins of a sample with a negative sum of weights set to 0 (negative-weight MC)", clipped);
  return out;
}

}  // namespace bsmhunt::pipeline
