// What a job aborted by MPI_Abort must not leave behind: a writer's registered
// temporary files are removed by the aborting rank only while they are registered,
// and they stay registered when the writer is left by an exception.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "bsmhunt/dist/RemovedOnAbort.hpp"

using namespace bsmhunt;
namespace fs = std::filesystem;

namespace {
fs::path touched(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("bsmhunt-removed-on-abort-" + std::to_string(getpid()) + "-" + name);
  std::ofstream(p) << "x";
  return p;
}
}  // namespace

TEST(RemovedOnAbort, RemovesOnlyWhatIsRegisteredNow) {
  const fs::path kept = touched("kept"), written = touched("written");
  { const dist::RemovedOnAbort finished({kept.string()}); }  // left normally: forgotten
  const dist::RemovedOnAbort writing({written.string(), written.string() + ".absent"});
  dist::remove_files_registered_for_abort();
  EXPECT_TRUE(fs::exists(kept));
  EXPECT_FALSE(fs::exists(written));
  fs::remove(kept);
}

TEST(RemovedOnAbort, StaysRegisteredWhenLeftByAnException) {
  const fs::path partial = touched("partial");
  try {
    const dist::RemovedOnAbort writing({partial.string()});
    throw std::runtime_error("disk full");
  } catch (const std::runtime_error&) {
  }
  ASSERT_TRUE(fs::exists(partial));
  dist::remove_files_registered_for_abort();  // as main's abort would
  EXPECT_FALSE(fs::exists(partial));
}
