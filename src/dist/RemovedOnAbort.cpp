#include "bsmhunt/dist/RemovedOnAbort.hpp"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <mutex>

namespace bsmhunt::dist {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::string> paths;  // a multiset: two writers may name one file
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

RemovedOnAbort::RemovedOnAbort(std::vector<std::string> paths)
    : paths_(std::move(paths)), exceptions_(std::uncaught_exceptions()) {
  auto& r = registry();
  const std::lock_guard lock(r.mutex);
  r.paths.insert(r.paths.end(), paths_.begin(), paths_.end());
}

RemovedOnAbort::~RemovedOnAbort() {
  if (std::uncaught_exceptions() > exceptions_) return;
  auto& r = registry();
  const std::lock_guard lock(r.mutex);
  for (const auto& p : paths_) {
    const auto it = std::find(r.paths.begin(), r.paths.end(), p);
    if (it != r.paths.end()) r.paths.erase(it);
  }
}

void remove_files_registered_for_abort() noexcept {
  auto& r = registry();
  // The watchdog may fire while this thread holds the lock; never wait for it then.
  std::unique_lock lock(r.mutex, std::try_to_lock);
  if (!lock.owns_lock()) return;
  for (const auto& p : r.paths) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
  }
}

}  // namespace bsmhunt::dist
