#pragma once
// `bsmhunt limits`: CLs upper limits, best-fit signal strengths, discovery
// significances, pulls and impacts for every signal model (docs/limits.md), from a
// pyhf workspace or from the score histograms of `bsmhunt significance`; models
// spread over the ranks.
#include <filesystem>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/stats/Limits.hpp"
#include "bsmhunt/stats/Workspace.hpp"

namespace bsmhunt::pipeline {

inline constexpr const char* kLimitsFormat = "bsmhunt.limits";
inline constexpr int64_t kLimitsFormatVersion = 1;

// A shape systematic: the significance histograms of the same events with a varied
// input (features or weights shifted up and down by one standard deviation).
struct ShapeSystematic {
  std::string name;
  std::filesystem::path up, down;
};
ShapeSystematic parse_shape_systematic(const std::string& text);  // NAME=UP.h5,DOWN.h5

// How a model is built from the significance histograms.
struct ModelOptions {
  std::vector<ShapeSystematic> shapes;  // histosys modifiers on every MC sample
  std::vector<std::string> signals;   // glob patterns; empty or "all": every signal sample
  std::vector<std::string> channels;  // empty: every channel of the file
  std::size_t max_bins = 10;          // per channel, after merging
  double min_background = 1.0, min_mc_events = 10.0;  // per merged bin
  double lumi_uncertainty = 0.017;    // 0: no lumi modifier
  std::vector<std::pair<std::string, double>> background_norm;  // PATTERN=REL, first match
  double signal_norm = 0;             // relative, 0: none
  std::vector<std::string> free_norm; // backgrounds (glob patterns) with a free normalisation k_<sample>
  bool mc_stat = true;                // staterror per channel (Barlow-Beeston lite)
  std::string data = "auto";          // auto (data samples, else Asimov) | asimov
};

struct LimitsConfig {
  std::filesystem::path workspace, histograms;  // exactly one
  std::string measurement;
  std::filesystem::path output, output_h5, export_dir;
  ModelOptions model;
  stats::LimitOptions limits;
  bool toys = false;                // --cls toys: CLs from pseudo-experiments (toys over the ranks, models in turn)
  stats::ToyLimitOptions toy;
  bool impacts = true;
  std::size_t print_top = 20;
  bool overwrite = false;
};

void add_limits_options(po::options_description& options);
LimitsConfig limits_config_from(const po::variables_map& vm);
int run_limits(const dist::Communicator& comm, const LimitsConfig& config);

// One signal model to test: its workspace and what the outputs say about it.
struct LimitModel {
  std::string name;
  stats::Workspace workspace;
  json::Value parameters = json::Value::object();
  double cross_section_pb = 0;  // 0: unknown
};

// The signal models of a significance HDF5 file (collective reading; every rank gets all).
struct HistogramModels {
  std::vector<LimitModel> models;
  std::vector<std::string> channels;
  std::string data;  // "pseudo-data", "data" or "asimov (background only)"
  double lumi_ifb = 0;     // of the limits: the data's luminosity when the MC was scaled to it
  double mc_lumi_ifb = 0;  // the MC's normalisation in the significance file
};
HistogramModels models_from_histograms(const std::filesystem::path& path, const ModelOptions& options);

// "PATTERN=REL, PATTERN=REL" -> pairs; InputError naming the option otherwise.
std::vector<std::pair<std::string, double>> parse_norm_list(const std::string& text, const std::string& option);

}  // namespace bsmhunt::pipeline
