#include "PythonTool.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"

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
