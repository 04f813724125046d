// bsmhunt run: a job file's stages in order with a manifest per stage, so that a
// rerun skips complete stages and continues an interrupted one (training from its
// checkpoint).
#include "bsmhunt/pipeline/Run.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "../Build.hpp"
#include "Manifest.hpp"
#include "../StopSignals.hpp"
#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/pipeline/Train.hpp"

namespace bsmhunt::pipeline {

namespace fs = std::filesystem;

namespace {

// The stages of a job and where their records live.
class JobRunner {
 public:
  JobRunner(const dist::Communicator& comm, const RunConfig& rc, Job job)
      : comm_(comm), rc_(rc), job_(std::move(job)) {
    dir_ = rc.output_dir.empty() ? job_.output_dir : rc.output_dir;
    stages_ = plan_job(job_, dir_, rc.log_level);
  }
  int run();

 private:
  std::size_t index_of(const std::string& name, const char* option) const;
  std::string record_path(const PlannedStage& p) const {
    return (fs::path(dir_) / "manifest" / (p.stage->name + ".txt")).string();
  }
  std::string started_path(const PlannedStage& p) const {
    return (fs::path(dir_) / "manifest" / (p.stage->name + ".started")).string();
  }
  // "skip", "run" or "run (why)", decided on rank 0 from the files, followed by all.
  std::string decide(const PlannedStage& p, const std::string& config_hash);
  // --resume=true when an interrupted attempt of the same configuration left a
  // checkpoint; a checkpoint of another configuration is removed.
  std::vector<std::string> resume_arguments(const PlannedStage& p, const std::string& config_hash);
  int run_stage(const PlannedStage& p, const std::vector<std::string>& args, double& seconds);
  void record(const PlannedStage& p, const std::string& config_hash, double seconds);
  void write_manifest();

