// bsmhunt export: a model file as ONNX (rank 0 writes it), a score file as a ROOT
// friend tree (through the uproot helper). docs/export.md.
#include "bsmhunt/pipeline/Export.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "../ModelFile.hpp"
#include "../PythonTool.hpp"
#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/io/ArchiveFile.hpp"
#include "bsmhunt/nn/Onnx.hpp"
#include "bsmhunt/nn/Trainer.hpp"

namespace bsmhunt::pipeline {
namespace fs = std::filesystem;
using nn::onnx::Attribute;
using nn::onnx::ElementType;

namespace {

// The preprocessing computed as Preprocessing::apply does: in double, one rounding to
// float at the end, so the network sees the same numbers as in predict. The log of
// heavy-tailed features (where log_scale > 0), 0 for a missing value and the
// indicator inputs after the features are there when the model has them.
std::string normalise(nn::onnx::Graph& g, const std::string& x, const nn::Preprocessing& prep) {
  const auto F = int64_t(prep.features());
  const auto as = [&](const std::string& v, ElementType t) {
    return g.node("Cast", {v}, {Attribute::of_int("to", int64_t(t))});
  };
  const auto mask = [&](const char* hint, const auto& flags) {  // per-feature booleans
    std::vector<int64_t> values;
    for (const auto f : flags) values.push_back(f ? 1 : 0);
    return g.node("Cast", {g.constant(hint, {F}, values)}, {Attribute::of_int("to", 9)});  // 9: bool
  };
  const std::string wide = as(x, ElementType::float64);
  std::string v = wide;
  if (!prep.log_scale.empty()) {
    std::vector<double> divisor(prep.log_scale);
    for (auto& d : divisor) d = d > 0 ? d : 1.0;
    const std::string positive = g.node("Max", {wide, g.constant("zero", {1}, std::vector<double>{0.0})});
    const std::string ratio = g.node("Div", {positive, g.constant("log_scale", {F}, divisor)});
    const std::string logged = g.node("Log", {g.node("Add", {ratio, g.constant("one", {1}, std::vector<double>{1.0})})});
    std::vector<uint8_t> is_log;
    for (const double s : prep.log_scale) is_log.push_back(s > 0);
    v = g.node("Where", {mask("is_log", is_log), logged, wide});
  }
  const std::string shifted = g.node("Sub", {v, g.constant("offset", {F}, prep.offset)});
  std::string scaled = g.node("Mul", {shifted, g.constant("scale", {F}, prep.scale)});
  if (prep.missing.empty()) return as(scaled, ElementType::float32);
  const std::string missing = g.node(
      "And", {g.node("Equal", {wide, g.constant("missing_value", {1}, std::vector<double>{prep.missing_value})}),
              mask("has_missing", prep.missing)});
  scaled = g.node("Where", {missing, g.constant("zero_input", {1}, std::vector<double>{0.0}), scaled});
  std::vector<int64_t> indicator_of;
  for (std::size_t j = 0; j < prep.missing.size(); ++j)
    if (prep.missing[j]) indicator_of.push_back(int64_t(j));
  const std::string indicators =
      g.node("Gather", {as(missing, ElementType::float32), g.constant("indicator_of", {int64_t(indicator_of.size())}, indicator_of)},
             {Attribute::of_int("axis", 1)});
  return g.node("Concat", {as(scaled, ElementType::float32), indicators}, {Attribute::of_int("axis", 1)});
}

// Logits to what predict writes: sigmoid of one logit as a 1-D "score", softmax of several.
void classifier_output(nn::onnx::Graph& g, const std::string& logits, std::size_t classes) {
  if (classes == 1) {
    g.node("Reshape", {g.node("Sigmoid", {logits}), g.constant("flat", {1}, std::vector<int64_t>{-1})}, {}, "score");
    g.add_output("score", ElementType::float32, {});
  } else {
    g.node("Softmax", {logits}, {Attribute::of_int("axis", 1)}, "probabilities");
    g.add_output("probabilities", ElementType::float32, {int64_t(classes)});
  }
}

std::string json_list(const std::vector<std::string>& v) { return nlohmann::json(v).dump(); }

}  // namespace

std::string onnx_model_of(const std::string& path) {
  const Archive model = io::read_archive(path, kModelFormat);
  if (model.doubles.count("folds/count"))
    throw InputError(fmt::format("{}: a k-fold model (train --folds) is K models chosen by the event's fold; ONNX "
                                 "export takes one model: train it without --folds",
                                 path));
  const std::string kind = model.string("model/kind", path);
  // An ensemble's inputs are its members' (checked below to be the same for all).
  const std::vector<std::string> features =
      kind == "cnn" ? std::vector<std::string>()
                    : ensemble_members(model, path).front().strings_of("preprocessing/feature_names", path);
  nn::onnx::Graph g("bsmhunt_" + kind);
  std::vector<std::pair<std::string, std::string>> meta = {
      {"bsmhunt.version", BSMHUNT_VERSION}, {"bsmhunt.model_file", fs::path(path).filename().string()},
      {"bsmhunt.kind", kind}};
  std::string doc;
  if (kind == "cnn") {
    const nn::NetworkSpec spec = nn::network_spec_from(model, path);
    const ImageSettings images = image_settings_of(model, path);
    auto backend = nn::make_backend(nn::DeviceKind::cpu);
    nn::Network net(*backend, spec);
    nn::load_network(net, model, path);
    g.add_input("images", ElementType::float32,
                {int64_t(spec.image_height), int64_t(spec.image_width), int64_t(spec.image_channels)});
    classifier_output(g, net.to_onnx(g, "images"), spec.outputs);
    meta.push_back({"bsmhunt.image_shape", fmt::format("[{}, {}, {}]", spec.image_height, spec.image_width,
                                                       spec.image_channels)});
    meta.push_back({"bsmhunt.image_compression", images.compression});
    meta.push_back({"bsmhunt.image_scales", nlohmann::json(std::vector<double>(images.scales.begin(),
                                                                               images.scales.end())).dump()});
    doc = "bsmhunt CNN: input 'images' [N, height, width, channels] (channel last) as `bsmhunt images --scales "
          "MODEL.h5` builds them (docs/monojet.md); output the signal probability";
  } else {
    // An ensemble's members share the inputs and the preprocessing (fitted to the same
    // rows); the graph runs each network and averages their outputs, as predict does.
    const std::vector<Archive> members = ensemble_members(model, path);
    const nn::Preprocessing prep = nn::Preprocessing::load(members.front(), path);
    if (prep.features() != features.size())
      throw InputError(fmt::format("{}: preprocessing for {} features, the model has {}", path, prep.features(),
                                   features.size()));
    for (const auto& m : members) {
      const nn::Preprocessing other = nn::Preprocessing::load(m, path);
      if (other.offset != prep.offset || other.scale != prep.scale || other.log_scale != prep.log_scale ||
          other.missing != prep.missing || m.strings_of("preprocessing/feature_names", path) != features)
        throw InputError(fmt::format("{}: its ensemble members differ in inputs or preprocessing", path));
    }
    g.add_input("features", ElementType::float32, {int64_t(features.size())});
    const std::string x = normalise(g, "features", prep);
    if (kind == "bdt") {
      const auto it = model.bytes.find("model/xgboost_ubj");
      if (it == model.bytes.end()) throw InputError(fmt::format("{}: bdt model without model/xgboost_ubj", path));
      const nn::BdtModel bdt = nn::BdtModel::deserialize(it->second);
      g.node("Reshape", {bdt.to_onnx(g, x), g.constant("flat", {1}, std::vector<int64_t>{-1})}, {}, "score");
      g.add_output("score", ElementType::float32, {});
    } else {
      std::vector<std::string> outputs;
      std::size_t classes = 1;
      for (const auto& m : members) {
        const nn::NetworkSpec spec = nn::network_spec_from(m, path);
        auto backend = nn::make_backend(nn::DeviceKind::cpu);
        nn::Network net(*backend, spec);
        nn::load_network(net, m, path);
        const std::string y = net.to_onnx(g, x);
        classes = spec.outputs;
        if (kind == "autoencoder") {
          const std::string d = g.node("Sub", {y, x});
          outputs.push_back(g.node("ReduceMean", {g.node("Mul", {d, d})},
                                   {Attribute::of_ints("axes", {1}), Attribute::of_int("keepdims", 0)}));
        } else if (classes == 1) {
          outputs.push_back(g.node("Reshape", {g.node("Sigmoid", {y}), g.constant("flat", {1}, std::vector<int64_t>{-1})}));
        } else {
          outputs.push_back(g.node("Softmax", {y}, {Attribute::of_int("axis", 1)}));
        }
      }
      const std::string name = kind == "autoencoder" ? "reconstruction_mse" : (classes == 1 ? "score" : "probabilities");
      g.node(outputs.size() > 1 ? "Mean" : "Identity", outputs, {}, name);
      g.add_output(name, ElementType::float32, classes == 1 || kind == "autoencoder" ? std::vector<int64_t>{}
                                                                                    : std::vector<int64_t>{int64_t(classes)});
      if (members.size() > 1) meta.push_back({"bsmhunt.ensemble_members", std::to_string(members.size())});
    }
    meta.push_back({"bsmhunt.features", json_list(features)});
    meta.push_back({"bsmhunt.normalization", prep.kind});
    doc = fmt::format("bsmhunt {}: input 'features' [N, {}] raw features in the order of metadata bsmhunt.features "
                      "(the normalisation is part of the graph); output as bsmhunt predict writes it",
                      kind, features.size());
  }
  return nn::onnx::serialize_model(g, BSMHUNT_VERSION, meta, doc);
}

int run_export(const dist::Communicator& comm, const ExportConfig& c) {
  // Rank 0 writes the export (a Python helper for ROOT friend trees); the others wait unwatched.
  dist::collectively_long(comm, [&] {
    if (!comm.is_root()) return;
    std::error_code ec;
    const std::string& input = c.format == "onnx" ? c.model : c.scores;
    if (!fs::is_regular_file(input, ec)) throw InputError(fmt::format("{}: no such file", input));
    if (fs::exists(c.output, ec) && !c.overwrite)
      throw InputError(fmt::format("{} exists; give --overwrite to replace it", c.output));
    if (fs::weakly_canonical(c.output, ec) == fs::weakly_canonical(input, ec))
      throw InputError(fmt::format("--output {} is the input file", c.output));
    if (c.format == "onnx") {
      write_file_atomically(c.output, onnx_model_of(c.model));
      log::info("export: wrote {} (ONNX, opset {})", c.output, nn::onnx::kOpset);
      return;
    }
    const std::string error_file = partial_path(c.output).string() + ".error";
    // The helper writes OUTPUT.partial; whatever stops it, nothing is left behind.
    struct RemovePartial {
      fs::path path;
      ~RemovePartial() {
        std::error_code ignored;
        fs::remove(path, ignored);
      }
    } cleanup{partial_path(c.output)};
    run_python_tool({interop_python(c.python), interop_script(c.interop_script), "--error-file", error_file, "friend",
                     "--scores", c.scores, "--output", c.output, "--tree", c.tree, "--event-branch", c.event_branch,
                     "--step", std::to_string(c.chunk_entries)},
                    "the ROOT writer (uproot)", error_file);
    log::info("export: wrote {} (tree '{}')", c.output, c.tree);
  });
  return 0;
}

}  // namespace bsmhunt::pipeline
