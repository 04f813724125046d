// Job files (INI, one [section] per stage) and the command lines of their stages.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "bsmhunt/core/Error.hpp"
#include "../PythonTool.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/pipeline/Convert.hpp"
#include "bsmhunt/pipeline/Run.hpp"
#include "bsmhunt/pipeline/Significance.hpp"

namespace bsmhunt::pipeline {

namespace fs = std::filesystem;

// Stages `run` knows, in their natural order.
const std::vector<std::string>& stage_kinds() {
  static const std::vector<std::string> k = {"generate",     "convert", "import",   "extract",      "datamc",
                                             "images",       "train",   "predict",  "anomaly",      "significance",
                                             "limits",       "efficiencies", "fit",     "bumphunt", "export",       "report"};
  return k;
}

Job read_job(const std::string& path) {
  po::parsed_options raw = read_ini_file(path, path, "cannot open the job file");
  Job job;
  job.path = path;
  job.name = fs::path(path).stem().string();
  std::string stage_list;
  const auto& kinds = stage_kinds();
  for (const auto& o : raw.options) {
    const auto dot = o.string_key.find('.');
    if (dot == std::string::npos)
      throw InputError(fmt::format("{}: key '{}' is outside any [section]", path, o.string_key));
    const std::string section = o.string_key.substr(0, dot), key = o.string_key.substr(dot + 1);
    const std::string value = o.value.empty() ? std::string() : o.value.front();
    if (section == "job") {
      if (key == "name") job.name = value;
      else if (key == "output-dir") job.output_dir = value;
      else if (key == "stages") stage_list = value;
      else if (key == "description") job.description = value;
      else
        throw InputError(fmt::format("{}: unknown key '{}' in [job]{} (name, output-dir, stages, description)", path,
                                     key, did_you_mean(key, {"name", "output-dir", "stages", "description"})));
      continue;
    }
    const auto colon = section.find(':');
    const std::string kind = section.substr(0, colon);
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      std::vector<std::string> known = kinds;
      known.push_back("job");
      throw InputError(fmt::format("{}: unknown section [{}]{}", path, section, did_you_mean(kind, known)));
    }
    auto it = std::find_if(job.stages.begin(), job.stages.end(), [&](const JobStage& s) { return s.name == section; });
    if (it == job.stages.end()) {
      job.stages.push_back({section, kind, colon == std::string::npos ? "" : section.substr(colon + 1), {}});
      it = job.stages.end() - 1;
    }
    it->options.emplace_back(key, value);
  }
  if (job.output_dir.empty()) job.output_dir = (fs::path("output") / job.name).string();
  if (!stage_list.empty()) {
    std::vector<JobStage> ordered;
    for (const auto& raw_name : split(stage_list, ',')) {
      const std::string name = trim(raw_name);
      if (name.empty()) continue;
      auto it = std::find_if(job.stages.begin(), job.stages.end(), [&](const JobStage& s) { return s.name == name; });
      if (it != job.stages.end()) {
        ordered.push_back(*it);
      } else if (const std::string base = name.substr(0, name.find(':'));
                 std::find(kinds.begin(), kinds.end(), base) != kinds.end()) {
        // A stage with every option at its default (an empty section reads as none).
        ordered.push_back({name, base, name.find(':') == std::string::npos ? "" : name.substr(name.find(':') + 1), {}});
      } else {
        std::vector<std::string> names;
        for (const auto& s : job.stages) names.push_back(s.name);
        throw InputError(fmt::format("{}: [job] stages lists '{}', which is neither a section nor a stage{}", path,
                                     name, did_you_mean(name, names)));
      }
    }
    job.stages = ordered;
  }
  if (job.stages.empty()) throw InputError(fmt::format("{}: no stage to run (no [generate], [extract], ... section)", path));
  // The options of every section must be options of its command.
  for (const auto& s : job.stages) {
    const Command& c = command_named(s.kind);
    po::options_description d;
    c.add_options(d);
    std::vector<std::string> names;
    for (const auto& o : d.options()) names.push_back(o->long_name());
    names.push_back("log-level");
    for (const auto& [k, v] : s.options)
      if (std::find(names.begin(), names.end(), k) == names.end())
        throw InputError(fmt::format("{}: unknown key '{}' in [{}]{}; see 'bsmhunt {} --help'", path, k, s.name,
                                     did_you_mean(k, names), s.kind));
  }
  return job;
}

