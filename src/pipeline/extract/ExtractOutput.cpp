#include "ExtractOutput.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "../Build.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::pipeline {

io::Cutflow CutflowTally::reduce(const dist::Communicator& comm, const std::vector<std::string>& cuts,
                                 std::size_t padding_cut) {
  const std::size_t C = cuts_, S = C ? raw_.size() / C : 0;
  std::vector<uint64_t> raw = raw_;
  comm.sum_in_place(raw);
  const std::vector<ExactSum> weighted = comm.sum(weighted_);
  bool padding_removed = false;
  for (std::size_t s = 0; padding_cut && s < S; ++s)
    padding_removed = padding_removed || raw[s * C + padding_cut] != raw[s * C + padding_cut - 1];
  const bool skip_padding = padding_cut && !padding_removed;
  io::Cutflow cf;
  cf.cuts = cuts;
  if (skip_padding) cf.cuts.erase(cf.cuts.begin() + std::ptrdiff_t(padding_cut));
  for (std::size_t s = 0; s < S; ++s) {
    std::vector<uint64_t> r;
    std::vector<double> w;
    for (std::size_t c = 0; c < C; ++c) {
      if (skip_padding && c == padding_cut) continue;
      r.push_back(raw[s * C + c]);
      w.push_back(weighted[s * C + c].value());
    }
    cf.raw.push_back(r);
    cf.weighted.push_back(w);
  }
  return cf;
}

io::FeatureFileHeader feature_file_header(const physics::FeatureSet& set, const std::vector<std::size_t>& written,
                                          const io::EventFileReader& reader, const ExtractConfig& cfg,
                                          const std::vector<std::string>& cuts) {
  io::FeatureFileHeader header;
  const auto& defs = set.features();
  for (const auto f : written) {
    header.feature_names.push_back(defs[f].name);
    header.feature_units.push_back(defs[f].unit);
  }
  for (const auto& s : reader.samples()) header.samples.push_back(s.info);
  header.attributes = {
      {"description", std::string("features computed from an event file by bsmhunt extract (docs/extract.md)")},
      {"feature_set", set.name()},
      {"source_file", reader.path().string()},
      {"source_channel", reader.channel()},
      {"luminosity_ifb", reader.luminosity_ifb()},
      {"cuts", join(cuts, ",")},
      {"split_train", cfg.file.split.train},
      {"split_validation", cfg.file.split.validation},
      {"seed", int64_t(cfg.file.seed)},
      {"on_nonfinite", std::string(cfg.drop_nonfinite ? "drop" : "error")},
      {"bsmhunt_version", std::string(BSMHUNT_VERSION)},
      {"bsmhunt_build", build_id()},
  };
  for (auto& a : set.attributes()) header.attributes.push_back(std::move(a));
  const bool has_optional = std::any_of(defs.begin(), defs.end(), [](const physics::FeatureDef& d) {
    return d.missing != physics::FeatureDef::Missing::never;
  });
  if (has_optional) {
    header.attributes.push_back({"padding", std::string(to_string(cfg.padding))});
    header.attributes.push_back({"sentinel", cfg.sentinel});
  }
  header.attributes.push_back({"mass_feature", defs[set.mass_feature()].name});
  // A matrix block keeps its dataset view when it is written whole and in order.
  for (const auto& mtx : set.matrices()) {
    const auto first = std::find(written.begin(), written.end(), mtx.first);
    const std::size_t cells = mtx.size * mtx.size;
    if (first == written.end() || std::size_t(written.end() - first) < cells) continue;
    bool whole = true;
    for (std::size_t c = 0; c < cells; ++c) whole = whole && first[std::ptrdiff_t(c)] == mtx.first + c;
    if (whole) header.matrix_views.push_back({mtx.name, std::size_t(first - written.begin()), mtx.size, mtx.description});
  }
  return header;
}

void write_cutflow_json(const std::filesystem::path& path, const io::Cutflow& cf,
                        const std::vector<io::SampleLayout>& samples, const std::string& feature_file) {
  json::Value samples_json = json::Value::array();
  for (std::size_t s = 0; s < samples.size(); ++s)
    samples_json.push_back({{"name", samples[s].info.name},
                            {"role", std::string(physics::to_string(samples[s].info.role))},
                            {"raw", cf.raw[s]},
                            {"weighted", json::numbers_or_null(cf.weighted[s])}});
  json::write(path, {{"feature_file", feature_file}, {"cuts", cf.cuts}, {"samples", samples_json}});
}

std::string format_cutflow(const io::Cutflow& cf, const std::vector<std::string>& samples) {
  std::size_t name_width = 6;
  for (const auto& s : samples) name_width = std::max(name_width, s.size());
  std::vector<std::size_t> widths;
  for (std::size_t c = 0; c < cf.cuts.size(); ++c) {
    std::size_t w = cf.cuts[c].size();
    for (const auto& r : cf.raw) w = std::max(w, fmt::format("{}", r[c]).size());
    widths.push_back(w);
  }
  std::string out = fmt::format("cutflow (raw events):\n{:<{}}", "sample", name_width);
  for (std::size_t c = 0; c < cf.cuts.size(); ++c) out += fmt::format("  {:>{}}", cf.cuts[c], widths[c]);
  out += "\n";
  for (std::size_t s = 0; s < cf.raw.size() && s < samples.size(); ++s) {
    out += fmt::format("{:<{}}", samples[s], name_width);
    for (std::size_t c = 0; c < cf.cuts.size(); ++c) out += fmt::format("  {:>{}}", cf.raw[s][c], widths[c]);
    out += "\n";
  }
  return out;
}

}  // namespace bsmhunt::pipeline
