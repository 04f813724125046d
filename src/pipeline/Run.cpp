// bsmhunt run: a job file's stages in order with a manifest per stage, so that a
// rerun skips complete stages and continues an interrupted one (training from its
// checkpoint). bsmhunt report: the plots of a job (tools/plot/report.py).
#include "bsmhunt/pipeline/Run.hpp"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>

#include "Json.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/pipeline/Train.hpp"

extern char** environ;

namespace bsmhunt::pipeline {

namespace fs = std::filesystem;

namespace {

template <typename T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

// Stages `run` knows, in their natural order.
const std::vector<std::string>& stage_kinds() {
  static const std::vector<std::string> k = {"generate", "import",  "extract",  "train", "predict",
                                             "significance", "fit", "bumphunt", "report"};
  return k;
}

// ---- file fingerprints -----------------------------------------------------
struct FileState {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string checksum;  // 16 hex digits over the whole content
};

std::string content_checksum(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read {} for its checksum", path));
  std::vector<char> buffer(1 << 22);
  uint64_t h = 14695981039346656037ull, n = 0;
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    const auto got = std::size_t(in.gcount());
    std::size_t i = 0;
    for (; i + 8 <= got; i += 8) {  // FNV-1a over 64-bit words: GB/s, enough to notice any change
      uint64_t w;
      std::memcpy(&w, buffer.data() + i, 8);
      h = (h ^ w) * 1099511628211ull;
    }
    for (; i < got; ++i) h = (h ^ uint8_t(buffer[i])) * 1099511628211ull;
    n += got;
  }
  return fmt::format("{:016x}", mix64(h ^ n));
}

std::optional<FileState> stat_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  FileState s;
  s.path = path;
  s.size = fs::file_size(path, ec);
  s.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(fs::last_write_time(path, ec).time_since_epoch())
                   .count();
  return s;
}

// The state of `path`, its checksum reused from `known` when size and time agree.
std::optional<FileState> fingerprint(const std::string& path, const std::map<std::string, FileState>& known) {
  auto s = stat_file(path);
  if (!s) return s;
  const auto it = known.find(path);
  if (it != known.end() && it->second.size == s->size && it->second.mtime_ns == s->mtime_ns)
    s->checksum = it->second.checksum;
  else
    s->checksum = content_checksum(path);
  return s;
}

// ---- manifest records (DIR/manifest/<stage>.txt) ---------------------------
struct StageRecord {
  std::string stage, config_hash, code_version;
  std::vector<FileState> inputs, outputs;
  double seconds = 0;
};

std::string record_text(const StageRecord& r) {
  std::string t = fmt::format("stage {}\nconfig_hash {}\ncode_version {}\nseconds {}\n", r.stage, r.config_hash,
                              r.code_version, r.seconds);
  for (const auto& f : r.inputs) t += fmt::format("input {} {} {} {}\n", f.checksum, f.size, f.mtime_ns, f.path);
  for (const auto& f : r.outputs) t += fmt::format("output {} {} {} {}\n", f.checksum, f.size, f.mtime_ns, f.path);
  return t;
}

std::optional<StageRecord> read_record(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  StageRecord r;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "stage") ls >> r.stage;
    else if (key == "config_hash") ls >> r.config_hash;
    else if (key == "code_version") ls >> r.code_version;
    else if (key == "seconds") ls >> r.seconds;
    else if (key == "input" || key == "output") {
      FileState f;
      ls >> f.checksum >> f.size >> f.mtime_ns;
      std::getline(ls >> std::ws, f.path);
      if (!ls && f.path.empty()) return std::nullopt;  // damaged: treated as no record
      (key == "input" ? r.inputs : r.outputs).push_back(f);
    }
  }
  return r;
}

std::string code_version() { return BSMHUNT_VERSION; }

// ---- job files ---------------------------------------------------------------
const Command& command_named(const std::string& name) {
  for (const auto& c : commands())
    if (c.name == name) return c;
  throw InternalError(fmt::format("no command '{}'", name));
}

struct PlannedStage {
  const JobStage* stage = nullptr;
  std::string label;  // names this stage's files: train:bdt -> bdt_model.h5
  std::vector<std::string> args;
  std::vector<std::string> inputs, outputs, optional_outputs;
  std::string checkpoint;  // train only
};

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

