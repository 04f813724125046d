#pragma once
// SIGTERM / SIGUSR1 (Slurm preemption, `--signal=USR1@120`) ask a long stage to
// write a checkpoint at the next safe point and leave with kInterruptedExitCode.
#include <csignal>

namespace bsmhunt::pipeline {

// Installs the handlers for its lifetime (the previous ones are restored after).
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static bool requested();
  static int signal();

 private:
  struct sigaction old_term_ {}, old_usr1_ {};
};

}  // namespace bsmhunt::pipeline
