#include "PythonTool.hpp"

#include <fcntl.h>
#include <glob.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
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

namespace {

// The executable `name` names, as execvp would find it (resolved before fork: the
// child only execs).
std::string resolve_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  for (const auto& dir : split(path && *path ? path : "/usr/local/bin:/usr/bin:/bin", ':')) {
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// The wait status of child `pid`, once it has ended (a signal to this rank while it
// waits does not end the wait).
int wait_for_child(pid_t pid) {
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  return ws;
}

// Starts argv as a child that dies with this process. A rank killed by kill -9, the
// OOM killer or mpirun aborting the job must not leave its report script or ROOT
// converter running: it would go on writing the stage's outputs after the job ended,
// into the directory a rerun of the stage is writing (seen with the report, which
// wrote index.html seconds after its rank was killed). fork is safe in an MPI rank
// here: the child touches none of the parent's memory and only execs (what Open MPI
// warns about is a child that goes on using registered memory). Returns the child's pid.
pid_t spawn_bound_to_this_process(std::vector<std::string> argv, const std::string& what) {
  const std::string executable = resolve_executable(argv[0]);
  if (executable.empty())
    throw InputError(fmt::format("cannot start {} for {}: not found on PATH (--python)", argv[0], what));
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int exec_error[2];  // the child's errno if its exec fails; closed by a successful exec
  if (::pipe2(exec_error, O_CLOEXEC) != 0)
    throw Error(fmt::format("cannot start {} for {}: {}", argv[0], what, std::strerror(errno)));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // the child: async-signal-safe calls only, then exec
    ::close(exec_error[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::execve(executable.c_str(), cargv.data(), environ);
    const int e = errno;
    [[maybe_unused]] const auto ignored = ::write(exec_error[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(exec_error[1]);
  if (pid < 0) {
    const int e = errno;
    ::close(exec_error[0]);
    throw Error(fmt::format("cannot start {} for {}: {}", argv[0], what, std::strerror(e)));
  }
  int e = 0;
  ssize_t got = 0;
  while ((got = ::read(exec_error[0], &e, sizeof e)) < 0 && errno == EINTR) {
  }
  ::close(exec_error[0]);
  if (got == static_cast<ssize_t>(sizeof e)) {
    wait_for_child(pid);
    throw InputError(fmt::format("cannot start {} for {}: {} (--python)", executable, what, std::strerror(e)));
  }
  return pid;
}

}  // namespace

void run_python_tool(const std::vector<std::string>& argv, const std::string& what, const std::string& error_file) {
  if (!error_file.empty()) std::filesystem::remove(error_file);
  const int ws = wait_for_child(spawn_bound_to_this_process(argv, what));
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
