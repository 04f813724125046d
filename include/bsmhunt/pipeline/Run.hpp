#pragma once
// `bsmhunt run JOB.ini`: the stages of a job file in order, all ranks together, with
// a manifest that makes a rerun skip what is complete and continue what is not
// (docs/pipeline.md).
#include <string>
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

// Reads and checks a job file: [job] (name, output-dir, stages) and one section per
// stage. InputError naming the file, section and key for anything unknown.
Job read_job(const std::string& path);

struct RunConfig {
  std::string job;
  std::string from, until;  // stage names (section names or kinds); "" = first / last
  bool force = false;       // rerun the selected stages even when complete
  std::string output_dir;   // overrides [job] output-dir
  bool dry_run = false;     // print what would run
  std::string log_level = "info";  // passed on to every stage
};

// Collective. Returns 0, or the exit code of an interrupted stage (75: run again).
int run_job(const RunConfig& config, const dist::Communicator& comm);

void add_run_options(po::options_description& d);
int run_run_command(const po::variables_map& vm, const dist::Communicator& comm);

// `bsmhunt report`: the plots and the HTML page of a job's outputs (tools/plot/report.py).
void add_report_options(po::options_description& d);
int run_report_command(const po::variables_map& vm, const dist::Communicator& comm);

}  // namespace bsmhunt::pipeline
