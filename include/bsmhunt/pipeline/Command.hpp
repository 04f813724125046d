#pragma once
// A command of the bsmhunt executable = an options file (add_<command>_options and
// <command>_config_from, returning the command's Config) + a driver
// run_<command>(comm, config) that reads as the stage's steps (docs/architecture.md).
#include <boost/program_options.hpp>
#include <functional>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Options.hpp"

namespace bsmhunt::pipeline {

// Every key of an INI file, unchecked (the caller knows the sections); InputError
// "<where>: <what went wrong>" when the file cannot be opened or parsed.
po::parsed_options read_ini_file(const std::string& path, const std::string& where, const std::string& cannot_open);

// A subcommand of the bsmhunt executable (a pipeline stage or a tool).
struct Command {
  std::string name;
  std::string summary;  // one line for `bsmhunt --help`
  std::string usage;    // e.g. "bsmhunt generate --channel NAME --output FILE [options]"
  // Adds the command's own options (with defaults, shown by --help).
  std::function<void(po::options_description&)> add_options;
  // Name of a positional argument ("" for none), e.g. "input" for `inspect FILE`.
  std::string positional;
  // Maps the parsed options to the command's Config and runs its driver.
  std::function<int(const po::variables_map&, const dist::Communicator&)> run;
};

// The Command of an options file and a driver.
template <typename Config>
Command make_command(std::string name, std::string summary, std::string usage, std::string positional,
                     void (*add_options)(po::options_description&), Config (*config_from)(const po::variables_map&),
                     int (*run)(const dist::Communicator&, const Config&)) {
  return Command{std::move(name), std::move(summary), std::move(usage), add_options, std::move(positional),
                 [config_from, run](const po::variables_map& vm, const dist::Communicator& comm) {
                   return run(comm, config_from(vm));
                 }};
}

const std::vector<Command>& commands();
// The command called `name`; InternalError if there is none.
const Command& command_named(const std::string& name);

// Every INI section name bsmhunt knows (a job file may hold sections for stages
// that are not run now).
std::vector<std::string> known_sections();

// Parses `args` (after the subcommand name) for `command`: command line first,
// then `--config FILE`'s [name] section (the command line wins). Unknown options
// and keys are InputErrors that name them and suggest the closest valid one.
// Returns false if help was printed instead.
bool parse_command_line(const Command& command, const std::vector<std::string>& args, po::variables_map& vm,
                        bool print_help);

// Entry point of the executable: dispatches argv to a command; returns the exit code.
int main_dispatch(int argc, char** argv);

}  // namespace bsmhunt::pipeline
