#pragma once
// `bsmhunt export`: results out to the tools of an experiment's software:
// a model file as ONNX (normalisation folded in), a score file as a ROOT friend tree.
#include <cstdint>
#include <string>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct ExportConfig {
  std::string model, scores;  // exactly one: --model (to onnx) or --scores (to root)
  std::string format;         // onnx | root
  std::string output;
  std::string tree = "bsmhunt_scores";  // root: the tree name
  std::string event_branch = "event_number";  // root: name of the event-number branch (the ntuple's, for an index)
  uint64_t chunk_entries = 100000;      // root: entries written per step
  std::string python = "auto", interop_script = "auto";
  bool overwrite = false;
};

void add_export_options(po::options_description& options);
ExportConfig export_config_from(const po::variables_map& vm);
// Collective; rank 0 writes the output (NAME.partial renamed when complete).
int run_export(const dist::Communicator& comm, const ExportConfig& config);

// The ONNX model of a bsmhunt model file (the bytes of an .onnx file): inputs
// "features" [N, F] raw features in the model's order (a CNN: "images" [N, H, W, C]
// as bsmhunt images writes them with the model's scales), outputs as predict writes them.
std::string onnx_model_of(const std::string& model_path);

}  // namespace bsmhunt::pipeline