namespace {

// "{extract:rmm}" in an option value stands for the first output of that earlier
// stage, so that a job with two feature files can say which one a stage reads.
std::string with_stage_outputs(const std::string& value, const std::vector<PlannedStage>& earlier,
                               const std::string& job_path, const std::string& stage) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto open = value.find('{', pos);
    if (open == std::string::npos) break;
    const auto close = value.find('}', open);
    if (close == std::string::npos) break;
    const std::string name = value.substr(open + 1, close - open - 1);
    const auto it = std::find_if(earlier.begin(), earlier.end(),
                                 [&](const PlannedStage& p) { return p.stage->name == name; });
    if (it == earlier.end() || it->outputs.empty()) {
      std::vector<std::string> names;
      for (const auto& p : earlier) names.push_back(p.stage->name);
      throw InputError(fmt::format("{}: [{}] refers to {{{}}}, which is not an earlier stage with an output{}",
                                   job_path, stage, name, did_you_mean(name, names)));
    }
    out += value.substr(pos, open - pos) + it->outputs.front();
    pos = close + 1;
  }
  return out + value.substr(pos);
}

bool has_option(const JobStage& s, const std::string& key) {
  for (const auto& [k, v] : s.options)
    if (k == key) return true;
  return false;
}
std::string option_or(const JobStage& s, const std::string& key, const std::string& fallback) {
  for (const auto& [k, v] : s.options)
    if (k == key) return v;
  return fallback;
}

}  // namespace

