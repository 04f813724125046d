#include "StopSignals.hpp"

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::pipeline {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }
}  // namespace

// A signal already caught stays pending: k-fold training nests a handler per fold
// inside one for the whole run, and a signal between two folds must stop the next.
StopSignals::StopSignals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &old_term_);
  sigaction(SIGUSR1, &sa, &old_usr1_);
}

StopSignals::~StopSignals() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGUSR1, &old_usr1_, nullptr);
}

bool StopSignals::requested() { return g_stop_signal != 0; }
int StopSignals::signal() { return g_stop_signal; }

void stop_point(const dist::Communicator& comm, const char* stage, uint64_t round, uint64_t rounds) {
  const int caught = int(comm.max(double(g_stop_signal)));
  if (caught == 0) return;
  throw Interrupted(fmt::format("{}: stopped by signal {} ({}) after {} of {} rounds; nothing was written; run the "
                                "same command again",
                                stage, caught, caught == SIGTERM ? "SIGTERM" : caught == SIGUSR1 ? "SIGUSR1" : "?",
                                round, rounds));
}

}  // namespace bsmhunt::pipeline
