#include "PythonTool.hpp"

#include <glob.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Collectively.hpp"

extern char** environ;

namespace bsmhunt::pipeline {

std::string interop_python(const std::string& option) {
  if (option != "auto") return option;
  if (const char* env = std::getenv("BSMHUNT_PYTHON"); env && *env) return env;
  const std::string venv = BSMHUNT_SOURCE_DIR "/.venv/bin/python";
  std::error_code ec;
  if (std::filesystem::exists(venv, ec)) return venv;
  return "python3";
}

std::string interop_script(const std::string& option) {
  std::string path = option;
  if (path == "auto") {
    const char* env = std::getenv("BSMHUNT_INTEROP_SCRIPT");
    path = env && *env ? env : BSMHUNT_SOURCE_DIR "/tools/interop/bsmhunt_root.py";
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(fmt::format("the ROOT helper script {} does not exist (--interop-script, or "
                                 "$BSMHUNT_INTEROP_SCRIPT)",
                                 path));
  return path;
}

InteropTool resolve_interop_tool(const dist::Communicator& comm, const std::string& python_option,
                                 const std::string& script_option) {
  InteropTool tool;
  dist::collectively(comm, [&] { tool = {interop_python(python_option), interop_script(script_option)}; });
  return tool;
}

StagingDirectory::StagingDirectory(const dist::Communicator& comm, std::filesystem::path path)
    : comm_(comm), path_(std::move(path)) {
  dist::collectively(comm_, [&] {
    if (!comm_.is_root()) return;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  });
}

std::string StagingDirectory::error_file() const {
  return (path_ / fmt::format("error-rank{}", comm_.rank())).string();
}

void StagingDirectory::remove() {
  comm_.barrier();
  std::error_code ignored;
  if (comm_.is_root()) std::filesystem::remove_all(path_, ignored);
}

void add_interop_options(po::options_description& d, const std::string& extra_modules) {
  d.add_options()
      ("python", po::value<std::string>()->default_value("auto"),
       fmt::format("Python with uproot{}; auto: $BSMHUNT_PYTHON, else the repository's .venv (tools/setup), else "
                   "python3", extra_modules.empty() ? "" : " and " + extra_modules).c_str())
      ("interop-script", po::value<std::string>()->default_value("auto"),
       "the uproot helper; auto: $BSMHUNT_INTEROP_SCRIPT, else tools/interop/bsmhunt_root.py");
}

std::vector<std::string> expand_file_patterns(const std::string& list, const std::string& where) {
  std::vector<std::string> files;
  for (const auto& item : split(list, ',')) {
    const std::string pattern = trim(item);
    if (pattern.empty()) continue;
    glob_t matches{};
    const int status = glob(pattern.c_str(), 0, nullptr, &matches);
    const std::size_t n = status == 0 ? matches.gl_pathc : 0;
    for (std::size_t i = 0; i < n; ++i) files.emplace_back(matches.gl_pathv[i]);
    globfree(&matches);
    if (n == 0) throw InputError(fmt::format("{}: no file matches '{}'", where, pattern));
  }
  if (files.empty()) throw InputError(fmt::format("{}: no file given", where));
  std::vector<std::string> sorted = files;
  std::sort(sorted.begin(), sorted.end());
  if (const auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end())
    throw InputError(fmt::format("{}: {} is given twice", where, *dup));
  return files;
}

void run_python_tool(const std::vector<std::string>& argv, const std::string& what, const std::string& error_file) {
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  if (!error_file.empty()) std::filesystem::remove(error_file);
  pid_t pid = 0;
  if (posix_spawnp(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ) != 0)
    throw InputError(fmt::format("cannot start {} for {} (--python)", argv[0], what));
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  const int status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  if (status == 0) return;
  if (!error_file.empty()) {
    std::ifstream in(error_file);
    std::stringstream message;
    message << in.rdbuf();
    std::filesystem::remove(error_file);
    if (!message.str().empty()) throw InputError(message.str());
  }
  throw InputError(fmt::format("{} failed (exit {}); see its message above", what, status));
}

}  // namespace bsmhunt::pipeline
