#pragma once
// `bsmhunt run JOB.ini`: the stages of a job file in order, all ranks together, with
// a manifest that makes a rerun skip what is complete and continue what is not
// (docs/pipeline.md).
#include <string>
#include <utility>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

// One [section] of a job file: a stage ("train") or a named instance ("train:bdt").
struct JobStage {
  std::string name;  // section name
  std::string kind;  // the command: the part before ':'
  std::string tag;   // the part after ':' ("" for a plain section)
  std::vector<std::pair<std::string, std::string>> options;  // in file order
};

struct Job {
  std::string path, name, output_dir, description;
  std::vector<JobStage> stages;  // in the order they run
};

// Stages `run` knows, in their natural order.
const std::vector<std::string>& stage_kinds();

// Reads and checks a job file: [job] (name, output-dir, stages) and one section per
// stage. InputError naming the file, section and key for anything unknown.
Job read_job(const std::string& path);

// A stage with its full command line: the section's options, then the paths that
// connect the stages (DIR/events.h5 -> DIR/features.h5 -> DIR/LABEL_model.h5 -> ...)
// where the section does not give them, and the files it reads and writes.
struct PlannedStage {
  const JobStage* stage = nullptr;
  std::string label;  // names this stage's files: train:bdt -> bdt_model.h5
  std::vector<std::string> args;
  std::vector<std::string> inputs, outputs, optional_outputs;
  std::string checkpoint;  // train only
};
std::vector<PlannedStage> plan_job(const Job& job, const std::string& output_dir, const std::string& log_level);

struct RunConfig {
  std::string job;
  std::string from, until;  // stage names (section names or kinds); "" = first / last
  bool force = false;       // rerun the selected stages even when complete
  bool keep_stale = false;  // keep complete stages made by another build (warn instead of redoing)
  std::string output_dir;   // overrides [job] output-dir
  bool dry_run = false;     // print what would run
  std::string log_level = "info";  // passed on to every stage
};

void add_run_options(po::options_description& options);
RunConfig run_config_from(const po::variables_map& vm);

// Collective. Returns 0, or the exit code of an interrupted stage (75: run again).
int run_job(const dist::Communicator& comm, const RunConfig& config);

}  // namespace bsmhunt::pipeline