  const dist::Communicator& comm_;
  const RunConfig& rc_;
  Job job_;
  std::string dir_;
  std::vector<PlannedStage> stages_;
  std::map<std::string, FileState> known_;  // fingerprints from every record, to reuse checksums
};

std::size_t JobRunner::index_of(const std::string& name, const char* option) const {
  for (std::size_t i = 0; i < stages_.size(); ++i)
    if (stages_[i].stage->name == name) return i;
  for (std::size_t i = 0; i < stages_.size(); ++i)
    if (stages_[i].stage->kind == name) return i;
  std::vector<std::string> names;
  for (const auto& s : stages_) names.push_back(s.stage->name);
  throw InputError(fmt::format("{} '{}': {} has no such stage{} (stages: {})", option, name, rc_.job,
                               did_you_mean(name, names), join(names, ", ")));
}

std::string JobRunner::decide(const PlannedStage& p, const std::string& config_hash) {
  std::string decision = "run";
  dist::collectively(comm_, [&] {
    if (!comm_.is_root()) return;
    const auto rec = read_record(record_path(p));
    if (rec) {
      for (const auto& f : rec->inputs) known_[f.path] = f;
      for (const auto& f : rec->outputs) known_[f.path] = f;
    }
    if (rc_.force || !rec) return;
    if (rec->config_hash != config_hash) return void(decision = "run (configuration changed)");
    if (rec->build != build_id()) {
      const std::string made_by = rec->build.empty() ? "an unrecorded build" : "build " + rec->build;
      if (!rc_.keep_stale) return void(decision = fmt::format("run (made by {}, this is {})", made_by, build_id()));
      log::warn("stage {}: kept although made by {} (this is {}): --keep-stale", p.stage->name, made_by, build_id());
    }
    for (const auto& f : rec->outputs) {
      const auto now = stat_file(f.path);
      if (!now || now->size != f.size || now->mtime_ns != f.mtime_ns)
        return void(decision = fmt::format("run (output {} missing or changed)", f.path));
    }
    for (const auto& f : rec->inputs) {
      const auto now = fingerprint(f.path, known_);
      if (!now || now->checksum != f.checksum) return void(decision = fmt::format("run (input {} changed)", f.path));
    }
    decision = "skip";
  });
  comm_.broadcast(decision);
  return decision;
}

std::vector<std::string> JobRunner::resume_arguments(const PlannedStage& p, const std::string& config_hash) {
  std::vector<std::string> args = p.args;
  if (p.checkpoint.empty()) return args;
  std::string resume = "no";
  dist::collectively(comm_, [&] {
    if (!comm_.is_root()) return;
    std::ifstream in(started_path(p));
    std::string started;
    in >> started;
    std::error_code ec;
    // k-fold training (train --folds) leaves the models of completed folds and the
    // checkpoint of the one it was in: OUTPUT.foldK.h5[.checkpoint.h5], K = 0, 1, ...
    std::vector<std::string> state;
    if (fs::exists(p.checkpoint, ec)) state.push_back(p.checkpoint);
    for (int k = 0; !p.outputs.empty(); ++k) {
      const std::string fold = fmt::format("{}.fold{}.h5", p.outputs[0], k);
      const bool model = fs::exists(fold, ec), checkpoint = fs::exists(fold + ".checkpoint.h5", ec);
      if (model) state.push_back(fold);
      if (checkpoint) state.push_back(fold + ".checkpoint.h5");
      if (!model && !checkpoint) break;
    }
    if (!state.empty()) {
      if (started == config_hash && !rc_.force) resume = "yes";
      else
        for (const auto& f : state) fs::remove(f, ec);
    }
  });
  comm_.broadcast(resume);
  if (resume == "yes") {
    args.push_back("--resume=true");
    log::info("stage {}: continuing from the checkpoint {} (or the completed folds beside {})", p.stage->name,
              p.checkpoint, p.outputs.empty() ? std::string("-") : p.outputs[0]);
  }
  return args;
}

int JobRunner::run_stage(const PlannedStage& p, const std::vector<std::string>& args, double& seconds) {
  if (comm_.is_root()) log::debug("bsmhunt {} {}", p.stage->kind, join(args, " "));
  const Command& command = command_named(p.stage->kind);
  po::variables_map vm;
  try {
    parse_command_line(command, args, vm, false);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{} [{}]: {}", rc_.job, p.stage->name, e.what()));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int code = command.run(vm, comm_);
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return code;
}

void JobRunner::record(const PlannedStage& p, const std::string& config_hash, double seconds) {
  dist::collectively(comm_, [&] {
    if (!comm_.is_root()) return;
    StageRecord r;
    r.stage = p.stage->name, r.config_hash = config_hash, r.build = build_id(), r.seconds = seconds;
    for (const auto& f : p.inputs) {
      if (f.empty()) continue;
      const auto s = fingerprint(f, known_);
      if (!s) throw Error(fmt::format("stage {}: input {} vanished", p.stage->name, f));
      r.inputs.push_back(*s);
    }
    for (const auto& f : p.outputs) {
      const auto s = fingerprint(f, known_);
      if (!s) throw InternalError(fmt::format("stage {} did not write {}", p.stage->name, f));
      r.outputs.push_back(*s);
    }
    for (const auto& f : p.optional_outputs)
      if (const auto s = fingerprint(f, known_)) r.outputs.push_back(*s);
    for (const auto& f : r.outputs) known_[f.path] = f;
    write_file_atomically(record_path(p), record_text(r));
    std::error_code ec;
    fs::remove(started_path(p), ec);
  });
}

void JobRunner::write_manifest() {
  dist::collectively(comm_, [&] {
    if (!comm_.is_root()) return;
    std::vector<std::optional<StageRecord>> records;
    for (const auto& p : stages_) records.push_back(read_record(record_path(p)));
    write_job_manifest((fs::path(dir_) / "manifest.json").string(), job_, rc_.job, stages_, records, comm_.size());
  });
}

int JobRunner::run() {
  const std::size_t first = rc_.from.empty() ? 0 : index_of(rc_.from, "--from");
  const std::size_t last = rc_.until.empty() ? stages_.size() - 1 : index_of(rc_.until, "--until");
  if (first > last) throw InputError(fmt::format("--from {} comes after --until {}", rc_.from, rc_.until));
  dist::collectively(comm_, [&] {
    if (comm_.is_root()) fs::create_directories(fs::path(dir_) / "manifest");
  });
  log::info("job {} ({}): {} stages, outputs in {}", job_.name, rc_.job, stages_.size(), dir_);
  std::vector<std::pair<std::string, std::string>> summary;  // stage, what happened
  const auto t_job = std::chrono::steady_clock::now();
  // A signal during a stage without stop points (significance, fit, ...) lets it finish
  // and be recorded; the job stops before the next stage.
  StopSignals signals;
  for (std::size_t i = first; i <= last; ++i) {
    const PlannedStage& p = stages_[i];
    if (!rc_.dry_run && comm_.max(double(StopSignals::signal())) > 0)
      throw Interrupted(fmt::format("run: stopped by signal {} before stage {}; the stages before it are complete and "
                                    "recorded; run the same command again",
                                    int(comm_.max(double(StopSignals::signal()))), p.stage->name));
    const std::string config_hash = fmt::format("{:016x}", mix64(stable_hash(join(p.args, "\n").c_str())));
    const std::string decision = decide(p, config_hash);
    if (rc_.dry_run) {
      if (comm_.is_root())
        fmt::print("{:<16} {}\n    bsmhunt {} {}\n", p.stage->name, decision, p.stage->kind, join(p.args, " "));
      continue;
    }
    if (decision == "skip") {
      log::info("stage {}: complete with the same inputs and configuration, skipped", p.stage->name);
      summary.emplace_back(p.stage->name, "skipped (complete)");
      continue;
    }
    const std::vector<std::string> args = resume_arguments(p, config_hash);
    dist::collectively(comm_, [&] {
      if (!comm_.is_root()) return;
      std::error_code ec;
      fs::remove(record_path(p), ec);  // incomplete until the new record is written
      write_file_atomically(started_path(p), config_hash + "\n");
    });
    log::info("stage {}: {}", p.stage->name, decision);
    double seconds = 0;
    if (const int code = run_stage(p, args, seconds); code != 0) {
      if (code == kInterruptedExitCode)
        log::warn("stage {} interrupted; run the same command again to continue from its checkpoint", p.stage->name);
      return code;
    }
    record(p, config_hash, seconds);
    summary.emplace_back(p.stage->name, human_duration(seconds));
  }
  if (rc_.dry_run) return 0;
  write_manifest();
  if (comm_.is_root()) {
    std::string t = fmt::format("\njob {} done in {} on {} ranks:\n", job_.name,
                                human_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_job).count()),
                                comm_.size());
    for (const auto& [stage, what] : summary) t += fmt::format("  {:<20} {}\n", stage, what);
    std::cout << t << std::flush;
  }
  return 0;
}

}  // namespace

