#include "support/TestFiles.hpp"

#include <unistd.h>

#include <array>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <random>

namespace bsmhunt::test {

TempDir::TempDir(const std::string& tag) {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("bsmhunt-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string bsmhunt_command(int ranks) {
  std::string root = geteuid() == 0 ? " --allow-run-as-root" : "";
  return "mpirun -n " + std::to_string(ranks) + " --oversubscribe" + root + " " + BSMHUNT_BINARY;
}

std::string system_python() {
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

std::string source_dir() { return BSMHUNT_SOURCE_DIR; }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string python_script(const std::filesystem::path& dir, const std::string& name, const std::string& script) {
  const std::filesystem::path path = dir / (name + ".py");
  std::ofstream(path) << "import numpy as np, h5py, json, sys, math\n" << script;
  return system_python() + " " + path.string();
}

}  // namespace bsmhunt::test
