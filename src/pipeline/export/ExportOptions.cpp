// Options of `bsmhunt export` and their mapping onto ExportConfig.
#include "bsmhunt/pipeline/Export.hpp"

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "../PythonTool.hpp"

namespace bsmhunt::pipeline {

void add_export_options(po::options_description& d) {
  const ExportConfig c;
  d.add_options()
      ("model", po::value<std::string>()->default_value(""),
       "model file from bsmhunt train (mlp, autoencoder, cnn, bdt) to write as ONNX (--format onnx)")
      ("scores", po::value<std::string>()->default_value(""),
       "score file from bsmhunt predict to write as a ROOT friend tree (--format root)")
      ("format", po::value<std::string>()->default_value(""),
       "onnx (with --model) or root (with --scores); default: from the output's extension (.onnx, .root)")
      ("output,o", po::value<std::string>()->default_value(""), "the file to write (.onnx or .root)")
      ("tree", po::value<std::string>()->default_value(c.tree), "root: name of the tree")
      ("event-branch", po::value<std::string>()->default_value(c.event_branch),
       "root: name of the event-number branch; give your ntuple's (e.g. eventNumber) to attach the friend with "
       "BuildIndex")
      ("chunk-entries", po::value<int64_t>()->default_value(int64_t(c.chunk_entries)),
       "root: entries read and written per step (bounds the memory)")
      ("overwrite", switch_value(), "replace an existing output file");
  add_interop_options(d);
}

ExportConfig export_config_from(const po::variables_map& vm) {
  ExportConfig c;
  c.model = option<std::string>(vm, "model");
  c.scores = option<std::string>(vm, "scores");
  c.output = required(vm, "output", "bsmhunt export: --output FILE is required (a .onnx or .root file)");
  c.format = option<std::string>(vm, "format");
  if (c.format.empty()) {
    if (c.output.ends_with(".onnx")) c.format = "onnx";
    else if (c.output.ends_with(".root")) c.format = "root";
    else
      throw InputError(fmt::format("--output {}: give --format onnx or root (the extension says neither)", c.output));
  }
  if (c.format != "onnx" && c.format != "root")
    throw InputError(fmt::format("--format '{}': expected onnx (a model) or root (a score file)", c.format));
  if (c.format == "onnx" && (c.model.empty() || !c.scores.empty()))
    throw InputError("bsmhunt export --format onnx takes --model MODEL.h5 (and no --scores)");
  if (c.format == "root" && (c.scores.empty() || !c.model.empty()))
    throw InputError("bsmhunt export --format root takes --scores SCORES.h5 (and no --model)");
  c.tree = option<std::string>(vm, "tree");
  if (c.tree.empty() || c.tree.find_first_of("/;") != std::string::npos)
    throw InputError(fmt::format("--tree '{}': expected a plain name", c.tree));
  c.event_branch = option<std::string>(vm, "event-branch");
  if (c.event_branch.empty() || c.event_branch.find_first_of("/;. ") != std::string::npos)
    throw InputError(fmt::format("--event-branch '{}': expected a plain branch name", c.event_branch));
  c.chunk_entries = positive_option(vm, "chunk-entries");
  c.python = option<std::string>(vm, "python");
  c.interop_script = option<std::string>(vm, "interop-script");
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

}  // namespace bsmhunt::pipeline