void add_run_options(po::options_description& d) {
  d.add_options()
      ("job", po::value<std::string>()->default_value(""), "job file (positional), e.g. jobs/quickstart.ini")
      ("from", po::value<std::string>()->default_value(""), "first stage to consider (section name, e.g. train:bdt)")
      ("until", po::value<std::string>()->default_value(""), "last stage to consider")
      ("force", switch_value(), "rerun the selected stages even when complete (training starts afresh)")
      ("keep-stale", switch_value(),
       "keep complete stages made by another build of bsmhunt (with a warning naming both) instead of redoing them")
      ("output-dir", po::value<std::string>()->default_value(""), "directory of the outputs (default: [job] output-dir)")
      ("dry-run", switch_value(), "print each stage's command and whether it would run or be skipped");
}

RunConfig run_config_from(const po::variables_map& vm) {
  RunConfig c;
  c.job = required(vm, "job", "bsmhunt run: give a job file, e.g. 'bsmhunt run jobs/quickstart.ini'");
  c.from = option<std::string>(vm, "from");
  c.until = option<std::string>(vm, "until");
  c.force = option<bool>(vm, "force");
  c.keep_stale = option<bool>(vm, "keep-stale");
  c.output_dir = option<std::string>(vm, "output-dir");
  c.dry_run = option<bool>(vm, "dry-run");
  c.log_level = option<std::string>(vm, "log-level");
  return c;
}

int run_job(const dist::Communicator& comm, const RunConfig& rc) {
  Job job;
  dist::collectively(comm, [&] { job = read_job(rc.job); });
  return JobRunner(comm, rc, std::move(job)).run();
}

}  // namespace bsmhunt::pipeline