std::string significance_h5(const std::string& output) {
  const fs::path p(output);
  return p.extension() == ".json" ? fs::path(p).replace_extension(".h5").string() : output + ".h5";
}

// The arguments of every stage: the section's options, then the paths that connect
// the stages (DIR/events.h5 -> DIR/features.h5 -> DIR/LABEL_model.h5 -> ...) where
// the section does not give them.
std::vector<PlannedStage> plan(const Job& job, const std::string& dir, const std::string& log_level) {
  const auto path = [&](const std::string& file) { return (fs::path(dir) / file).string(); };
  std::string events = path("events.h5"), features = path("features.h5");
  std::string plain_train_label = "model";
  for (const auto& s : job.stages) {
    if (s.kind == "generate") events = option_or(s, "output", events);
    if (s.kind == "extract" || s.kind == "import") features = option_or(s, "output", features);
    if (s.kind == "train" && s.tag.empty()) plain_train_label = option_or(s, "model", "mlp");
  }
  std::vector<PlannedStage> out;
  std::vector<std::string> all_outputs;
  std::vector<std::string> report_args;
  for (const auto& s : job.stages) {
    PlannedStage p;
    p.stage = &s;
    p.label = !s.tag.empty() ? s.tag
              : (s.kind == "train" || s.kind == "predict" || s.kind == "significance") ? plain_train_label
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
    } else if (s.kind == "import") {
      p.inputs = {option_or(s, "input", "")};
      p.outputs = {def("output", features)};
      p.optional_outputs = {features + ".cutflow.json"};
    } else if (s.kind == "extract") {
      p.inputs = {def("input", events)};
      p.outputs = {def("output", features)};
      p.optional_outputs = {features + ".cutflow.json"};
      report_args.push_back("--cutflow=" + features + ".cutflow.json");
    } else if (s.kind == "train") {
      p.inputs = {def("features", features)};
      const std::string o = def("output", model);
      p.outputs = {o};
      p.optional_outputs = {o + ".history.csv"};
      p.checkpoint = option_or(s, "checkpoint", o + ".checkpoint.h5");
      // Boosting writes no epoch history; the report reads its rounds from the model.
      report_args.push_back(fmt::format("--history={}={}", p.label,
                                        option_or(s, "model", "mlp") == "bdt" ? o : o + ".history.csv"));
    } else if (s.kind == "predict") {
      p.inputs = {def("model", model), def("features", features)};
      p.outputs = {def("output", scores)};
      report_args.push_back(fmt::format("--scores={}={}", p.label, p.outputs[0]));
    } else if (s.kind == "significance") {
      p.inputs = {def("scores", scores), def("features", features)};
      const std::string o = def("output", path(p.label + "_significance.json"));
      p.outputs = {o, option_or(s, "output-h5", significance_h5(o))};
      report_args.push_back(fmt::format("--significance={}", o));
    } else if (s.kind == "fit") {
      p.inputs = {option_or(s, "input", "")};
      p.outputs = {def("output", path(p.label + ".json"))};
      if (has_option(s, "output-h5")) p.outputs.push_back(option_or(s, "output-h5", ""));
      report_args.push_back(fmt::format("--fit={}", p.outputs[0]));
    } else if (s.kind == "bumphunt") {
      p.inputs = {def("features", features)};
      p.outputs = {def("output", path(p.label + ".json"))};
      report_args.push_back(fmt::format("--bumphunt={}", p.outputs[0]));
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

}  // namespace

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

int run_job(const RunConfig& rc, const dist::Communicator& comm) {
  Job job;
  dist::collectively(comm, [&] { job = read_job(rc.job); });
  const std::string dir = rc.output_dir.empty() ? job.output_dir : rc.output_dir;
  const auto stages = plan(job, dir, rc.log_level);
  const auto index_of = [&](const std::string& name, const char* option) {
    for (std::size_t i = 0; i < stages.size(); ++i)
      if (stages[i].stage->name == name) return i;
    for (std::size_t i = 0; i < stages.size(); ++i)
      if (stages[i].stage->kind == name) return i;
    std::vector<std::string> names;
    for (const auto& s : stages) names.push_back(s.stage->name);
    throw InputError(fmt::format("{} '{}': {} has no such stage{} (stages: {})", option, name, rc.job,
                                 did_you_mean(name, names), join(names, ", ")));
  };
  const std::size_t first = rc.from.empty() ? 0 : index_of(rc.from, "--from");
  const std::size_t last = rc.until.empty() ? stages.size() - 1 : index_of(rc.until, "--until");
  if (first > last) throw InputError(fmt::format("--from {} comes after --until {}", rc.from, rc.until));
  dist::collectively(comm, [&] {
    if (comm.is_root()) fs::create_directories(fs::path(dir) / "manifest");
  });
  const auto record_path = [&](const PlannedStage& p) { return (fs::path(dir) / "manifest" / (p.stage->name + ".txt")).string(); };
  const auto started_path = [&](const PlannedStage& p) {
    return (fs::path(dir) / "manifest" / (p.stage->name + ".started")).string();
  };

  log::info("job {} ({}): {} stages, outputs in {}", job.name, rc.job, stages.size(), dir);
  std::map<std::string, FileState> known;  // fingerprints from every record, to reuse checksums
  std::vector<std::pair<std::string, std::string>> summary;  // stage, what happened
  const auto t_job = std::chrono::steady_clock::now();
  for (std::size_t i = first; i <= last; ++i) {
    const PlannedStage& p = stages[i];
    const std::string config_hash = fmt::format("{:016x}", mix64(stable_hash(join(p.args, "\n").c_str())));
    // Rank 0 decides from the files; every rank follows.
    std::string decision = "run";
    dist::collectively(comm, [&] {
      if (!comm.is_root()) return;
      const auto rec = read_record(record_path(p));
      if (rec)
        for (const auto& f : rec->inputs) known[f.path] = f;
      if (rec)
        for (const auto& f : rec->outputs) known[f.path] = f;
      if (rc.force || !rec) return;
      if (rec->config_hash != config_hash) return void(decision = "run (configuration changed)");
      if (rec->code_version != code_version()) return void(decision = "run (new code version)");
      for (const auto& f : rec->outputs) {
        const auto now = stat_file(f.path);
        if (!now || now->size != f.size || now->mtime_ns != f.mtime_ns)
          return void(decision = fmt::format("run (output {} missing or changed)", f.path));
      }
      for (const auto& f : rec->inputs) {
        const auto now = fingerprint(f.path, known);
        if (!now || now->checksum != f.checksum)
          return void(decision = fmt::format("run (input {} changed)", f.path));
      }
      decision = "skip";
    });
    comm.broadcast(decision);
    if (rc.dry_run) {
      if (comm.is_root())
        fmt::print("{:<16} {}\n    bsmhunt {} {}\n", p.stage->name, decision, p.stage->kind, join(p.args, " "));
      continue;
    }
    if (decision == "skip") {
      log::info("stage {}: complete with the same inputs and configuration, skipped", p.stage->name);
      summary.emplace_back(p.stage->name, "skipped (complete)");
      continue;
    }
    std::vector<std::string> args = p.args;
    // Training continues from its checkpoint when the interrupted attempt had the same
    // configuration; a checkpoint of another configuration is removed.
    if (!p.checkpoint.empty()) {
      std::string resume = "no";
      dist::collectively(comm, [&] {
        if (!comm.is_root()) return;
        std::ifstream in(started_path(p));
        std::string started;
        in >> started;
        std::error_code ec;
        if (fs::exists(p.checkpoint, ec)) {
          if (started == config_hash && !rc.force) resume = "yes";
          else fs::remove(p.checkpoint, ec);
        }
      });
      comm.broadcast(resume);
      if (resume == "yes") {
        args.push_back("--resume=true");
        log::info("stage {}: continuing from the checkpoint {}", p.stage->name, p.checkpoint);
      }
    }
    dist::collectively(comm, [&] {
      if (!comm.is_root()) return;
      std::error_code ec;
      fs::remove(record_path(p), ec);  // incomplete until the new record is written
      json::write_text_atomically(started_path(p), config_hash + "\n");
    });
    log::info("stage {}: {}", p.stage->name, decision);
    if (comm.is_root()) log::debug("bsmhunt {} {}", p.stage->kind, join(args, " "));
    const Command& command = command_named(p.stage->kind);
    po::variables_map vm;
    try {
      parse_command_line(command, args, vm, false);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{} [{}]: {}", rc.job, p.stage->name, e.what()));
    }
    const auto t0 = std::chrono::steady_clock::now();
    const int code = command.run(vm, comm);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (code != 0) {
      if (code == kInterruptedExitCode)
        log::warn("stage {} interrupted; run the same command again to continue from its checkpoint", p.stage->name);
      return code;
    }
    dist::collectively(comm, [&] {
      if (!comm.is_root()) return;
      StageRecord r;
      r.stage = p.stage->name, r.config_hash = config_hash, r.code_version = code_version(), r.seconds = seconds;
      for (const auto& f : p.inputs) {
        if (f.empty()) continue;
        const auto s = fingerprint(f, known);
        if (!s) throw Error(fmt::format("stage {}: input {} vanished", p.stage->name, f));
        r.inputs.push_back(*s);
      }
      for (const auto& f : p.outputs) {
        const auto s = fingerprint(f, known);
        if (!s) throw InternalError(fmt::format("stage {} did not write {}", p.stage->name, f));
        r.outputs.push_back(*s);
      }
      for (const auto& f : p.optional_outputs)
        if (const auto s = fingerprint(f, known)) r.outputs.push_back(*s);
      for (const auto& f : r.outputs) known[f.path] = f;
      json::write_text_atomically(record_path(p), record_text(r));
      std::error_code ec;
      fs::remove(started_path(p), ec);
    });
    summary.emplace_back(p.stage->name, human_duration(seconds));
  }
  if (rc.dry_run) return 0;

  // A readable manifest of the whole job beside the outputs.
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    std::string j = fmt::format("{{\n  \"format\": \"bsmhunt.manifest\", \"job\": {}, \"job_file\": {}, "
                                "\"code_version\": {}, \"ranks\": {},\n  \"stages\": [\n",
                                json::quote(job.name), json::quote(rc.job), json::quote(code_version()), comm.size());
    for (std::size_t i = 0; i < stages.size(); ++i) {
      const auto rec = read_record(record_path(stages[i]));
      j += fmt::format("    {{\"stage\": {}, \"command\": {}, \"complete\": {}", json::quote(stages[i].stage->name),
                       json::quote("bsmhunt " + stages[i].stage->kind + " " + join(stages[i].args, " ")),
                       rec ? "true" : "false");
      if (rec) {
        j += fmt::format(", \"config_hash\": {}, \"seconds\": {}", json::quote(rec->config_hash), rec->seconds);
        for (const char* what : {"inputs", "outputs"}) {
          const auto& files = std::string(what) == "inputs" ? rec->inputs : rec->outputs;
          j += fmt::format(", \"{}\": [", what);
          for (std::size_t k = 0; k < files.size(); ++k)
            j += fmt::format("{}{{\"path\": {}, \"size\": {}, \"checksum\": {}}}", k ? ", " : "",
                             json::quote(files[k].path), files[k].size, json::quote(files[k].checksum));
          j += "]";
        }
      }
      j += fmt::format("}}{}\n", i + 1 < stages.size() ? "," : "");
    }
    j += "  ]\n}\n";
    json::write_text_atomically((fs::path(dir) / "manifest.json").string(), j);
  });
  if (comm.is_root()) {
    std::string t = fmt::format("\njob {} done in {} on {} ranks:\n", job.name,
                                human_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_job).count()),
                                comm.size());
    for (const auto& [stage, what] : summary) t += fmt::format("  {:<20} {}\n", stage, what);
    std::cout << t << std::flush;
  }
  return 0;
}

