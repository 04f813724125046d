#include "bsmhunt/dist/Watchdog.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstdio>
#include <mutex>
#include <thread>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/RemovedOnAbort.hpp"

namespace bsmhunt::dist {
namespace {

using Clock = std::chrono::steady_clock;

struct Watch {
  std::atomic<int64_t> waiting_since{0};  // Clock ticks when this rank entered a collective; 0: not waiting
  std::atomic<const char*> what{""};
  std::atomic<double> timeout{0};
  std::atomic<int64_t> reading_since{0};  // Clock ticks when this rank began a watched read; 0: none
  std::mutex mutex;  // guards stage, reading, stop and the thread
  std::string reading;  // what the watched read reads
  std::condition_variable wake;
  std::string stage;
  bool stop = false;
  std::thread thread;
  ~Watch() {  // a std::exit() with the thread still running
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    wake.notify_all();
    if (thread.joinable()) thread.join();
  }
};

Watch& watch() {
  static Watch w;
  return w;
}

// "STAGE: rank R of N" for the watchdog's messages.
std::string who(Watch& w) {
  std::string stage;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    stage = w.stage;
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return fmt::format("{}: rank {} of {}", stage, rank, size);
}

// Prints `message` and ends every rank with kCollectiveTimeoutExit, after `grace` for
// the other ranks to print theirs.
[[noreturn]] void end_job(const std::string& message, std::chrono::seconds grace) {
  log::error("{}", message);
  std::fflush(stderr);
  std::fflush(stdout);
  std::this_thread::sleep_for(grace);
  remove_files_registered_for_abort();
  MPI_Abort(MPI_COMM_WORLD, kCollectiveTimeoutExit);
  std::_Exit(kCollectiveTimeoutExit);
}

[[noreturn]] void abort_job(Watch& w, double waited) {
  // A moment for the other waiting ranks to report too.
  end_job(fmt::format("{} has waited {:.0f} s in {} for the other ranks (--collective-timeout {:.0f}); a rank that "
                      "does not arrive is hung or far behind (ranks printing this message are the ones waiting). "
                      "Aborting the job.",
                      who(w), waited, w.what.load(), w.timeout.load()),
          std::chrono::seconds(2));
}

[[noreturn]] void abort_read(Watch& w, double waited) {
  std::string reading;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    reading = w.reading;
  }
  end_job(fmt::format("{} has spent {:.0f} s reading {} (--collective-timeout {:.0f}); HDF5 1.10 loops forever on "
                      "some damaged files (a damaged global heap of variable-length strings), and a file system that "
                      "stopped answering blocks as long: check the file (h5dump) or write it again. Aborting the job.",
                      who(w), waited, reading, w.timeout.load()),
          std::chrono::seconds(0));
}

double seconds_since(int64_t since) {
  return std::chrono::duration<double>(Clock::now().time_since_epoch() - Clock::duration(since)).count();
}

void run_watchdog() {
  Watch& w = watch();
  std::unique_lock<std::mutex> lock(w.mutex);
  while (!w.stop) {
    const double timeout = w.timeout.load();
    const auto period = std::chrono::duration<double>(timeout > 0 ? std::min(1.0, timeout / 4) : 1.0);
    w.wake.wait_for(lock, period);
    if (w.stop || !(timeout > 0)) continue;
    if (const int64_t since = w.waiting_since.load(); since != 0 && seconds_since(since) > timeout) {
      lock.unlock();
      abort_job(w, seconds_since(since));
    }
    if (const int64_t since = w.reading_since.load(); since != 0 && seconds_since(since) > timeout) {
      lock.unlock();
      abort_read(w, seconds_since(since));
    }
  }
}

}  // namespace

void watch_collectives(double timeout_seconds, const std::string& stage) {
  Watch& w = watch();
  std::lock_guard<std::mutex> lock(w.mutex);
  w.stage = stage;
  w.timeout.store(timeout_seconds > 0 ? timeout_seconds : 0);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);  // one rank never waits for another (its first WatchedRead starts it)
  if (timeout_seconds > 0 && size > 1 && !w.thread.joinable() && !w.stop) w.thread = std::thread(run_watchdog);
}

void stop_watching_collectives() {
  Watch& w = watch();
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    w.stop = true;
  }
  w.wake.notify_all();
  if (w.thread.joinable()) w.thread.join();
}

namespace {

struct InjectedFault {
  int rank = -1;
  uint64_t at = 0;  // 1-based index of the collective
};

InjectedFault injected_fault() {
  InjectedFault f;
  if (const char* spec = std::getenv("BSMHUNT_INJECT_FAULT")) {
    unsigned long long at = 0;
    if (std::sscanf(spec, "%d:%llu", &f.rank, &at) != 2) f.rank = -1;
    f.at = at;
  }
  return f;
}

void maybe_inject_fault(const char* what) {
  static const InjectedFault fault = injected_fault();
  static std::atomic<uint64_t> count{0};
  if (fault.rank < 0) return;
  const uint64_t n = ++count;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == fault.rank && n == fault.at) {
    const std::string message =
        fmt::format("fault injected on rank {} before its collective #{} ({}) (BSMHUNT_INJECT_FAULT)", rank, n, what);
    log::error("{}", message);  // now: unwinding may end in the watchdog's abort before main prints it
    throw Error(message);
  }
}

}  // namespace

void enter_unwatched_collective(const char* what) { maybe_inject_fault(what); }

CollectiveWait::CollectiveWait(const char* what)
    : outer_since_(watch().waiting_since.load()), outer_what_(watch().what.load()) {
  if (outer_since_ != 0) return;  // nested: the outer wait's clock keeps running
  maybe_inject_fault(what);
  Watch& w = watch();
  w.what.store(what);
  w.waiting_since.store(std::max<int64_t>(1, Clock::now().time_since_epoch().count()));
}

CollectiveWait::~CollectiveWait() {
  Watch& w = watch();
  w.what.store(outer_what_);
  w.waiting_since.store(outer_since_);
}

WatchedRead::WatchedRead(const std::string& what) {
  Watch& w = watch();
  if (!(w.timeout.load() > 0) || w.reading_since.load() != 0) return;  // off, or nested in another
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    w.reading = what;
    if (!w.thread.joinable() && !w.stop) w.thread = std::thread(run_watchdog);  // one rank: not started before
  }
  w.reading_since.store(std::max<int64_t>(1, Clock::now().time_since_epoch().count()));
  active_ = true;
}

WatchedRead::~WatchedRead() {
  if (active_) watch().reading_since.store(0);
}

}  // namespace bsmhunt::dist
