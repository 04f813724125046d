#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace bsmhunt {

// Progress of one stage on rank 0: a redrawn bar on a terminal, plain lines every
// `interval` seconds otherwise (Slurm logs). Callers report the global work done
// (e.g. events summed over ranks); other ranks construct it silent.
class Progress {
 public:
  Progress(std::string what, uint64_t total, std::string unit, bool enabled,
           double interval_seconds = 10.0);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(uint64_t done);
  // Prints the final line with total time and mean rate. Idempotent.
  void finish();
  double elapsed_seconds() const;

 private:
  void print(bool final_line);
  std::string what_, unit_;
  uint64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  double interval_;
  std::chrono::steady_clock::time_point start_, last_print_;
};

// "12.3 M", "950 k": counts with SI prefixes for human-readable rates.
std::string si_count(double value);
// "1h02m", "3m07s", "12.4s"
std::string human_duration(double seconds);

}  // namespace bsmhunt
