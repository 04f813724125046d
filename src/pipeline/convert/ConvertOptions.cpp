// Options of `bsmhunt convert`, and its sample file, mapped onto ConvertConfig.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/pipeline/Convert.hpp"
#include "../PythonTool.hpp"

namespace bsmhunt::pipeline {

namespace {

// Boost's INI reader keeps "value   # comment": a '#' or ';' after a space starts a comment.
std::string without_comment(const std::string& text) {
  for (std::size_t i = 1; i < text.size(); ++i)
    if ((text[i] == '#' || text[i] == ';') && std::isspace(static_cast<unsigned char>(text[i - 1])))
      return trim(text.substr(0, i));
  return trim(text);
}

}  // namespace

// [NAME] sections: files (required), role, process, dsid, cross_section_pb, k_factor,
// filter_efficiency, sum_of_weights, n_generated.
std::vector<ConvertSample> read_convert_samples(const std::string& path) {
  namespace pt = boost::property_tree;
  pt::ptree tree;
  try {
    pt::read_ini(path, tree);
  } catch (const pt::ini_parser_error& e) {
    throw InputError(fmt::format("--samples {}: line {}: {}", path, e.line(), e.message()));
  }
  static const std::set<std::string> numbers = {"dsid", "cross_section_pb", "k_factor", "filter_efficiency",
                                                "sum_of_weights", "n_generated"};
  static const std::set<std::string> texts = {"files", "role", "process"};
  std::vector<ConvertSample> samples;
  for (const auto& [name, section] : tree) {
    const std::string where = fmt::format("{} [{}]", path, name);
    if (section.empty() && !section.data().empty())
      throw InputError(fmt::format("{}: '{}' is outside a [sample] section", path, name));
    if (name.empty() || name.find_first_of("/.\n") != std::string::npos)
      throw InputError(fmt::format("{}: not a valid sample name", where));
    nlohmann::json attrs = {{"name", name}};
    std::string files;
    for (const auto& [key, value] : section) {
      const std::string v = without_comment(value.data());
      if (key == "files") {
        files = v;
      } else if (texts.count(key)) {
        attrs[key] = v;
      } else if (numbers.count(key)) {
        try {
          std::size_t used = 0;
          const double x = std::stod(v, &used);
          if (used != v.size() || !std::isfinite(x)) throw std::invalid_argument(v);
          attrs[key] = key == "dsid" || key == "n_generated" ? nlohmann::json(int64_t(x)) : nlohmann::json(x);
        } catch (const std::exception&) {
          throw InputError(fmt::format("{}: {} = '{}' is not a number", where, key, v));
        }
      } else {
        throw InputError(fmt::format("{}: unknown key '{}' (expected files, role, process, dsid, cross_section_pb, "
                                     "k_factor, filter_efficiency, sum_of_weights, n_generated)",
                                     where, key));
      }
    }
    if (files.empty()) throw InputError(fmt::format("{}: files = (the sample's ROOT files, globs) is required", where));
    const std::string role = attrs.value("role", std::string("background"));
    if (role != "background" && role != "signal" && role != "data")
      throw InputError(fmt::format("{}: role = '{}': expected background, signal or data", where, role));
    attrs["role"] = role;
    if (role != "data" && attrs.value("cross_section_pb", 0.0) <= 0)
      throw InputError(fmt::format("{}: cross_section_pb = (in pb, > 0) is required for simulated samples", where));
    samples.push_back({name, expand_file_patterns(files, where + " files"), attrs.dump()});
  }
  if (samples.empty()) throw InputError(fmt::format("--samples {}: no [sample] section", path));
  return samples;
}

void add_convert_options(po::options_description& d) {
  const ConvertConfig c;
  d.add_options()
      ("samples", po::value<std::string>()->default_value(""),
       "INI file, one [NAME] section per output sample: files (ROOT files, comma-separated globs), role "
       "(background|signal|data), process, dsid, cross_section_pb, k_factor, filter_efficiency, sum_of_weights and "
       "n_generated (default: the sum of weight_mc and the entries of the files)")
      ("mapping", po::value<std::string>()->default_value(c.mapping),
       "which branches are the electrons, muons, jets, MET, weights and their energy unit: nanoaod, atlas "
       "(tools/interop/mappings/) or a mapping file")
      ("output,o", po::value<std::string>()->default_value(""), "event file to write (HDF5)")
      ("channel", po::value<std::string>()->default_value(c.channel),
       "the file's channel attribute (extract's default feature set; pass --features to extract otherwise)")
      ("lumi-ifb", double_value(c.lumi_ifb), "integrated luminosity the yields refer to, fb^-1")
      ("chunk-entries", po::value<int64_t>()->default_value(int64_t(c.chunk_entries)),
       "entries per uproot step (bounds the memory)")
      ("overwrite", switch_value(), "replace an existing event file");
  add_interop_options(d, "awkward");
}

ConvertConfig convert_config_from(const po::variables_map& vm) {
  ConvertConfig c;
  c.samples_file = required(vm, "samples", "bsmhunt convert: --samples SAMPLES.ini is required");
  c.output = required(vm, "output", "bsmhunt convert: --output EVENTS.h5 is required");
  c.mapping = mapping_path(option<std::string>(vm, "mapping"));
  c.channel = option<std::string>(vm, "channel");
  c.lumi_ifb = option<double>(vm, "lumi-ifb");
  if (!(c.lumi_ifb > 0) || !std::isfinite(c.lumi_ifb)) throw InputError("--lumi-ifb must be a positive number");
  c.chunk_entries = positive_option(vm, "chunk-entries");
  c.python = option<std::string>(vm, "python");
  c.interop_script = option<std::string>(vm, "interop-script");
  c.overwrite = option<bool>(vm, "overwrite");
  c.samples = read_convert_samples(c.samples_file);
  return c;
}

std::string mapping_path(const std::string& name) {
  if (name == "nanoaod" || name == "atlas") return BSMHUNT_SOURCE_DIR "/tools/interop/mappings/" + name + ".ini";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(name, ec))
    throw InputError(fmt::format("--mapping {}: expected nanoaod, atlas or a mapping file", name));
  return name;
}

}  // namespace bsmhunt::pipeline
