#pragma once
// SIGTERM / SIGUSR1 (Slurm preemption, `--signal=USR1@120`) ask a long stage to
// stop at the next safe point and leave with kInterruptedExitCode: training writes a
// checkpoint; generate, extract and predict stop between two rounds of work items,
// leaving no output (a rerun starts the stage again).
#include <csignal>
#include <cstdint>

#include "bsmhunt/dist/Communicator.hpp"

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

// Collective, once per round of work: when any rank has caught a stop signal, every
// rank throws Interrupted naming the stage and how far it got. One all-reduce of a
// flag per round (a round is 10^5 events or more).
void stop_point(const dist::Communicator& comm, const char* stage, uint64_t round, uint64_t rounds);

}  // namespace bsmhunt::pipeline
