#pragma once
#include <filesystem>
#include <string>

namespace bsmhunt::test {

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command and captures its output.
CommandResult run_command(const std::string& command);
// "mpirun -n N --oversubscribe [--allow-run-as-root] <bsmhunt>": prefix for `bsmhunt` under N ranks.
std::string bsmhunt_command(int ranks = 1);
// /usr/bin/python3 (Debian's, which has h5py, pandas, numpy) or "python3".
std::string system_python();
std::string source_dir();
bool contains(const std::string& text, const std::string& part);
// The whole file as bytes ("" if it cannot be read).
std::string read_file(const std::filesystem::path& path);
// Writes DIR/NAME.py (numpy as np, h5py, json, sys and math imported, then `script`)
// and returns the command line that runs it with system_python().
std::string python_script(const std::filesystem::path& dir, const std::string& name, const std::string& script);

}  // namespace bsmhunt::test