std::vector<PlannedStage> plan_job(const Job& job, const std::string& dir, const std::string& log_level) {
  const auto path = [&](const std::string& file) { return (fs::path(dir) / file).string(); };
  std::string events = path("events.h5"), features = path("features.h5");
  std::string plain_train_label = "model";
  // The feature file later stages read by default: the (last) untagged extract's or
  // import's, else the first tagged extract's.
  bool untagged_features = false;
  std::string first_tagged;
  for (const auto& s : job.stages) {
    if (s.kind == "extract" && !s.tag.empty() && first_tagged.empty())
      first_tagged = option_or(s, "output", path(s.tag + "_features.h5"));
    if ((s.kind == "extract" && s.tag.empty()) || s.kind == "import") {
      features = option_or(s, "output", features);
      untagged_features = true;
    }
  }
  if (!untagged_features && !first_tagged.empty()) features = first_tagged;
  for (const auto& s : job.stages) {
    if (s.kind == "generate" || s.kind == "convert") events = option_or(s, "output", events);
    if (s.kind == "train" && s.tag.empty()) plain_train_label = option_or(s, "model", "mlp");
  }
  std::vector<PlannedStage> out;
  std::vector<std::string> all_outputs;
  std::vector<std::string> report_args;
  std::vector<JobStage> resolved;  // the stages with {stage} references replaced
  resolved.reserve(job.stages.size());
  for (const auto& original : job.stages) {
    resolved.push_back(original);
    for (auto& [k, v] : resolved.back().options) v = with_stage_outputs(v, out, job.path, original.name);
    const JobStage& s = resolved.back();
    PlannedStage p;
    p.stage = &original;
    p.label = !s.tag.empty() ? s.tag
              : (s.kind == "train" || s.kind == "predict" || s.kind == "significance" || s.kind == "limits" || s.kind == "efficiencies" ||
                 s.kind == "anomaly" || s.kind == "export")
                  ? plain_train_label
              : s.kind;
    for (const auto& [k, v] : s.options) p.args.push_back(fmt::format("--{}={}", k, v));
    const auto def = [&](const std::string& key, const std::string& value) {
      if (!has_option(s, key)) p.args.push_back(fmt::format("--{}={}", key, value));
      return option_or(s, key, value);
    };
    if (!has_option(s, "log-level")) p.args.push_back("--log-level=" + log_level);
    const std::string model = path(p.label + "_model.h5"), scores = path(p.label + "_scores.h5");
    if (s.kind == "generate") {
      p.outputs = {def("output", events)};
      def("summary", "false");
    } else if (s.kind == "convert") {
      // Inputs: the samples file, every ROOT file it names, and the mapping file, so a
      // changed one of them reruns the stage.
      const std::string samples = option_or(s, "samples", "");
      p.inputs = {samples};
      if (!samples.empty()) {
        for (const auto& sample : read_convert_samples(samples))
          p.inputs.insert(p.inputs.end(), sample.files.begin(), sample.files.end());
        p.inputs.push_back(mapping_path(option_or(s, "mapping", "nanoaod")));
      }
      p.outputs = {def("output", events)};
    } else if (s.kind == "import") {
      const std::string input = option_or(s, "input", "");
      const bool root = option_or(s, "format", "auto") == "root" ||
                        (option_or(s, "format", "auto") == "auto" && input.ends_with(".root"));
      p.inputs = root && !input.empty() ? expand_file_patterns(input, job.path + " [" + s.name + "] input")
                                        : std::vector<std::string>{input};
      p.outputs = {def("output", features)};
      p.optional_outputs = {features + ".cutflow.json"};
    } else if (s.kind == "extract") {
      // A tagged extract (a second feature set) writes TAG_features.h5 by default.
      p.inputs = {def("input", events)};
      const std::string o = def("output", s.tag.empty() ? features : path(s.tag + "_features.h5"));
      p.outputs = {o};
      p.optional_outputs = {o + ".cutflow.json"};
      // The report takes one feature file and its cut flow: the job's default one.
      if (o == features) report_args.push_back("--cutflow=" + o + ".cutflow.json");
    } else if (s.kind == "datamc") {
      p.inputs = {def("features", features)};
      const std::string o = def("output", path(p.label + ".json"));
      p.outputs = {o, o + ".csv"};
      report_args.push_back(fmt::format("--datamc={}", o));
    } else if (s.kind == "anomaly") {
      p.inputs = {def("scores", scores)};
      p.outputs = {def("output", path(p.label + "_anomaly.json"))};
      report_args.push_back(fmt::format("--anomaly={}={}", p.label, p.outputs[0]));
    } else if (s.kind == "train") {
      p.inputs = {def("features", features)};
      const std::string o = def("output", model);
      if (has_option(s, "scan")) {
        // A scan writes one model per point (MODEL_scanNNN.h5) and their table; it
        // resumes by itself, so the table is what marks it complete.
        p.outputs = {o + ".scan.csv"};
      } else {
        p.outputs = {o};
        p.optional_outputs = {o + ".history.csv"};
        p.checkpoint = option_or(s, "checkpoint", o + ".checkpoint.h5");
        // Boosting writes no epoch history; the report reads its rounds from the model.
        report_args.push_back(fmt::format("--history={}={}", p.label,
                                          option_or(s, "model", "mlp") == "bdt" ? o : o + ".history.csv"));
      }
    } else if (s.kind == "predict") {
      p.inputs = {def("model", model), def("features", features)};
      p.outputs = {def("output", scores)};
      report_args.push_back(fmt::format("--scores={}={}", p.label, p.outputs[0]));
    } else if (s.kind == "significance") {
      p.inputs = {def("scores", scores), def("features", features)};
      const std::string o = def("output", path(p.label + "_significance.json"));
      p.outputs = {o, option_or(s, "output-h5", significance_h5_path(o))};
      report_args.push_back(fmt::format("--significance={}", o));
    } else if (s.kind == "limits") {
      // limits:LABEL tests LABEL's significance histograms, or a workspace.
      if (has_option(s, "workspace")) {
        p.inputs = {option_or(s, "workspace", "")};
      } else {
        p.inputs = {def("histograms", significance_h5_path(path(p.label + "_significance.json")))};
      }
      const std::string o = def("output", path(p.label + "_limits.json"));
      p.outputs = {o, option_or(s, "output-h5", significance_h5_path(o))};
      // Every model as a pyhf workspace too: what a combination or a cross-check starts from.
      def("export-workspace", path(p.label + "_workspaces"));
      report_args.push_back(fmt::format("--limits={}", o));
    } else if (s.kind == "fit") {
      p.inputs = {option_or(s, "input", "")};
      p.outputs = {def("output", path(p.label + ".json"))};
      if (has_option(s, "output-h5")) p.outputs.push_back(option_or(s, "output-h5", ""));
      report_args.push_back(fmt::format("--fit={}", p.outputs[0]));
    } else if (s.kind == "images") {
      p.inputs = {def("events", events)};
      p.outputs = {def("output", path(p.label + ".h5"))};
      report_args.push_back(fmt::format("--images={}", p.outputs[0]));
    } else if (s.kind == "efficiencies") {
      p.inputs = {def("scores", scores), def("features", features)};
      p.outputs = {def("output", path(p.label + "_efficiencies.json"))};
      report_args.push_back(fmt::format("--efficiencies={}", p.outputs[0]));
    } else if (s.kind == "bumphunt") {
      p.inputs = {def("features", features)};
      p.outputs = {def("output", path(p.label + ".json"))};
      report_args.push_back(fmt::format("--bumphunt={}", p.outputs[0]));
    } else if (s.kind == "export") {
      // export:LABEL writes LABEL's model as ONNX, or with `scores` a ROOT friend tree.
      if (has_option(s, "scores")) {
        p.inputs = {option_or(s, "scores", "")};
        p.outputs = {def("output", path(p.label + "_scores.root"))};
      } else {
        p.inputs = {def("model", model)};
        p.outputs = {def("output", path(p.label + ".onnx"))};
      }
    } else if (s.kind == "report") {
      const std::string d = def("output-dir", path("report"));
      def("title", job.description.empty() ? job.name : job.description);
      for (const auto& o : all_outputs)
        if (o == events || o == features) p.args.push_back((o == events ? "--events=" : "--features=") + o);
      for (const auto& a : report_args) p.args.push_back(a);
      p.inputs = all_outputs;
      p.outputs = {(fs::path(d) / "index.html").string()};
    }
    p.args.push_back("--overwrite=true");  // a stage that runs replaces its own old outputs
    for (const auto& o : p.outputs) all_outputs.push_back(o);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace bsmhunt::pipeline
