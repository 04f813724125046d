#include "bsmhunt/core/Progress.hpp"

#include "bsmhunt/core/Log.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace bsmhunt {

std::string si_count(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:.2f} G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:.2f} M", v / 1e6);
  if (a >= 1e3) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.0f} ", v);
}

std::string human_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) return fmt::format("{:.1f}s", s);
  const long t = std::lround(s);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

namespace {
// A redrawn bar only on an interactive terminal. Open MPI hands ranks a
// pseudo-terminal even when mpirun's output goes to a file or a Slurm log, so
// under a launcher plain lines are the default; BSMHUNT_PROGRESS=bar|lines|off
// overrides.
bool use_bar() {
  if (const char* mode = std::getenv("BSMHUNT_PROGRESS")) return std::string_view(mode) == "bar";
  for (const char* launcher : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (std::getenv(launcher)) return false;
  return isatty(STDOUT_FILENO);
}
bool progress_off() {
  const char* mode = std::getenv("BSMHUNT_PROGRESS");
  return mode && std::string_view(mode) == "off";
}
}  // namespace

Progress::Progress(std::string what, uint64_t total, std::string unit, bool enabled, double interval)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled && log::level() <= log::Level::info && !progress_off()),
      tty_(enabled_ && use_bar()),
      interval_(tty_ ? 0.25 : interval),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() {
  if (tty_ && !finished_ && done_ > 0) std::fputc('\n', stdout);
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_print_).count() < interval_) return;
  last_print_ = now;
  print(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) print(true);
}

void Progress::print(bool final_line) {
  const double t = elapsed_seconds();
  const double rate = t > 0 ? double(done_) / t : 0.0;
  const double frac = total_ ? double(done_) / double(total_) : 1.0;
  if (final_line) {
    fmt::print("{}{}: {}{} in {} ({}{}/s)\n", tty_ ? "\r\033[K" : "", what_, si_count(double(done_)), unit_,
               human_duration(t), si_count(rate), unit_);
  } else {
    const double eta = rate > 0 ? double(total_ - std::min(done_, total_)) / rate : NAN;
    if (tty_) {
      const int width = 30, filled = int(frac * width);
      fmt::print("\r\033[K{}: [{}{}] {:5.1f}% {}{}/s ETA {}", what_, std::string(filled, '#'),
                 std::string(width - filled, '.'), 100 * frac, si_count(rate), unit_, human_duration(eta));
    } else {
      fmt::print("{}: {:5.1f}% ({} / {}{}) {}{}/s, elapsed {}, ETA {}\n", what_, 100 * frac,
                 si_count(double(done_)), si_count(double(total_)), unit_, si_count(rate), unit_,
                 human_duration(t), human_duration(eta));
    }
  }
  std::fflush(stdout);
}

}  // namespace bsmhunt