void add_run_options(po::options_description& d) {
  d.add_options()
      ("job", po::value<std::string>()->default_value(""), "job file (positional), e.g. jobs/quickstart.ini")
      ("from", po::value<std::string>()->default_value(""), "first stage to consider (section name, e.g. train:bdt)")
      ("until", po::value<std::string>()->default_value(""), "last stage to consider")
      ("force", po::value<bool>()->default_value(false)->implicit_value(true),
       "rerun the selected stages even when complete (training starts afresh)")
      ("output-dir", po::value<std::string>()->default_value(""), "directory of the outputs (default: [job] output-dir)")
      ("dry-run", po::value<bool>()->default_value(false)->implicit_value(true),
       "print each stage's command and whether it would run or be skipped");
}

int run_run_command(const po::variables_map& vm, const dist::Communicator& comm) {
  RunConfig c;
  c.job = get<std::string>(vm, "job");
  if (c.job.empty()) throw InputError("bsmhunt run: give a job file, e.g. 'bsmhunt run jobs/quickstart.ini'");
  c.from = get<std::string>(vm, "from");
  c.until = get<std::string>(vm, "until");
  c.force = get<bool>(vm, "force");
  c.output_dir = get<std::string>(vm, "output-dir");
  c.dry_run = get<bool>(vm, "dry-run");
  c.log_level = get<std::string>(vm, "log-level");
  return run_job(c, comm);
}

