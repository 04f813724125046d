#pragma once
// Files a job must not leave behind when it is aborted. MPI_Abort ends every rank
// without unwinding, so a writer's own cleanup (removing its .partial file and its
// spools) never runs on the ranks that are killed; the rank that aborts the job
// (main's error path, the collective watchdog) removes every registered file first.
// A writer registers the names of all ranks' temporary files, not only its own: the
// rank that aborts may be any of them.
#include <string>
#include <vector>

namespace bsmhunt::dist {

class RemovedOnAbort {
 public:
  explicit RemovedOnAbort(std::vector<std::string> paths);
  // Left normally: forgets the paths, removes nothing. Left by an exception (on its
  // way to main, which may abort the job): the paths stay registered.
  ~RemovedOnAbort();
  RemovedOnAbort(const RemovedOnAbort&) = delete;
  RemovedOnAbort& operator=(const RemovedOnAbort&) = delete;

 private:
  std::vector<std::string> paths_;
  int exceptions_;
};

// Removes every file registered now (missing ones are skipped). Called just before
// MPI_Abort; safe from any thread.
void remove_files_registered_for_abort() noexcept;

}  // namespace bsmhunt::dist
