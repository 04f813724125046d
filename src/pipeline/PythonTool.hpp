#pragma once
// Private to pipeline: running the Python helpers bsmhunt leaves to the libraries
// physicists trust (matplotlib for the report, uproot for ROOT files).
#include <filesystem>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

// The interpreter for the uproot helper: `option` unless it is "auto", then
// $BSMHUNT_PYTHON, the repository's .venv (made by tools/setup) when it exists, or python3.
std::string interop_python(const std::string& option);
// The uproot helper script: `option` unless "auto", then $BSMHUNT_INTEROP_SCRIPT or
// tools/interop/bsmhunt_root.py of the source tree; InputError when it is missing.
std::string interop_script(const std::string& option);

// The interpreter and script of the uproot helper, resolved on every rank
// (collective: a rank where the script is missing fails them all).
struct InteropTool {
  std::string python, script;
};
InteropTool resolve_interop_tool(const dist::Communicator& comm, const std::string& python_option,
                                 const std::string& script_option);

// A helper's working directory beside an output: made afresh on construction
// (removing one a killed run left) and removed by remove(); both collective.
class StagingDirectory {
 public:
  StagingDirectory(const dist::Communicator& comm, std::filesystem::path path);
  const std::filesystem::path& path() const { return path_; }
  // Where this rank's helper writes its one-line error.
  std::string error_file() const;
  void remove();

 private:
  const dist::Communicator& comm_;
  std::filesystem::path path_;
};

// --python and --interop-script of the commands that read or write ROOT files;
// `extra_modules` says what the interpreter needs besides uproot.
void add_interop_options(po::options_description& options, const std::string& extra_modules = "");

// Comma-separated files or glob patterns -> the files, in that order (each pattern's
// matches sorted). InputError naming `where` for a pattern matching nothing, a file
// given twice, or no file at all.
std::vector<std::string> expand_file_patterns(const std::string& list, const std::string& where);

// Runs argv (argv[0] found on PATH) and waits. A helper that fails writes its
// one-line message to `error_file` (when not empty): that message becomes the
// InputError; otherwise "<what> failed (exit N); see its message above".
void run_python_tool(const std::vector<std::string>& argv, const std::string& what, const std::string& error_file = "");

}  // namespace bsmhunt::pipeline
