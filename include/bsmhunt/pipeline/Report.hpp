#pragma once
// `bsmhunt report`: the plots and the HTML page of a job's outputs, drawn by
// tools/plot/report.py (matplotlib) on rank 0.
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

struct ReportConfig {
  std::string output_dir;
  std::vector<std::string> argv;  // the script's command line: python, script, its options
  bool overwrite = false;
};

void add_report_options(po::options_description& options);
ReportConfig report_config_from(const po::variables_map& vm);
int run_report(const dist::Communicator& comm, const ReportConfig& config);

}  // namespace bsmhunt::pipeline
