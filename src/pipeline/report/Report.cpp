// bsmhunt report: runs the report script on rank 0 with the job's outputs.
#include "bsmhunt/pipeline/Report.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "../PythonTool.hpp"


namespace bsmhunt::pipeline {

namespace fs = std::filesystem;

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
      ("limits", po::value<std::vector<std::string>>()->composing(), "limits JSON (bsmhunt limits), repeatable")
      ("fit", po::value<std::vector<std::string>>()->composing(), "fit JSON, repeatable")
      ("efficiencies", po::value<std::vector<std::string>>()->composing(), "efficiencies JSON, repeatable")
      ("datamc", po::value<std::string>()->default_value(""), "data/MC agreement JSON (bsmhunt datamc)")
      ("anomaly", po::value<std::vector<std::string>>()->composing(),
       "LABEL=ANOMALY.json (bsmhunt anomaly), repeatable: one per score (autoencoders, supervised bounds)")
      ("images", po::value<std::string>()->default_value(""), "images file (bsmhunt images)")
      ("bumphunt", po::value<std::string>()->default_value(""), "bumphunt JSON")
      ("plot-features", po::value<std::string>()->default_value(""), "features to plot (default: a physics selection)")
      ("signals", po::value<std::string>()->default_value(""), "signal samples to overlay, glob patterns")
      ("python", po::value<std::string>()->default_value("/usr/bin/python3"),
       "Python with numpy, h5py and matplotlib (Debian's)")
      ("script", po::value<std::string>()->default_value(env ? env : BSMHUNT_SOURCE_DIR "/tools/plot/report.py"),
       "the report script")
      ("overwrite", switch_value(), "replace an existing report");
}

ReportConfig report_config_from(const po::variables_map& vm) {
  ReportConfig c;
  c.output_dir = required(vm, "output-dir", "bsmhunt report: --output-dir DIR is required");
  c.argv = {option<std::string>(vm, "python"), option<std::string>(vm, "script"), "--output-dir", c.output_dir,
            "--title", option<std::string>(vm, "title")};
  for (const char* key : {"events", "features", "cutflow", "bumphunt", "images", "datamc", "plot-features", "signals"}) {
    const std::string v = option<std::string>(vm, key);
    if (!v.empty()) c.argv.insert(c.argv.end(), {std::string("--") + key, v});
  }
  for (const char* key : {"scores", "history", "significance", "limits", "fit", "efficiencies", "anomaly"})
    if (vm.count(key))
      for (const auto& v : option<std::vector<std::string>>(vm, key)) c.argv.insert(c.argv.end(), {std::string("--") + key, v});
  c.overwrite = option<bool>(vm, "overwrite");
  return c;
}

int run_report(const dist::Communicator& comm, const ReportConfig& c) {
  // The Python report can take minutes on rank 0; the other ranks wait unwatched.
  dist::collectively_long(comm, [&] {
    if (!comm.is_root()) return;
    std::error_code ec;
    if (fs::exists(fs::path(c.output_dir) / "index.html", ec) && !c.overwrite)
      throw InputError(fmt::format("{}/index.html exists; give --overwrite to replace the report", c.output_dir));
    if (!fs::exists(c.argv[1], ec)) throw InputError(fmt::format("report script {} not found (--script)", c.argv[1]));
    run_python_tool(c.argv, "the report script");
  });
  log::info("report written to {}/index.html", c.output_dir);
  return 0;
}

}  // namespace bsmhunt::pipeline
