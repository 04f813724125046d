#pragma once
// `bsmhunt convert`: object-level ROOT trees (jagged branches: NanoAOD-like,
// ATLAS-ntuple-like) -> bsmhunt's event file, through uproot and a mapping file.
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

// One output sample: its ROOT files and the attributes of docs/formats.md.
struct ConvertSample {
  std::string name;
  std::vector<std::string> files;  // globs expanded, in order
  std::string attributes_json;     // role, process, cross_section_pb, k_factor, ... for the helper
};

struct ConvertConfig {
  std::string samples_file;  // INI: one [NAME] section per sample
  std::vector<ConvertSample> samples;
  std::string mapping = "nanoaod";  // nanoaod | atlas | a mapping file
  std::string output;
  std::string channel = "imported";
  double lumi_ifb = 139.0;
  uint64_t chunk_entries = 100000;
  std::string python = "auto", interop_script = "auto";
  bool overwrite = false;
};

void add_convert_options(po::options_description& options);
ConvertConfig convert_config_from(const po::variables_map& vm);
// Collective: sample i is converted by rank i mod N; rank 0 assembles the file, every
// rank validates it (as inspect does) before it gets its name.
int run_convert(const dist::Communicator& comm, const ConvertConfig& config);

// The samples of a samples file (INI, one [NAME] section per sample; comments after
// values allowed), their file patterns expanded; InputError naming the section and key.
std::vector<ConvertSample> read_convert_samples(const std::string& path);

// The mapping file of a built-in layout name (nanoaod, atlas) or `name` itself.
std::string mapping_path(const std::string& name);

}  // namespace bsmhunt::pipeline
