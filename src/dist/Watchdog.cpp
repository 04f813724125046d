#include "bsmhunt/dist/Watchdog.hpp"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "bsmhunt/core/Log.hpp"

namespace bsmhunt::dist {
namespace {

using Clock = std::chrono::steady_clock;

struct Watch {
  std::atomic<int64_t> waiting_since{0};  // Clock ticks when this rank entered a collective; 0: not waiting
  std::atomic<const char*> what{""};
  std::atomic<double> timeout{0};
  std::mutex mutex;  // guards stage, stop and the thread
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

[[noreturn]] void abort_job(Watch& w, double waited) {
  std::string stage;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    stage = w.stage;
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  log::error("{}: rank {} of {} has waited {:.0f} s in {} for the other ranks (--collective-timeout {:.0f}); a rank "
             "that does not arrive is hung or far behind (ranks printing this message are the ones waiting). "
             "Aborting the job.",
             stage, rank, size, waited, w.what.load(), w.timeout.load());
  std::fflush(stderr);
  std::fflush(stdout);
  // A moment for the other waiting ranks to report too, then end every rank.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  MPI_Abort(MPI_COMM_WORLD, kCollectiveTimeoutExit);
  std::_Exit(kCollectiveTimeoutExit);
}

void run_watchdog() {
  Watch& w = watch();
  std::unique_lock<std::mutex> lock(w.mutex);
  while (!w.stop) {
    const double timeout = w.timeout.load();
    const auto period = std::chrono::duration<double>(timeout > 0 ? std::min(1.0, timeout / 4) : 1.0);
    w.wake.wait_for(lock, period);
    if (w.stop || !(timeout > 0)) continue;
    const int64_t since = w.waiting_since.load();
    if (since == 0) continue;
    const double waited = std::chrono::duration<double>(Clock::now().time_since_epoch() -
                                                        Clock::duration(since)).count();
    if (waited > timeout) {
      lock.unlock();
      abort_job(w, waited);
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
  MPI_Comm_size(MPI_COMM_WORLD, &size);  // one rank never waits for another
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

CollectiveWait::CollectiveWait(const char* what) noexcept
    : outer_since_(watch().waiting_since.load()), outer_what_(watch().what.load()) {
  if (outer_since_ != 0) return;  // nested: the outer wait's clock keeps running
  Watch& w = watch();
  w.what.store(what);
  w.waiting_since.store(std::max<int64_t>(1, Clock::now().time_since_epoch().count()));
}

CollectiveWait::~CollectiveWait() {
  Watch& w = watch();
  w.what.store(outer_what_);
  w.waiting_since.store(outer_since_);
}

}  // namespace bsmhunt::dist
