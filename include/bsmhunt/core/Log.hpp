#pragma once
#include <fmt/format.h>

#include <string>
#include <string_view>

namespace bsmhunt::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, quiet = 4 };

// Parses "debug|info|warn|error|quiet"; throws InputError naming the option otherwise.
Level parse_level(std::string_view name);
void set_level(Level level);
Level level();
// Rank of this process; set by dist::Environment. Info and debug lines are printed
// by rank 0 only (one copy in a Slurm log), warnings and errors by every rank with
// a "[rank N]" prefix.
void set_rank(int rank);
int rank();

void write(Level level, std::string_view message);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::debug) write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::info) write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::warn) write(Level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace bsmhunt::log
