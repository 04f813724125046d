// A job in which one rank hangs before a collective, for the collective-timeout test
// (tests/dist/collective_timeout_test.py): the watchdog of dist/Watchdog.hpp must end
// every rank within the timeout plus a few seconds, with a message on the waiting ranks.
// With `read`, the hung rank hangs inside a watched read of a file instead (as HDF5 1.10
// does on some damaged files): the watchdog must end the job, with one rank too.
// Usage: collective_timeout_probe TIMEOUT_S HUNG_RANK HANG_S [read]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/dist/Watchdog.hpp"

int main(int argc, char** argv) {
  bsmhunt::dist::Environment env(argc, argv);
  if (argc != 4 && !(argc == 5 && std::string(argv[4]) == "read")) {
    std::fprintf(stderr, "usage: collective_timeout_probe TIMEOUT_S HUNG_RANK HANG_S [read]\n");
    return 2;
  }
  const double timeout = std::atof(argv[1]), hang = std::atof(argv[3]);
  const int hung_rank = std::atoi(argv[2]);
  const auto comm = bsmhunt::dist::Communicator::world();
  bsmhunt::dist::watch_collectives(timeout, "probe stage");
  if (comm.rank() == hung_rank) {
    if (argc == 5) {
      const bsmhunt::dist::WatchedRead read("probe.h5:/: attribute 'format'");
      std::this_thread::sleep_for(std::chrono::duration<double>(hang));
    } else {
      std::this_thread::sleep_for(std::chrono::duration<double>(hang));
    }
  }
  const uint64_t n = comm.sum(uint64_t(1));
  if (comm.is_root()) std::printf("all %llu ranks arrived\n", static_cast<unsigned long long>(n));
  return 0;
}