// ---- report -------------------------------------------------------------------
void add_report_options(po::options_description& d) {
  const char* env = std::getenv("BSMHUNT_REPORT_SCRIPT");
  d.add_options()
      ("output-dir", po::value<std::string>()->default_value(""), "directory for the PNG plots and index.html")
      ("title", po::value<std::string>()->default_value("bsmhunt report"), "page title")
      ("events", po::value<std::string>()->default_value(""), "event file (luminosity, samples)")
      ("features", po::value<std::string>()->default_value(""), "feature file (stacked distributions)")
      ("cutflow", po::value<std::string>()->default_value(""), "cutflow JSON written by extract")
      ("scores", po::value<std::vector<std::string>>()->composing(), "LABEL=SCORES.h5, repeatable")
      ("history", po::value<std::vector<std::string>>()->composing(), "LABEL=MODEL.h5.history.csv, repeatable")
      ("significance", po::value<std::vector<std::string>>()->composing(), "significance JSON, repeatable")
      ("fit", po::value<std::vector<std::string>>()->composing(), "fit JSON, repeatable")
      ("bumphunt", po::value<std::string>()->default_value(""), "bumphunt JSON")
      ("plot-features", po::value<std::string>()->default_value(""), "features to plot (default: a physics selection)")
      ("signals", po::value<std::string>()->default_value(""), "signal samples to overlay, glob patterns")
      ("python", po::value<std::string>()->default_value("/usr/bin/python3"),
       "Python with numpy, h5py and matplotlib (Debian's)")
      ("script", po::value<std::string>()->default_value(env ? env : BSMHUNT_SOURCE_DIR "/tools/plot/report.py"),
       "the report script")
      ("overwrite", po::value<bool>()->default_value(false)->implicit_value(true), "replace an existing report");
}

