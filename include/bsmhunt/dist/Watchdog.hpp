#pragma once
// A bound on how long a rank waits in a collective (issue #19: never be the job that
// hangs until the batch system kills it hours later). Every blocking collective of
// Communicator marks this rank as waiting; a watchdog thread aborts the whole job
// (MPI_Abort, exit code 124) when one wait lasts longer than the timeout, after
// printing which stage, which collective and how long. A rank that throws never needs
// it (main aborts the job on a rank-local error); it is for a rank that hangs or
// crawls: a dead file system, a stuck device, an infinite loop.
//
// Parallel HDF5's own collectives are timed where bsmhunt marks them: the creation
// and writes of spooled datasets (io/OrderedSpool.cpp) and the flush before a
// file's close. Not covered: the other calls into parallel HDF5 (H5Fcreate,
// H5Fclose, attribute writes) and Communicator::sleeping_barrier (ranks waiting on
// purpose for rank 0's single-process task).
#include <cstdint>
#include <string>

namespace bsmhunt::dist {

// Exit code of a job aborted by the watchdog (as timeout(1) uses).
inline constexpr int kCollectiveTimeoutExit = 124;

// Sets the timeout (seconds; <= 0 turns the watchdog off) and the stage named in its
// message; starts the watchdog thread with more than one rank (with one, the first
// WatchedRead does). Not collective; call it on every
// rank with the same values (the command line does, for every command).
void watch_collectives(double timeout_seconds, const std::string& stage);

// Stops and joins the watchdog thread (Environment's destructor, before MPI_Finalize).
void stop_watching_collectives();

// Marks this rank as waiting in the collective `what` for its lifetime (nested
// marks restore the outer one).
//
// Fault injection for tests: with BSMHUNT_INJECT_FAULT=RANK:N in the environment, rank
// RANK throws bsmhunt::Error instead of entering its N-th blocking collective (counted
// from 1), as a rank-local failure at an arbitrary point of any stage would.
// A blocking collective the watchdog does not time (Communicator::sleeping_barrier):
// counted for BSMHUNT_INJECT_FAULT like the others, so a fault can be injected there.
void enter_unwatched_collective(const char* what);

class CollectiveWait {
 public:
  explicit CollectiveWait(const char* what);
  ~CollectiveWait();
  CollectiveWait(const CollectiveWait&) = delete;
  CollectiveWait& operator=(const CollectiveWait&) = delete;

 private:
  int64_t outer_since_;
  const char* outer_what_;
};

// Marks this rank as reading `what` (e.g. "FILE:/samples/x: attribute 'role'") for its
// lifetime: the watchdog ends the job (exit 124) when one read lasts longer than the
// timeout, naming what it read. For reads that HDF5 1.10 can turn into an endless loop
// on a damaged file (variable-length strings from the global heap); also with one rank.
// Nested reads keep the outer one's clock.
class WatchedRead {
 public:
  explicit WatchedRead(const std::string& what);
  ~WatchedRead();
  WatchedRead(const WatchedRead&) = delete;
  WatchedRead& operator=(const WatchedRead&) = delete;

 private:
  bool active_ = false;
};

}  // namespace bsmhunt::dist
