// INI job files: `bsmhunt run JOB.ini` reads and plans them (every stage's command
// line), and `bsmhunt <command> --config FILE` reads the command's section. Nothing
// is run: planning and option parsing are the parsers of this input.
#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/pipeline/Run.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = fuzz::input_file(data, size, ".ini");
  fuzz::expect_accept_or_refuse([&] {
    const pipeline::Job job = pipeline::read_job(path);
    for (const auto& stage : pipeline::plan_job(job, "/dev/shm/bsmhunt-fuzz-out", "quiet")) {
      boost::program_options::variables_map vm;
      fuzz::expect_accept_or_refuse([&] {
        (void)pipeline::parse_command_line(pipeline::command_named(stage.stage->kind), stage.args, vm, false);
      });
    }
  });
  for (const auto& command : pipeline::commands()) {
    boost::program_options::variables_map vm;
    fuzz::expect_accept_or_refuse(
        [&] { (void)pipeline::parse_command_line(command, {"--config", path}, vm, false); });
  }
  return 0;
}