int run_report_command(const po::variables_map& vm, const dist::Communicator& comm) {
  const std::string out = get<std::string>(vm, "output-dir");
  if (out.empty()) throw InputError("bsmhunt report: --output-dir DIR is required");
  std::vector<std::string> argv = {get<std::string>(vm, "python"), get<std::string>(vm, "script"), "--output-dir", out,
                                   "--title", get<std::string>(vm, "title")};
  for (const char* key : {"events", "features", "cutflow", "bumphunt", "plot-features", "signals"}) {
    const std::string v = get<std::string>(vm, key);
    if (!v.empty()) argv.insert(argv.end(), {std::string("--") + key, v});
  }
  for (const char* key : {"scores", "history", "significance", "fit"})
    if (vm.count(key))
      for (const auto& v : get<std::vector<std::string>>(vm, key)) argv.insert(argv.end(), {std::string("--") + key, v});
  int status = 0;
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    std::error_code ec;
    if (fs::exists(fs::path(out) / "index.html", ec) && !get<bool>(vm, "overwrite"))
      throw InputError(fmt::format("{}/index.html exists; give --overwrite to replace the report", out));
    if (!fs::exists(argv[1], ec)) throw InputError(fmt::format("report script {} not found (--script)", argv[1]));
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ) != 0)
      throw InputError(fmt::format("cannot start {} (--python)", argv[0]));
    int ws = 0;
    waitpid(pid, &ws, 0);
    status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    if (status != 0) throw InputError(fmt::format("the report script failed (exit {}); see its message above", status));
  });
  log::info("report written to {}/index.html", out);
  return 0;
}

}  // namespace bsmhunt::pipeline
