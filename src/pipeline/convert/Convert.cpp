// bsmhunt convert: object-level ROOT trees -> event file (docs/import.md). The
// ranks convert the samples in turn with the uproot helper, rank 0 assembles them
// into NAME.partial, every rank validates it as inspect does, then it is renamed.
#include "../Build.hpp"
#include "bsmhunt/pipeline/Convert.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "../PythonTool.hpp"
#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/pipeline/Inspect.hpp"

namespace bsmhunt::pipeline {
namespace fs = std::filesystem;

int run_convert(const dist::Communicator& comm, const ConvertConfig& c) {
  const fs::path output = c.output, partial = partial_path(output);
  dist::collectively(comm, [&] {
    if (!comm.is_root()) return;
    std::error_code ec;
    if (fs::exists(output, ec) && !c.overwrite)
      throw InputError(fmt::format("{} exists; give --overwrite to replace it", output.string()));
    fs::remove(partial);
  });
  const InteropTool tool = resolve_interop_tool(comm, c.python, c.interop_script);
  StagingDirectory staging(comm, output.string() + ".convert-staging");
  const auto clean = [&](bool keep_partial) {
    staging.remove();
    std::error_code ec;
    if (comm.is_root() && !keep_partial) fs::remove(partial, ec);
  };
  try {
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < c.samples.size(); ++i)
      parts.push_back((staging.path() / fmt::format("sample-{:06d}.h5", i)).string());
    const std::string errors = staging.error_file();
    // Conversions of uneven size, then the assembly on rank 0: waits that may last
    // longer than --collective-timeout on purpose.
    dist::collectively_long(comm, [&] {
      for (std::size_t i = std::size_t(comm.rank()); i < c.samples.size(); i += std::size_t(comm.size())) {
        std::vector<std::string> argv = {tool.python, tool.script, "--error-file", errors, "convert", "--mapping",
                                         c.mapping, "--sample", c.samples[i].attributes_json, "--output", parts[i], "--step",
                                         std::to_string(c.chunk_entries), "--"};
        argv.insert(argv.end(), c.samples[i].files.begin(), c.samples[i].files.end());
        run_python_tool(argv, "the ROOT converter (uproot)", errors);
      }
    });
    dist::collectively_long(comm, [&] {
      if (!comm.is_root()) return;
      const nlohmann::json attributes = {
          {"format", "bsmhunt.events"}, {"version", 1}, {"complete", 0}, {"channel", c.channel},
          {"description", fmt::format("converted from ROOT trees by bsmhunt convert (mapping {})", c.mapping)},
          {"luminosity_ifb", c.lumi_ifb}, {"sqrt_s_GeV", 13000.0}, {"seed", 0}, {"preselection", 0},
          {"generator", "bsmhunt convert (uproot)"}, {"bsmhunt_version", BSMHUNT_VERSION},
          {"bsmhunt_build", build_id()}};
      std::vector<std::string> argv = {tool.python, tool.script, "--error-file", errors, "assemble", "--output",
                                       partial.string(), "--attributes", attributes.dump(), "--"};
      argv.insert(argv.end(), parts.begin(), parts.end());
      run_python_tool(argv, "the ROOT converter (uproot)", errors);
    });
    // What a later stage will check, checked now: nothing invalid gets the final name.
    const FileSummary summary = inspect_event_file(comm, partial);
    dist::collectively(comm, [&] {
      if (comm.is_root()) commit_partial(partial, output);
    });
    clean(true);
    uint64_t events = 0;
    for (const auto& s : summary.samples) events += s.info.n_events;
    log::info("convert: wrote {} ({} samples, {} events)", output.string(), summary.samples.size(), events);
  } catch (...) {
    clean(false);
    throw;
  }
  return 0;
}

}  // namespace bsmhunt::pipeline
