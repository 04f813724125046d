#include "bsmhunt/core/Log.hpp"

#include <cstdio>
#include <mutex>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::log {
namespace {
Level g_level = Level::info;
int g_rank = 0;
std::mutex g_mutex;
}  // namespace

Level parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "quiet") return Level::quiet;
  throw InputError(fmt::format("--log-level: '{}' is not one of debug, info, warn, error, quiet", name));
}
void set_level(Level l) { g_level = l; }
Level level() { return g_level; }
void set_rank(int r) { g_rank = r; }
int rank() { return g_rank; }

void write(Level l, std::string_view message) {
  if (l < g_level) return;
  const bool everyone = l >= Level::warn;
  if (!everyone && g_rank != 0) return;
  std::lock_guard lock(g_mutex);
  FILE* out = l >= Level::warn ? stderr : stdout;
  const char* tag = l == Level::debug ? "debug: " : l == Level::warn ? "warning: " : l == Level::error ? "error: " : "";
  // Messages quote names and attributes read from files: a damaged file's bytes are
  // escaped, not sent to the terminal (or a UTF-8 log reader) raw.
  const std::string text = printable(message);
  if (everyone && g_rank != 0)
    fmt::print(out, "[rank {}] {}{}\n", g_rank, tag, text);
  else
    fmt::print(out, "{}{}\n", tag, text);
  std::fflush(out);
}

}  // namespace bsmhunt::log
